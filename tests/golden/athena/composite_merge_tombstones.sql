MERGE INTO cdc_lake.tombstones AS t
USING (
  SELECT CAST(length(CAST(c.order_id AS VARCHAR)) AS VARCHAR) || ':' || CAST(c.order_id AS VARCHAR) || ',' || CAST(length(CAST(c.sku AS VARCHAR)) AS VARCHAR) || ':' || CAST(c.sku AS VARCHAR) AS key, c._cdc_order
  FROM (
SELECT
      order_id,
      sku,
      qty,
      price,
      _cdc_order, _cdc_ts, _cdc_deleted
FROM (
  SELECT c.*, row_number() OVER (PARTITION BY order_id, sku ORDER BY _cdc_order DESC) AS _cdc_rank
  FROM (
    SELECT
      CAST(json_extract_scalar(e.data, '$["order_id"]') AS INTEGER) AS order_id,
      json_extract_scalar(e.data, '$["sku"]') AS sku,
      CAST(json_extract_scalar(e.data, '$["qty"]') AS BIGINT) AS qty,
      CAST(json_extract_scalar(e.data, '$["price"]') AS DECIMAL(10, 2)) AS price,
      e.binlog_order AS _cdc_order, CAST(from_unixtime(e.ts) AS TIMESTAMP(6)) AS _cdc_ts, e."type" = 'delete' AS _cdc_deleted
    FROM cdc_lake.raw_events AS e
    WHERE e."database" = 'shop' AND e."table" = 'order_lines' AND (true) AND e."type" IN ('insert', 'update', 'delete')
    UNION ALL
    SELECT
      CAST(coalesce(json_extract_scalar(e.old, '$["order_id"]'), json_extract_scalar(e.data, '$["order_id"]')) AS INTEGER) AS order_id,
      coalesce(json_extract_scalar(e.old, '$["sku"]'), json_extract_scalar(e.data, '$["sku"]')) AS sku,
      CAST(NULL AS BIGINT) AS qty,
      CAST(NULL AS DECIMAL(10, 2)) AS price,
      e.binlog_order AS _cdc_order, CAST(from_unixtime(e.ts) AS TIMESTAMP(6)) AS _cdc_ts, true AS _cdc_deleted
    FROM cdc_lake.raw_events AS e
    WHERE e."database" = 'shop' AND e."table" = 'order_lines' AND (true) AND e."type" = 'update' AND (json_extract_scalar(e.old, '$["order_id"]') IS NOT NULL OR json_extract_scalar(e.old, '$["sku"]') IS NOT NULL)
  ) AS c
) AS r
WHERE _cdc_rank = 1
) AS c
  WHERE c._cdc_deleted
) AS c
ON t."database" = 'shop' AND t."table" = 'order_lines' AND t.key = c.key
WHEN MATCHED AND c._cdc_order > t._cdc_order THEN UPDATE SET _cdc_order = c._cdc_order
WHEN NOT MATCHED THEN INSERT ("database", "table", key, _cdc_order) VALUES ('shop', 'order_lines', c.key, c._cdc_order);
