MERGE INTO cdc_lake.watermarks AS w
USING (
  SELECT 'shop' AS "database", 'orders' AS "table", CAST(from_iso8601_timestamp('2026-11-23T10:00:00Z') AS TIMESTAMP(6)) AS files_since, (SELECT max(_cdc_order) FROM (
SELECT
      id,
      customer_id,
      total,
      placed_at,
      note,
      tags,
      payload,
      photo,
      _cdc_order, _cdc_ts, _cdc_deleted
FROM (
  SELECT c.*, row_number() OVER (PARTITION BY id ORDER BY _cdc_order DESC) AS _cdc_rank
  FROM (
    SELECT
      CAST(json_extract_scalar(e.data, '$["id"]') AS INTEGER) AS id,
      CAST(json_extract_scalar(e.data, '$["customer_id"]') AS DECIMAL(20, 0)) AS customer_id,
      CAST(json_extract_scalar(e.data, '$["total"]') AS DECIMAL(12, 2)) AS total,
      TRY_CAST(json_extract_scalar(e.data, '$["placed_at"]') AS TIMESTAMP(6)) AS placed_at,
      json_extract_scalar(e.data, '$["note"]') AS note,
      CAST(json_extract(e.data, '$["tags"]') AS ARRAY(VARCHAR)) AS tags,
      NULLIF(json_format(json_extract(e.data, '$["payload"]')), 'null') AS payload,
      from_base64(json_extract_scalar(e.data, '$["photo"]')) AS photo,
      e.binlog_order AS _cdc_order, CAST(from_unixtime(e.ts) AS TIMESTAMP(6)) AS _cdc_ts, e."type" = 'delete' AS _cdc_deleted
    FROM cdc_lake.raw_events AS e
    WHERE e."database" = 'shop' AND e."table" = 'orders' AND (true) AND e."type" IN ('insert', 'update', 'delete')
    UNION ALL
    SELECT
      CAST(coalesce(json_extract_scalar(e.old, '$["id"]'), json_extract_scalar(e.data, '$["id"]')) AS INTEGER) AS id,
      CAST(NULL AS DECIMAL(20, 0)) AS customer_id,
      CAST(NULL AS DECIMAL(12, 2)) AS total,
      CAST(NULL AS TIMESTAMP(6)) AS placed_at,
      CAST(NULL AS VARCHAR) AS note,
      CAST(NULL AS ARRAY(VARCHAR)) AS tags,
      CAST(NULL AS VARCHAR) AS payload,
      CAST(NULL AS VARBINARY) AS photo,
      e.binlog_order AS _cdc_order, CAST(from_unixtime(e.ts) AS TIMESTAMP(6)) AS _cdc_ts, true AS _cdc_deleted
    FROM cdc_lake.raw_events AS e
    WHERE e."database" = 'shop' AND e."table" = 'orders' AND (true) AND e."type" = 'update' AND (json_extract_scalar(e.old, '$["id"]') IS NOT NULL)
  ) AS c
) AS r
WHERE _cdc_rank = 1
) AS c) AS max_order, '["id"]' AS primary_key
) AS c
ON w."database" = c."database" AND w."table" = c."table"
WHEN MATCHED THEN UPDATE SET files_since = c.files_since, max_order = CASE WHEN c.max_order IS NULL OR c.max_order < w.max_order THEN w.max_order ELSE c.max_order END, primary_key = c.primary_key, merged_at = CAST(current_timestamp AS TIMESTAMP(6))
WHEN NOT MATCHED THEN INSERT ("database", "table", files_since, max_order, primary_key, merged_at) VALUES (c."database", c."table", c.files_since, c.max_order, c.primary_key, CAST(current_timestamp AS TIMESTAMP(6)));
