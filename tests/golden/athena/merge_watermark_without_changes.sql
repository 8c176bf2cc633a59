MERGE INTO cdc_lake.watermarks AS w
USING (
  SELECT 'shop' AS "database", 'orders' AS "table", CAST(from_iso8601_timestamp('2026-11-23T10:00:00Z') AS TIMESTAMP(6)) AS files_since, CAST(NULL AS VARCHAR) AS max_order, '["id"]' AS primary_key
) AS c
ON w."database" = c."database" AND w."table" = c."table"
WHEN MATCHED THEN UPDATE SET files_since = c.files_since, max_order = CASE WHEN c.max_order IS NULL OR c.max_order < w.max_order THEN w.max_order ELSE c.max_order END, primary_key = c.primary_key, merged_at = CAST(current_timestamp AS TIMESTAMP(6))
WHEN NOT MATCHED THEN INSERT ("database", "table", files_since, max_order, primary_key, merged_at) VALUES (c."database", c."table", c.files_since, c.max_order, c.primary_key, CAST(current_timestamp AS TIMESTAMP(6)));
