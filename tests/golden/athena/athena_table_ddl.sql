CREATE TABLE IF NOT EXISTS shop.orders (
  id int,
  customer_id decimal(20,0),
  total decimal(12,2),
  placed_at timestamp,
  note string,
  tags array<string>,
  payload string,
  photo binary,
  `_cdc_order` string,
  `_cdc_ts` timestamp
)
LOCATION 's3://lake/master/shop/orders/'
TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='snappy');
