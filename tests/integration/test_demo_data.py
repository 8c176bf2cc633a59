"""cdc_demo.sample_data and cdc_demo.workload against the real server: the loaded rows are exactly the generated
ones, sanity queries over them, create_schema's reach, and 200 workload transactions that keep every key and rule
and change the row counts as their kinds say; the same seed on the same data gives the same database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from cdc_demo.sample_data import (
    BATCH_ROWS,
    PRIMARY_KEYS,
    Row,
    Sizes,
    column_names,
    create_schema,
    generate,
    load,
    qualified,
    quote,
    table_names,
)
from cdc_demo.workload import KINDS, Workload
from cdc_streamer.local_mariadb import LocalMariaDB

from .support import Database

SIZES = Sizes(sales=2_000, tickers=4, days=60)
SEED = 3

# Each query counts the rows that break one rule of the sample data; all must be 0.
RULES = {
    "sales without their listing": "SELECT COUNT(*) FROM sales s LEFT JOIN listing l USING (listid) "
    "WHERE l.listid IS NULL",
    "sales whose seller or event is not the listing's": "SELECT COUNT(*) FROM sales s JOIN listing l USING (listid) "
    "WHERE s.sellerid <> l.sellerid OR s.eventid <> l.eventid",
    "sales with an unknown buyer or seller": "SELECT COUNT(*) FROM sales s LEFT JOIN users b ON b.userid = s.buyerid "
    "LEFT JOIN users v ON v.userid = s.sellerid WHERE b.userid IS NULL OR v.userid IS NULL OR s.buyerid = s.sellerid",
    "sales not paid qtysold * a price": "SELECT COUNT(*) FROM sales WHERE MOD(pricepaid * 100, qtysold) <> 0",
    "sales without a 15 % commission": "SELECT COUNT(*) FROM sales WHERE commission <> ROUND(pricepaid * 0.15, 2)",
    "sales outside [listtime, starttime]": "SELECT COUNT(*) FROM sales s JOIN listing l USING (listid) "
    "JOIN event e ON e.eventid = s.eventid WHERE s.saletime < l.listtime OR s.saletime > e.starttime",
    "sales whose dateid is not the saletime's": "SELECT COUNT(*) FROM sales s LEFT JOIN `date` d USING (dateid) "
    "WHERE d.caldate IS NULL OR d.caldate <> DATE(s.saletime)",
    "listings with an unknown event or seller": "SELECT COUNT(*) FROM listing l LEFT JOIN event e USING (eventid) "
    "LEFT JOIN users u ON u.userid = l.sellerid WHERE e.eventid IS NULL OR u.userid IS NULL",
    "listings whose totalprice is not numtickets * priceperticket": "SELECT COUNT(*) FROM listing "
    "WHERE totalprice <> numtickets * priceperticket OR numtickets < 0",
    "listings whose dateid is not the listtime's": "SELECT COUNT(*) FROM listing l LEFT JOIN `date` d USING (dateid) "
    "WHERE d.caldate IS NULL OR d.caldate <> DATE(l.listtime)",
    "events with an unknown venue, category or date": "SELECT COUNT(*) FROM event e LEFT JOIN venue v USING (venueid) "
    "LEFT JOIN category c USING (catid) LEFT JOIN `date` d USING (dateid) "
    "WHERE v.venueid IS NULL OR c.catid IS NULL OR d.caldate <> DATE(e.starttime)",
    "stock days breaking high/low": "SELECT COUNT(*) FROM stock_day "
    "WHERE highestPrice < GREATEST(openPrice, closePrice) OR lowestPrice > LEAST(openPrice, closePrice) "
    "OR lowestPrice <= 0",
    "stock days on a weekend": "SELECT COUNT(*) FROM stock_day WHERE WEEKDAY(tradeDate) >= 5",
}


def broken_rules(db: Database) -> dict[str, int]:
    db.execute(f"USE {quote(db.name)}")
    counts = {rule: int(db.query(sql)[0][0]) for rule, sql in RULES.items()}
    return {rule: count for rule, count in counts.items() if count}


def row_counts(db: Database) -> dict[str, int]:
    return {table: int(db.query(f"SELECT COUNT(*) FROM {qualified(db.name, table)}")[0][0]) for table in table_names()}


def tickets_per_listing(db: Database) -> dict[int, int]:
    """numtickets + the tickets sold, per listing: what the listing offered."""
    rows = db.query(
        f"SELECT l.listid, l.numtickets + COALESCE(SUM(s.qtysold), 0) FROM {qualified(db.name, 'listing')} l "
        f"LEFT JOIN {qualified(db.name, 'sales')} s USING (listid) GROUP BY l.listid, l.numtickets"
    )
    return {int(listid): int(tickets) for listid, tickets in rows}


def loaded(db: Database, seed: int = SEED) -> dict[str, int]:
    create_schema(db.conn, db.name)
    return load(db.conn, db.name, SIZES, seed)


def select_all(db: Database, table: str) -> list[Row]:
    names = ", ".join(quote(name) for name in column_names(table))
    key = ", ".join(quote(name) for name in PRIMARY_KEYS[table])
    return db.query(f"SELECT {names} FROM {qualified(db.name, table)} ORDER BY {key}")


def test_load_inserts_exactly_the_generated_rows(db: Database) -> None:
    calls: list[tuple[int, int]] = []
    create_schema(db.conn, db.name)
    assert load(db.conn, db.name, SIZES, SEED, progress=lambda done, total: calls.append((done, total))) == (
        SIZES.counts()
    )
    assert row_counts(db) == SIZES.counts()
    total = sum(SIZES.counts().values())
    assert calls[-1] == (total, total) and [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(calls) == sum(-(-rows // BATCH_ROWS) for rows in SIZES.counts().values())  # one per batch
    generated: dict[str, list[Row]] = {table: [] for table in table_names()}
    for table, row in generate(SIZES, SEED):
        generated[table].append(row)
    for table, rows in generated.items():
        positions = [column_names(table).index(key) for key in PRIMARY_KEYS[table]]
        rows.sort(key=lambda row: tuple(row[p] for p in positions))
        assert select_all(db, table) == rows, table  # DECIMAL, DATETIME, DOUBLE, NULL and utf8mb4 text round-trip
    collations = db.query(
        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (db.name,)
    )
    assert {name for name, _ in collations} == set(table_names())
    assert all(collation.startswith("utf8mb4") for _, collation in collations)


def test_loaded_data_answers_sanity_queries(db: Database) -> None:
    loaded(db)
    assert broken_rules(db) == {}
    # until the workload changes a price, every sale was paid at its listing's price
    assert db.query(
        "SELECT COUNT(*) FROM sales s JOIN listing l USING (listid) WHERE s.pricepaid <> s.qtysold * l.priceperticket"
    ) == [(0,)]
    listings = [row for table, row in generate(SIZES, SEED) if table == "listing"]
    totals = db.query("SELECT SUM(totalprice), SUM(numtickets * priceperticket), SUM(numtickets) FROM listing")[0]
    assert totals == (sum(row[6] for row in listings),) * 2 + (sum(row[4] for row in listings),)
    (paid, commission, tickets), *_ = db.query("SELECT SUM(pricepaid), SUM(commission), SUM(qtysold) FROM sales")
    assert abs(commission - paid * Decimal("0.15")) <= SIZES.sales * Decimal("0.005") and tickets >= SIZES.sales
    top = db.query(
        "SELECT e.eventname, SUM(s.qtysold) AS tickets FROM sales s JOIN event e USING (eventid) "
        "GROUP BY e.eventname ORDER BY tickets DESC, e.eventname LIMIT 5"
    )
    assert len(top) == 5 and all(tickets > 0 for _, tickets in top)
    per_ticker = db.query("SELECT secID, COUNT(*), MIN(tradeDate) FROM stock_day GROUP BY secID")
    assert len(per_ticker) == SIZES.tickers
    assert all(days == SIZES.days and str(first) == "2008-01-02" for _, days, first in per_ticker)
    assert db.query("SELECT COUNT(*) FROM users WHERE firstname <> CONVERT(firstname USING ascii)")[0][0] > 0


def test_create_schema_replaces_only_its_tables(db: Database) -> None:
    db.execute(f"CREATE TABLE {qualified(db.name, 'keep')} (id INT PRIMARY KEY)")
    db.execute(f"INSERT INTO {qualified(db.name, 'keep')} VALUES (1)")
    loaded(db)
    create_schema(db.conn, db.name)
    assert row_counts(db) == dict.fromkeys(table_names(), 0)
    assert db.query(f"SELECT id FROM {qualified(db.name, 'keep')}") == [(1,)]


def test_workload_keeps_every_rule_and_changes_counts_as_described(db: Database) -> None:
    loaded(db)
    before, offered = row_counts(db), tickets_per_listing(db)
    workload = Workload(db.conn, db.name, seed=9)
    descriptions = [workload.step() for _ in range(200)]
    counts = workload.counts
    assert sum(counts.values()) == 200 and set(counts) == set(KINDS)
    assert Counter(text.split(" ", 1)[0] for text in descriptions) == Counter(
        {"sale": counts["sale"], "price": counts["price"], "refund": counts["refund"], "user": counts["user"],
         "stock_day": counts["stock"], "listing": counts["listing"], "reissue": counts["reissue"]}
    )  # fmt: skip
    expected = {
        **before,
        "sales": before["sales"] + counts["sale"] - counts["refund"],
        "listing": before["listing"] + counts["listing"],
        "stock_day": before["stock_day"] + counts["stock"],
    }
    assert row_counts(db) == expected
    assert broken_rules(db) == {}
    after = tickets_per_listing(db)
    assert all(after[listid] == tickets for listid, tickets in offered.items())  # tickets neither made nor lost
    assert db.query("SELECT COUNT(DISTINCT secID) FROM stock_day WHERE tradeDate > '2008-03-25'")[0][0] > 0


@pytest.fixture
def twin(mariadb: LocalMariaDB, db: Database) -> Iterator[Database]:
    other = Database(mariadb, db.name + "_twin")
    other.recreate()
    yield other
    other.execute(f"DROP DATABASE {quote(other.name)}")
    other.close()


def checksums(db: Database) -> dict[str, Any]:
    rows = db.query(f"CHECKSUM TABLE {', '.join(qualified(db.name, table) for table in table_names())}")
    return {str(name).split(".", 1)[1]: checksum for name, checksum in rows}


def test_same_seed_same_transactions(db: Database, twin: Database) -> None:
    loaded(db)
    loaded(twin)
    assert checksums(db) == checksums(twin)
    first, second = Workload(db.conn, db.name, seed=4), Workload(twin.conn, twin.name, seed=4)
    assert [first.step() for _ in range(100)] == [second.step() for _ in range(100)]
    assert checksums(db) == checksums(twin)
    assert row_counts(db) != SIZES.counts()  # the workload did change something
