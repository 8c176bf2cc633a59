"""firehose_transform: the Firehose data-transformation Lambda that flattens change events for the lake.

Contract (DESIGN.md, docs/events.md, docs/kinesis.md):

- Input: a Firehose transformation invocation. Each record's base64 `data` is one change event as JSON
  (Maxwell's format), a claim-check pointer event, or a KPL aggregate of such events.
- Output: `{"records": [...]}` with every input `recordId` exactly once, in input order:
  - `Ok`: one line of JSON with exactly the columns of `cdc_lake.event_schema.COLUMN_NAMES` (row images and keys as
    exact JSON text), `\\n`-terminated, and `metadata.partitionKeys` = {database, table, dt, hour} (UTC of `ts`)
    for `events/database=D/table=T/dt=YYYY-MM-DD/hour=HH/`. DDL events go to table `_ddl` of their database,
    schema events (`table-schema`) to table `_schema`.
  - `ProcessingFailed`: with the input data echoed, for anything that is not a valid event (and for records that
    would take the response over 6,000,000 bytes); Firehose writes them to the error prefix; the handler logs
    the reason. One bad record never fails the batch. `Dropped` is never used.
- Lambda-light: stdlib plus `cdc_lake.event_schema` and `cdc_streamer.encoding` (both stdlib-only);
  boto3 only lazily, for claim-check fetches. Never pyarrow, duckdb, aws_kinesis_agg or protobuf.

Modules: `flatten` (event -> row, pure), `kpl` (KPL deaggregation), `claim_check` (pointer -> event),
`transform` (batch -> response records, pure but for the injectable fetch), `handler` (the entry point).
"""
