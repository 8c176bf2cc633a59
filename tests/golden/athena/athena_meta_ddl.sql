CREATE DATABASE IF NOT EXISTS cdc_lake;

CREATE TABLE IF NOT EXISTS cdc_lake.tombstones (`database` string, `table` string, `key` string, `_cdc_order` string)
LOCATION 's3://lake/meta/tombstones/'
TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet');

CREATE TABLE IF NOT EXISTS cdc_lake.watermarks (`database` string, `table` string, files_since timestamp, max_order string, primary_key string, merged_at timestamp, floor_order string)
LOCATION 's3://lake/meta/watermarks/'
TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet');
