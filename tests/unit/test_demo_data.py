"""Unit tests for cdc_demo.sample_data and cdc_demo.workload's pure core: sizes, determinism from the seed, the
generated rows' internal consistency (keys, foreign ids, money, times, the stock random walk), and the workload's
plans checked against a model of the keys that exist."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from cdc_demo.sample_data import (
    CALENDAR_DAYS,
    CITIES,
    COLUMNS,
    LIKES,
    MAX_PRICE_CENTS,
    MIN_PRICE_CENTS,
    PRIMARY_KEYS,
    Row,
    Sizes,
    column_names,
    commission_cents,
    generate,
    insert_sql,
    money,
    next_trading_day,
    qualified,
    table_ddl,
    table_names,
    to_cents,
)
from cdc_demo.workload import KINDS, Change, State, plan, plan_refund, plan_reissue

SMALL = Sizes(sales=600, tickers=3, days=40)
Tables = dict[str, list[Row]]


def tables(sizes: Sizes = SMALL, seed: int = 1) -> Tables:
    out: Tables = {name: [] for name in table_names()}
    for table, row in generate(sizes, seed):
        out[table].append(row)
    return out


@pytest.fixture(scope="module")
def data() -> Tables:
    return tables()


def by_key(rows: list[Row]) -> dict[Any, Row]:
    return {row[0]: row for row in rows}


def cents_of(value: Decimal) -> int:
    assert value == value.quantize(Decimal("0.01")), value
    return to_cents(value)


# -- sizes --------------------------------------------------------------------------------------------------------


def test_sizes_scale_from_sales() -> None:
    sizes = Sizes(sales=100_000)
    assert (sizes.users, sizes.events, sizes.listings, sizes.venues, sizes.tickers, sizes.days) == (
        20_000, 5_000, 50_000, 200, 20, 250,
    )  # fmt: skip
    assert sizes.counts() == {
        "users": 20_000, "venue": 200, "category": 11, "date": 365, "event": 5_000, "listing": 50_000,
        "sales": 100_000, "stock_day": 5_000,
    }  # fmt: skip
    assert Sizes(sales=1_000, users=50).users == 50
    assert Sizes(sales=1_000) == Sizes(sales=1_000, users=200, events=50, listings=500)
    assert Sizes(sales=0).counts()["listing"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sales": -1}, "Sizes.sales must be at least 0"),
        ({"sales": 100, "users": 1}, "Sizes.users must be at least 2"),
        ({"sales": 1_000, "listings": 10}, "Sizes.listings must be at least sales/20 = 50, not 10"),
        ({"venues": 40_000}, "Sizes.venues must be at most 32767"),
        ({"tickers": 1_000_000}, "Sizes.tickers must be at most"),
        ({"days": -5}, "Sizes.days must be at least 0"),
    ],
)
def test_sizes_refuse_what_cannot_be_generated(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Sizes(**kwargs)


# -- SQL ----------------------------------------------------------------------------------------------------------


def test_schema_sql() -> None:
    assert table_names() == ("users", "venue", "category", "date", "event", "listing", "sales", "stock_day")
    assert insert_sql("tickit", "category") == (
        "INSERT INTO `tickit`.`category` (`catid`, `catgroup`, `catname`, `catdesc`) VALUES (%s, %s, %s, %s)"
    )
    ddl = table_ddl("tickit", "stock_day")
    assert ddl.startswith("CREATE TABLE `tickit`.`stock_day` (`ticker` VARCHAR(10) NOT NULL, `secID` VARCHAR(20)")
    assert ddl.endswith("PRIMARY KEY (`secID`, `tradeDate`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
    assert "`priceperticket` DECIMAL(8,2)" in table_ddl("tickit", "listing")
    assert qualified("we`ird", "date") == "`we``ird`.`date`"
    assert column_names("users")[-10:] == LIKES


def test_money() -> None:
    assert money(1234) == Decimal("12.34") and str(money(5)) == "0.05" and str(money(0)) == "0.00"
    assert to_cents(Decimal("12.34")) == 1234 and to_cents(money(987_654)) == 987_654
    for paid in (0, 1, 3, 10, 33, 99_999, 123_457):
        expected = (money(paid) * Decimal("0.15")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert money(commission_cents(paid)) == expected


# -- determinism --------------------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_rows(data: Tables) -> None:
    assert tables(SMALL, 1) == data


def test_another_seed_gives_other_rows(data: Tables) -> None:
    other = tables(SMALL, 2)
    for table in ("users", "venue", "event", "listing", "sales", "stock_day"):
        assert other[table] != data[table], table
        assert len(other[table]) == len(data[table])
    assert other["category"] == data["category"] and other["date"] == data["date"]  # fixed tables


def test_one_size_leaves_the_other_tables_alone(data: Tables) -> None:
    more_tickers = tables(Sizes(sales=600, tickers=5, days=40), 1)
    for table in ("users", "venue", "event", "listing", "sales"):
        assert more_tickers[table] == data[table], table


# -- the rows -----------------------------------------------------------------------------------------------------


def test_row_counts_shapes_and_unique_keys(data: Tables) -> None:
    assert {table: len(rows) for table, rows in data.items()} == SMALL.counts()
    for table, rows in data.items():
        positions = [column_names(table).index(key) for key in PRIMARY_KEYS[table]]
        keys = [tuple(row[p] for p in positions) for row in rows]
        assert len(set(keys)) == len(keys), table
        assert all(len(row) == len(COLUMNS[table]) for row in rows), table


def test_values_fit_their_columns(data: Tables) -> None:
    for table, rows in data.items():
        for index, (name, definition) in enumerate(COLUMNS[table]):
            values = [row[index] for row in rows]
            if size := re.match(r"(?:VAR)?CHAR\((\d+)\)", definition):
                assert all(isinstance(v, str) and len(v) <= int(size[1]) for v in values), (table, name)
                assert all(v == v.strip() for v in values), (table, name)  # CHAR drops trailing spaces
            elif digits := re.match(r"DECIMAL\((\d+),2\)", definition):
                limit = Decimal(10) ** (int(digits[1]) - 2)
                assert all(isinstance(v, Decimal) and 0 <= v < limit for v in values), (table, name)
            elif definition.startswith("SMALLINT"):
                assert all(-32_768 <= v <= 32_767 for v in values), (table, name)
            elif definition.startswith("BOOLEAN"):
                assert set(values) <= {0, 1, None}, (table, name)


def test_users(data: Tables) -> None:
    states = {state for _, state in CITIES}
    for row in data["users"]:
        userid, username, _, _, city, state, email, phone, *_ = row
        assert re.fullmatch(r"[A-Z]{3}[0-9]{2}[A-Z]{3}", username)
        assert (city, state) in CITIES and state in states
        assert re.fullmatch(rf"[a-z]+\.[a-z]+{userid}@[a-z.]+", email), email
        assert re.fullmatch(r"\([2-9][0-9]{2}\) [0-9]{3}-[0-9]{4}", phone)
    assert any(not row[2].isascii() or not row[3].isascii() for row in data["users"])  # utf8mb4 gets used
    likes = Counter(value for row in data["users"] for value in row[8:])
    assert set(likes) == {0, 1, None}


def test_calendar(data: Tables) -> None:
    days = data["date"]
    assert len(days) == CALENDAR_DAYS
    assert days[0][:2] == (1827, dt.date(2008, 1, 1)) and days[-1][:2] == (2191, dt.date(2008, 12, 30))
    for dateid, day, weekday, week, month, qtr, year, _ in days:
        assert dateid == 1827 + (day - dt.date(2008, 1, 1)).days
        assert weekday == day.strftime("%a")[:2].upper() and month == day.strftime("%b").upper()
        assert qtr == str((day.month - 1) // 3 + 1) and year == 2008 and 1 <= week <= 53
    assert [row[1] for row in days if row[7]][:2] == [dt.date(2008, 1, 1), dt.date(2008, 1, 21)]
    assert sum(row[7] for row in days) == 10


def test_events_listings_and_sales_agree(data: Tables) -> None:
    venues, categories, dates = by_key(data["venue"]), by_key(data["category"]), by_key(data["date"])
    users, events, listings = by_key(data["users"]), by_key(data["event"]), by_key(data["listing"])
    for _, venueid, catid, dateid, name, starttime in data["event"]:
        assert venueid in venues and catid in categories and name
        assert dates[dateid][1] == starttime.date()
    sold: Counter[int] = Counter()
    for salesid, listid, seller, buyer, eventid, dateid, qty, paid, commission, saletime in data["sales"]:
        listing = listings[listid]
        assert (seller, eventid) == (listing[1], listing[2]), salesid
        assert buyer in users and buyer != seller and 1 <= qty <= 4
        assert cents_of(paid) == qty * cents_of(listing[5])
        assert commission == (paid * Decimal("0.15")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert listing[7] <= saletime <= events[eventid][5], salesid
        assert dates[dateid][1] == saletime.date()
        sold[listid] += qty
    for listid, seller, eventid, dateid, numtickets, price, total, listtime in data["listing"]:
        assert seller in users and eventid in events
        assert numtickets >= 0 and cents_of(total) == numtickets * cents_of(price)
        assert MIN_PRICE_CENTS <= cents_of(price) <= MAX_PRICE_CENTS
        assert dates[dateid][1] == listtime.date() and listtime < events[eventid][5]
        assert numtickets + sold[listid] > 0  # a listing offered at least one ticket
    assert len(sold) > len(data["listing"]) // 2  # most listings have sales
    assert any(row[4] == 0 for row in data["listing"])  # and some are sold out


def test_stock_days_follow_a_random_walk(data: Tables) -> None:
    series: dict[str, list[Row]] = defaultdict(list)
    for row in data["stock_day"]:
        series[row[1]].append(row)
    assert len(series) == SMALL.tickers
    for secid, rows in series.items():
        ticker = rows[0][0]
        assert secid == ticker + (".XSHG" if ticker.startswith("6") else ".XSHE") and len(ticker) == 6
        assert len(rows) == SMALL.days and rows[0][2] == dt.date(2008, 1, 2)
        previous_close = None
        for row in rows:
            _, _, day, opening, high, low, close, volume, value, adj, is_open = row
            assert day.weekday() < 5
            assert high >= max(opening, close) and Decimal(0) < low <= min(opening, close)
            assert adj >= 1.0 and is_open in (0, 1)
            if is_open:
                assert volume > 0 and volume * low <= value <= volume * high
            else:
                assert volume == 0 and value == 0 and opening == high == low == close == previous_close
            if previous_close is not None:
                assert abs(close - previous_close) <= previous_close * Decimal("0.1") + Decimal("0.01")
            previous_close = close
        days = [row[2] for row in rows]
        assert days == sorted(days) and all(next_trading_day(a) == b for a, b in itertools.pairwise(days))


# -- the workload's plans -----------------------------------------------------------------------------------------


def plans(data: Tables, seed: int, steps: int) -> list[Change]:
    state, rng = State.from_tables(data), random.Random(seed)
    return [plan(state, "tickit", rng) for _ in range(steps)]


def test_plans_are_deterministic(data: Tables) -> None:
    first = plans(data, 5, 300)
    assert plans(data, 5, 300) == first
    assert plans(data, 6, 300) != first
    assert {change.kind for change in first} == set(KINDS)
    assert all(change.description and change.description.isascii() for change in first)


STATEMENT = re.compile(r"(INSERT INTO|DELETE FROM|UPDATE) `tickit`\.`(\w+)`")


class Keys:
    """The primary keys that exist, as the statements change them: a fake of the database's key checks."""

    def __init__(self, data: Tables) -> None:
        self.keys = {table: {self.key(table, row) for row in rows} for table, rows in data.items()}

    @staticmethod
    def key(table: str, row: Row) -> Any:
        names = column_names(table)
        return tuple(row[names.index(key)] for key in PRIMARY_KEYS[table])

    def apply(self, sql: str, args: Row) -> None:
        match = STATEMENT.match(sql)
        assert match, sql
        verb, table = match[1], match[2]
        if verb == "INSERT INTO":
            key = self.key(table, args)
            assert key not in self.keys[table], (sql, args)
            self.keys[table].add(key)
        else:
            assert (args[-1],) in self.keys[table], (sql, args)
            if verb == "DELETE FROM":
                self.keys[table].remove((args[-1],))


