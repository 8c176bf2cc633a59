"""Events/s through the Kinesis sink's encode + batch path, with an in-memory PutRecords (no network).

    .venv/bin/python bench/kinesis_sink.py [--events N] [--runs R]

Measures `KinesisSink.send` + `flush` over synthetic change events of a 6-column table, 50 rows per transaction,
with and without `--aggregate`, for two partition schemes. Prints min and median of R runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
from decimal import Decimal

from cdc_streamer.event import ChangeEvent, Operation
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import KinesisSettings
from cdc_streamer.sinks.kinesis import KinesisSink
from cdc_streamer.sinks.kinesis_memory import MemoryKinesis

ROWS_PER_TRANSACTION = 50


def make_events(count: int) -> list[list[ChangeEvent]]:
    transactions: list[list[ChangeEvent]] = []
    for start in range(0, count, ROWS_PER_TRANSACTION):
        position = BinlogPosition("binlog.000001", 4 + start * 100)
        rows = []
        for index, row in enumerate(range(start, min(count, start + ROWS_PER_TRANSACTION))):
            data = {
                "id": row,
                "name": f"customer-{row}",
                "amount": row * 1000,
                "price": Decimal(f"{row % 10000}.{row % 100:02d}"),
                "at": str(datetime.datetime(2024, 5, 6, 7, 8, 9)),
                "score": row / 7,
            }
            rows.append(
                ChangeEvent(
                    database="shop", table="orders", type=Operation.INSERT, ts=1_700_000_000, xid=start,
                    xoffset=index, commit=index == ROWS_PER_TRANSACTION - 1, position=position, gtid=f"0-1-{start}",
                    server_id=1, thread_id=None, primary_key=(row,), primary_key_columns=("id",), data=data,
                )
            )  # fmt: skip
        transactions.append(rows)
    return transactions


def run_once(transactions: list[list[ChangeEvent]], settings: KinesisSettings) -> tuple[float, int]:
    client = MemoryKinesis()
    sink = KinesisSink(client, settings, sleep=lambda seconds: None)
    began = time.perf_counter()
    for events in transactions:
        sink.send(events, lambda: None)
    sink.flush()
    return time.perf_counter() - began, client.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    transactions = make_events(args.events)
    results = []
    for partition_by in ("primary_key", "table"):
        for aggregate in (False, True):
            settings = KinesisSettings(stream_name="bench", partition_by=partition_by, aggregate=aggregate)
            timings = []
            calls = 0
            for _ in range(args.runs):
                seconds, calls = run_once(transactions, settings)
                timings.append(args.events / seconds)
            results.append(
                {
                    "partition_by": partition_by,
                    "aggregate": aggregate,
                    "events": args.events,
                    "runs": args.runs,
                    "events_per_s_median": round(statistics.median(timings)),
                    "events_per_s_max": round(max(timings)),
                    "events_per_s_min": round(min(timings)),
                    "put_records_calls": calls,
                }
            )
    print(f"{'partition_by':<12} {'aggregate':<9} {'events/s median':>15} {'min':>9} {'max':>9} {'calls':>7}")
    for r in results:
        print(
            f"{r['partition_by']:<12} {r['aggregate']!s:<9} {r['events_per_s_median']:>15,} "
            f"{r['events_per_s_min']:>9,} {r['events_per_s_max']:>9,} {r['put_records_calls']:>7,}"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
