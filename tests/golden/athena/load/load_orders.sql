DROP TABLE IF EXISTS cdc_lake.load_export__app__orders;

CREATE EXTERNAL TABLE cdc_lake.load_export__app__orders (
  id int,
  tiny int,
  small_u int,
  int_u bigint,
  big bigint,
  big_u decimal(20,0),
  price decimal(10,2),
  wide string,
  ratio float,
  score double,
  flags binary,
  mask binary,
  `day` string,
  moment string,
  created timestamp,
  updated timestamp,
  code binary,
  name string,
  body string,
  kind string,
  tags string,
  doc string,
  raw binary,
  yr int,
  geom binary
)
STORED AS PARQUET
LOCATION 's3://exports/aurora-export-20261123/app/app.orders/';

CREATE TABLE IF NOT EXISTS app.orders (
  id int,
  tiny int,
  small_u int,
  int_u bigint,
  big bigint,
  big_u decimal(20,0),
  price decimal(10,2),
  wide string,
  ratio float,
  score double,
  flags bigint,
  mask decimal(20,0),
  `day` date,
  moment string,
  created timestamp,
  updated timestamp,
  code string,
  name string,
  body string,
  kind string,
  tags array<string>,
  doc string,
  raw binary,
  yr int,
  geom string,
  `_cdc_order` string,
  `_cdc_ts` timestamp
)
LOCATION 's3://lake/master/app/orders/'
TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='snappy');

DELETE FROM app.orders;

INSERT INTO app.orders (id, tiny, small_u, int_u, big, big_u, price, wide, ratio, score, flags, mask, "day", moment, created, updated, code, name, body, kind, tags, doc, raw, yr, geom, _cdc_order, _cdc_ts)
SELECT
  CAST(id AS INTEGER) AS id,
  CAST(tiny AS INTEGER) AS tiny,
  CAST(small_u AS INTEGER) AS small_u,
  CAST(int_u AS BIGINT) AS int_u,
  CAST(big AS BIGINT) AS big,
  CAST(big_u AS DECIMAL(20, 0)) AS big_u,
  CAST(price AS DECIMAL(10, 2)) AS price,
  CAST(wide AS VARCHAR) AS wide,
  CAST(ratio AS REAL) AS ratio,
  CAST(score AS DOUBLE) AS score,
  from_big_endian_64(lpad(flags, 8, X'00')) AS flags,
  CAST(CAST(from_big_endian_64(lpad(mask, 8, X'00')) AS DECIMAL(20, 0)) + CASE WHEN from_big_endian_64(lpad(mask, 8, X'00')) < 0 THEN DECIMAL '18446744073709551616' ELSE DECIMAL '0' END AS DECIMAL(20, 0)) AS mask,
  TRY_CAST("day" AS DATE) AS "day",
  CAST(moment AS VARCHAR) AS moment,
  CAST(created AS TIMESTAMP(6)) AS created,
  CAST(updated AS TIMESTAMP(6)) AS updated,
  from_utf8(code) AS code,
  CAST(name AS VARCHAR) AS name,
  CAST(body AS VARCHAR) AS body,
  CAST(kind AS VARCHAR) AS kind,
  CASE WHEN tags = '' THEN CAST(ARRAY[] AS ARRAY(VARCHAR)) ELSE split(tags, ',') END AS tags,
  NULLIF(doc, 'null') AS doc,
  CAST(raw AS VARBINARY) AS raw,
  CAST(yr AS INTEGER) AS yr,
  ST_AsText(ST_GeomFromBinary(substr(geom, 5))) AS geom,
  '0000000042:00000000000000001875:0000000000' AS _cdc_order,
  TIMESTAMP '2026-11-23 10:15:00.123456' AS _cdc_ts
FROM cdc_lake.load_export__app__orders;

MERGE INTO cdc_lake.watermarks AS w
USING (
  SELECT 'app' AS "database", 'orders' AS "table", CAST(NULL AS TIMESTAMP(6)) AS files_since, '0000000042:00000000000000001875:0000000000' AS max_order, '0000000042:00000000000000001875:0000000000' AS floor_order, '["id"]' AS primary_key
) AS c
ON w."database" = c."database" AND w."table" = c."table"
WHEN MATCHED THEN UPDATE SET files_since = c.files_since, max_order = c.max_order, floor_order = c.floor_order, primary_key = c.primary_key, merged_at = CAST(current_timestamp AS TIMESTAMP(6))
WHEN NOT MATCHED THEN INSERT ("database", "table", files_since, max_order, floor_order, primary_key, merged_at) VALUES (c."database", c."table", c.files_since, c.max_order, c.floor_order, c.primary_key, CAST(current_timestamp AS TIMESTAMP(6)));

DELETE FROM cdc_lake.tombstones WHERE "database" = 'app' AND "table" = 'orders';

DROP TABLE IF EXISTS cdc_lake.load_export__app__orders;