def test_plans_keep_keys_and_tickets(data: Tables) -> None:
    state, rng, keys = State.from_tables(data), random.Random(8), Keys(data)
    listed = {row[0]: row[4] for row in data["listing"]}
    for row in data["sales"]:
        listed[row[1]] += row[6]
    kinds: Counter[str] = Counter()
    for _ in range(3_000):
        change = plan(state, "tickit", rng)
        kinds[change.kind] += 1
        for sql, args in change.statements:
            keys.apply(sql, args)
    assert set(kinds) == set(KINDS)
    assert keys.keys["sales"] == {(salesid,) for salesid in state.sales}
    assert keys.keys["listing"] == {(listid,) for listid in state.listings}
    assert len(keys.keys["stock_day"]) == len(data["stock_day"]) + kinds["stock"]
    assert sorted(state.sale_ids) == sorted(state.sales)
    assert all(state.sale_ids[slot] == salesid for salesid, slot in state.sale_slots.items())
    on_sale = {listid: listing.numtickets for listid, listing in state.listings.items()}
    assert min(on_sale.values()) >= 0
    for row in state.sales.values():
        on_sale[row[1]] += row[6]
        assert row[3] != row[2]
    assert all(on_sale[listid] == tickets for listid, tickets in listed.items())  # tickets neither made nor lost


def test_plans_without_sales_sell_first() -> None:
    empty = tables(Sizes(sales=0, users=5, events=3, listings=4, tickers=0), 1)
    state = State.from_tables(empty)
    assert plan_refund(state, "tickit", random.Random(1)).kind in ("sale", "listing")
    assert plan_reissue(State.from_tables(empty), "tickit", random.Random(1)).kind in ("sale", "listing")
    changes = plans(empty, 3, 200)
    assert "stock" not in {change.kind for change in changes}  # no tickers: a user update instead


def test_state_needs_users_and_events(data: Tables) -> None:
    with pytest.raises(ValueError, match="at least two users and one event"):
        State.from_tables({**data, "users": data["users"][:1]})
