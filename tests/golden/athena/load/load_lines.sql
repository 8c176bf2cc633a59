DROP TABLE IF EXISTS cdc_lake.load_export__app__lines;

CREATE EXTERNAL TABLE cdc_lake.load_export__app__lines (
  order_id int,
  sku string,
  qty bigint
)
STORED AS PARQUET
LOCATION 's3://exports/aurora-export-20261123/app/app.lines/';

CREATE TABLE IF NOT EXISTS app.lines (
  order_id int,
  sku string,
  qty bigint,
  `_cdc_order` string,
  `_cdc_ts` timestamp
)
LOCATION 's3://lake/master/app/lines/'
TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='snappy');

DELETE FROM app.lines;

INSERT INTO app.lines (order_id, sku, qty, _cdc_order, _cdc_ts)
SELECT
  CAST(order_id AS INTEGER) AS order_id,
  CAST(sku AS VARCHAR) AS sku,
  CAST(qty AS BIGINT) AS qty,
  '0000000042:00000000000000001875:0000000000' AS _cdc_order,
  TIMESTAMP '2026-11-23 10:15:00.123456' AS _cdc_ts
FROM cdc_lake.load_export__app__lines;

MERGE INTO cdc_lake.watermarks AS w
USING (
  SELECT 'app' AS "database", 'lines' AS "table", CAST(NULL AS TIMESTAMP(6)) AS files_since, '0000000042:00000000000000001875:0000000000' AS max_order, '0000000042:00000000000000001875:0000000000' AS floor_order, '["order_id", "sku"]' AS primary_key
) AS c
ON w."database" = c."database" AND w."table" = c."table"
WHEN MATCHED THEN UPDATE SET files_since = c.files_since, max_order = c.max_order, floor_order = c.floor_order, primary_key = c.primary_key, merged_at = CAST(current_timestamp AS TIMESTAMP(6))
WHEN NOT MATCHED THEN INSERT ("database", "table", files_since, max_order, floor_order, primary_key, merged_at) VALUES (c."database", c."table", c.files_since, c.max_order, c.floor_order, c.primary_key, CAST(current_timestamp AS TIMESTAMP(6)));

DELETE FROM cdc_lake.tombstones WHERE "database" = 'app' AND "table" = 'lines';

DROP TABLE IF EXISTS cdc_lake.load_export__app__lines;
