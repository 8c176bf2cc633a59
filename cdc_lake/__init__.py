"""cdc_lake: the lake stage: event schema, local delivery, master tables, queries.

Importing the package imports nothing heavy: `cdc_lake.event_schema` is stdlib-only, because the Firehose
transform Lambda imports it too.
"""
