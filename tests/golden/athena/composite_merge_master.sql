MERGE INTO shop.order_lines AS m
USING (
  SELECT c.*
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
  LEFT JOIN cdc_lake.tombstones AS t
    ON t."database" = 'shop' AND t."table" = 'order_lines' AND t.key = CAST(length(CAST(c.order_id AS VARCHAR)) AS VARCHAR) || ':' || CAST(c.order_id AS VARCHAR) || ',' || CAST(length(CAST(c.sku AS VARCHAR)) AS VARCHAR) || ':' || CAST(c.sku AS VARCHAR)
  WHERE t._cdc_order IS NULL OR c._cdc_order >= t._cdc_order
) AS c
ON m.order_id = c.order_id AND m.sku = c.sku
WHEN MATCHED AND c._cdc_order > m._cdc_order AND c._cdc_deleted THEN DELETE
WHEN MATCHED AND c._cdc_order > m._cdc_order THEN UPDATE SET order_id = c.order_id, sku = c.sku, qty = c.qty, price = c.price, _cdc_order = c._cdc_order, _cdc_ts = c._cdc_ts
WHEN NOT MATCHED AND NOT c._cdc_deleted THEN INSERT (order_id, sku, qty, price, _cdc_order, _cdc_ts) VALUES (c.order_id, c.sku, c.qty, c.price, c._cdc_order, c._cdc_ts);
