MERGE INTO shop.orders AS m
USING (
  SELECT c.*
  FROM (
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
) AS c
  LEFT JOIN cdc_lake.tombstones AS t
    ON t."database" = 'shop' AND t."table" = 'orders' AND t.key = CAST(c.id AS VARCHAR)
  WHERE t._cdc_order IS NULL OR c._cdc_order >= t._cdc_order
) AS c
ON m.id = c.id
WHEN MATCHED AND c._cdc_order > m._cdc_order AND c._cdc_deleted THEN DELETE
WHEN MATCHED AND c._cdc_order > m._cdc_order THEN UPDATE SET id = c.id, customer_id = c.customer_id, total = c.total, placed_at = c.placed_at, note = c.note, tags = c.tags, payload = c.payload, photo = c.photo, _cdc_order = c._cdc_order, _cdc_ts = c._cdc_ts
WHEN NOT MATCHED AND NOT c._cdc_deleted THEN INSERT (id, customer_id, total, placed_at, note, tags, payload, photo, _cdc_order, _cdc_ts) VALUES (c.id, c.customer_id, c.total, c.placed_at, c.note, c.tags, c.payload, c.photo, c._cdc_order, c._cdc_ts);
