"""Records/s of the Firehose transform (`process_batch`) on one core, next to a plain-`json` baseline.

    .venv/bin/python bench/transform.py [--records N] [--batch 500] [--runs R]

Input: Firehose-shaped records (recordId, approximateArrivalTimestamp, kinesisRecordMetadata, base64 data) of
~500-byte update events of an 8-column table (DECIMALs, a BIGINT UNSIGNED, text, a DATETIME), in batches of
`--batch`. The baseline does the same work per record without exactness: base64-decode, `json.loads`, build the
flattened dict (row images through `json.dumps`), `json.dumps` the row, base64-encode. Both run in this process,
one after the other, R times each; min and median records/s are printed as a table and as one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from results_file import store  # bench/, this script's directory, is on sys.path

from cdc_streamer.encoding import RawJson, encode_value
from firehose_transform.transform import process_batch

SHARD = "shardId-000000000003"


def make_event(row: int) -> bytes:
    """One update event of `shop.orders`, about 500 bytes of JSON."""
    data = {
        "id": row,
        "customer": f"customer-{row:08d}@example.com",
        "amount": RawJson(f"{row % 100000}.{row % 100:02d}"),
        "tax": RawJson(f"{row % 977}.0500"),
        "units": 18446744073709551615 - row,
        "note": "héllo, a short free-text note on the order",
        "status": "shipped",
        "updated_at": str(datetime.datetime(2024, 5, 6, 7, 8, 9) + datetime.timedelta(seconds=row)),
    }
    event = {
        "database": "shop",
        "table": "orders",
        "type": "update",
        "ts": 1714558500 + row // 50,
        "xid": 9000 + row // 50,
        "xoffset": row % 50,
        "position": f"binlog.000042:{4 + (row // 50) * 4096}",
        "gtid": f"0-1-{1000 + row // 50}",
        "server_id": 1,
        "thread_id": None,
        "primary_key": [row],
        "primary_key_columns": ["id"],
        "data": data,
        "old": {"status": "paid", "amount": RawJson(f"{row % 100000}.00")},
    }
    if row % 50 == 49:
        event["commit"] = True
    return encode_value(event).encode("utf-8")


def make_batches(count: int, batch: int) -> list[list[dict[str, Any]]]:
    records = []
    for row in range(count):
        arrival = 1714558500000 + row
        records.append(
            {
                "recordId": f"{row:056d}",
                "approximateArrivalTimestamp": arrival,
                "data": base64.b64encode(make_event(row)).decode("ascii"),
                "kinesisRecordMetadata": {
                    "shardId": SHARD,
                    "partitionKey": f"shop.orders.[{row}]",
                    "approximateArrivalTimestamp": arrival,
                    "sequenceNumber": f"4954698668313554428650745793632162567570019247115{row:07d}",
                    "subsequenceNumber": 0,
                },
            }
        )
    return [records[start : start + batch] for start in range(0, count, batch)]


def baseline_batch(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plain json, no exactness handling and no validation: what the transform would cost without them."""
    outputs = []
    for record in records:
        event = json.loads(base64.b64decode(record["data"]))
        ts = event["ts"]
        file, _, offset = event["position"].partition(":")
        old = event.get("old")
        row = {
            "type": event["type"],
            "ts": ts,
            "xid": event.get("xid"),
            "xoffset": event["xoffset"],
            "commit": event.get("commit", False),
            "binlog_file": file,
            "binlog_position": int(offset),
            "binlog_order": f"{int(file.rpartition('.')[2]):010d}:{int(offset):020d}:{event['xoffset']:010d}",
            "gtid": event.get("gtid"),
            "server_id": event.get("server_id"),
            "thread_id": event.get("thread_id"),
            "primary_key": json.dumps(event.get("primary_key")),
            "primary_key_columns": json.dumps(event.get("primary_key_columns")),
            "data": json.dumps(event["data"]),
            "old": None if old is None else json.dumps(old),
        }
        moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
        line = json.dumps(row) + "\n"
        outputs.append(
            {
                "recordId": record["recordId"],
                "result": "Ok",
                "data": base64.b64encode(line.encode("utf-8")).decode("ascii"),
                "metadata": {
                    "partitionKeys": {
                        "database": event["database"],
                        "table": event["table"],
                        "dt": moment.date().isoformat(),
                        "hour": f"{moment.hour:02d}",
                    }
                },
            }
        )
    return outputs


def transform_batch(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    outputs, failures = process_batch(records)
    if failures:
        raise SystemExit(f"unexpected failures: {list(failures.items())[:3]}")
    return outputs


def measure(run: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], batches: list[list[dict[str, Any]]]) -> float:
    began = time.perf_counter()
    for batch in batches:
        run(batch)
    return sum(map(len, batches)) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-save", action="store_true", help="do not update bench/results/<date>.json")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    batches = make_batches(args.records, args.batch)
    event_bytes = statistics.mean(len(base64.b64decode(r["data"])) for b in batches for r in b)
    rates: dict[str, list[float]] = {"process_batch": [], "plain json baseline": []}
    for _ in range(args.runs):  # interleaved, so both see the same machine state
        rates["process_batch"].append(measure(transform_batch, batches))
        rates["plain json baseline"].append(measure(baseline_batch, batches))
    results = [
        {
            "variant": name,
            "records": args.records,
            "batch": args.batch,
            "runs": args.runs,
            "event_bytes": round(event_bytes),
            "records_per_s_median": round(statistics.median(values)),
            "records_per_s_min": round(min(values)),
            "records_per_s_max": round(max(values)),
        }
        for name, values in rates.items()
    ]
    ratio = results[0]["records_per_s_median"] / results[1]["records_per_s_median"]
    print(
        f"python {platform.python_version()}, {args.records:,} records of ~{event_bytes:.0f} B, batches of {args.batch}"
    )
    print(f"{'variant':<20} {'records/s median':>16} {'min':>9} {'max':>9}")
    for r in results:
        print(
            f"{r['variant']:<20} {r['records_per_s_median']:>16,} {r['records_per_s_min']:>9,} "
            f"{r['records_per_s_max']:>9,}"
        )
    print(f"process_batch / baseline (median): {ratio:.2f}")
    print(json.dumps(results))
    if not args.no_save:
        store("transform", results)


if __name__ == "__main__":
    main()
