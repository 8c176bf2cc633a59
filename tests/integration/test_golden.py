"""Run every golden scenario against the real MariaDB and compare the streamer's events exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdc_streamer import row_decoder
from cdc_streamer.event import SchemaEvent
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.settings import TableFilter

from .golden import actual_fields, check_volatile, expected_fields, parse_scenario, stable_fields
from .support import Database, stream_range

GOLDEN = Path(__file__).parent.parent / "golden"
SCENARIOS = sorted(GOLDEN.glob("*.sql"))


def settings_overrides(flags: dict[str, Any], database: str) -> dict[str, Any]:
    """Scenario flags -> StreamerSettings fields; table names in filters are relative to the scenario database.
    Schema events are off unless the scenario turns them on."""
    overrides = {"output_schema": False, **{key: value for key, value in flags.items() if key != "filter"}}
    table_filter = flags.get("filter", {})
    overrides["filter"] = TableFilter(
        include=((database, "*"),),
        exclude=tuple((database, table) for table in table_filter.get("exclude_tables", ())),
        excluded_columns=frozenset(
            (database, *column.split(".", 1)) for column in table_filter.get("exclude_columns", ())
        ),
    )
    return overrides


@pytest.mark.parametrize("decoder", ["compiled", "library"])
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_golden_scenario(
    path: Path, decoder: str, mariadb: LocalMariaDB, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both row decoders: the compiled one (`row_decoder`, where the extension is built) and the library's."""
    if decoder == "library":
        monkeypatch.setenv("CDC_PURE_PYTHON", "1")
    elif row_decoder._fastpath is None:
        pytest.skip("the compiled decoder (cdc_streamer._fastpath) is not built")
    scenario = parse_scenario(path)
    start = db.position()
    for step in scenario.steps:
        db.execute(step.sql)
    end = db.position()

    events = stream_range(mariadb, start, end, db.name, **settings_overrides(scenario.flags, db.name))
    actual = [actual_fields(event) for event in events]
    expected = [expected_fields(e, db.name) for step in scenario.steps for e in step.expected]

    for fields in actual:
        assert check_volatile(fields, server_id=1) == [], fields
    assert [stable_fields(f) for f in actual] == expected
    # A schema event has the xoffset of the row event after it, and comes first.
    order = [(e.position.sort_key, e.xoffset, not isinstance(e, SchemaEvent)) for e in events]
    assert order == sorted(order) and len(set(order)) == len(order), "events must be in strict binlog order"
