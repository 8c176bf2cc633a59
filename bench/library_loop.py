"""The plain python-mysql-replication loop over one binlog range, and nothing else: the `library` reader of
bench/readers.py, which runs it as a process of its own (so that its time, CPU and RSS are its own).

    .venv/bin/python bench/library_loop.py PORT SERVER_ID FILE START END [USER PASSWORD]

Reads from FILE:START on 127.0.0.1:PORT with `BinLogStreamReader` (row events only, non-blocking), decodes every
row (`for row in event.rows`) and stops at the event that ends at END (the range's last commit; the library's own
`end_log_pos` check). Prints {"rows": N}: the row changes read (an update's before/after pair counts one).
"""

from __future__ import annotations

import json
import sys

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent


def count_rows(port: int, server_id: int, file: str, start: int, end: int, user: str, password: str) -> int:
    stream = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": port, "user": user, "passwd": password},
        server_id=server_id,
        log_file=file,
        log_pos=start,
        end_log_pos=end,  # the library stops after the event that reaches it
        resume_stream=True,
        blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
    )
    rows = 0
    try:
        for event in stream:
            for _row in event.rows:
                rows += 1
            if event.packet.log_pos >= end:
                break
    finally:
        stream.close()
    return rows


def main(argv: list[str]) -> int:
    if len(argv) not in (5, 7):
        print(__doc__, file=sys.stderr)
        return 2
    port, server_id, file, start, end = int(argv[0]), int(argv[1]), argv[2], int(argv[3]), int(argv[4])
    user, password = (argv[5], argv[6]) if len(argv) == 7 else ("cdc", "cdc-secret")
    print(json.dumps({"rows": count_rows(port, server_id, file, start, end, user, password)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
