"""A live workload on the sample data (cdc_demo.sample_data): `Workload.step()` runs one realistic transaction and
returns a short description of it.

    workload = Workload(conn, "tickit", seed=7)
    workload.step()  # 'sale 100001: 2 ticket(s) of listing 4711 to user 933, 3 left'

Kinds, by weight:

    sale     35  INSERT sales + UPDATE listing (the tickets come off the listing)
    price    15  UPDATE listing: a new priceperticket and totalprice
    refund   12  DELETE sales + UPDATE listing (the tickets go back on it)
    user     14  UPDATE users: moved, a new phone, or a changed interest
    stock    12  INSERT stock_day: the next trading day of one ticker
    listing   7  INSERT listing: new tickets for an event
    reissue   5  DELETE + INSERT of the same sales row (same salesid, another buyer) in one transaction

The ids that exist are read once, when the workload starts (`load_state`); from then on the workload keeps its own
view (`State`), so no step violates a key as long as nothing else writes these tables. The same database contents
and seed give the same transactions. `plan` is the pure core: it picks the next change from the State and a
random.Random, updates the State and returns the statements; `Workload` is the shell that runs them in one
transaction. A step that fails leaves the view ahead of the database: start a new Workload after an error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pymysql

from .sample_data import (
    LIKES,
    MAX_PRICE_CENTS,
    MIN_PRICE_CENTS,
    Quote,
    Row,
    city,
    column_names,
    insert_sql,
    like,
    listing_row,
    listing_time,
    money,
    next_stock_row,
    other_user,
    phone,
    qualified,
    quote,
    sale_time,
    sales_row,
    ticket_price_cents,
    to_cents,
)

Statement = tuple[str, Row]
KINDS = ("sale", "price", "refund", "user", "stock", "listing", "reissue")
WEIGHTS = (35, 15, 12, 14, 12, 7, 5)
SALE_TRIES = 20  # listings tried for one with tickets left before listing new tickets instead
STATE_TABLES = ("users", "event", "listing", "sales", "stock_day")
STATE_COLUMNS = {"users": ("userid",)}  # the first columns are all the view needs; every column elsewhere


@dataclass(frozen=True)
class Change:
    kind: str
    description: str
    statements: tuple[Statement, ...]


@dataclass(slots=True)
class ListingView:
    sellerid: int
    eventid: int
    numtickets: int
    price_cents: int
    listtime: dt.datetime


@dataclass
class State:
    """The workload's view of the rows that exist: enough to write valid changes without reading them back."""

    users: list[int]
    events: dict[int, tuple[int, dt.datetime]]  # eventid -> (catid, starttime)
    event_ids: list[int]
    listings: dict[int, ListingView]
    listing_ids: list[int]
    sales: dict[int, Row]
    sale_ids: list[int]
    sale_slots: dict[int, int]  # salesid -> its index in sale_ids
    quotes: dict[str, Quote]  # secID -> its last trading day
    secids: list[str]
    next_listid: int
    next_salesid: int

    @classmethod
    def from_tables(cls, tables: Mapping[str, Iterable[Row]]) -> State:
        """From the rows of users, event, listing, sales and stock_day, columns in sample_data.COLUMNS order (of
        users only the first, userid, is read)."""
        users = sorted(row[0] for row in tables["users"])
        events = {row[0]: (row[2], row[5]) for row in tables["event"]}
        listings = {row[0]: ListingView(row[1], row[2], row[4], to_cents(row[5]), row[7]) for row in tables["listing"]}
        sales = {row[0]: tuple(row) for row in tables["sales"]}
        quotes: dict[str, Quote] = {}
        for row in tables["stock_day"]:
            last = quotes.get(row[1])
            if last is None or row[2] > last.trade_date:
                quotes[row[1]] = Quote(row[0], row[1], row[2], to_cents(row[6]), float(row[9]))
        if len(users) < 2 or not events:
            raise ValueError("the workload needs at least two users and one event: load the sample data first")
        sale_ids = sorted(sales)
        return cls(
            users=users,
            events=events,
            event_ids=sorted(events),
            listings=listings,
            listing_ids=sorted(listings),
            sales=sales,
            sale_ids=sale_ids,
            sale_slots={salesid: slot for slot, salesid in enumerate(sale_ids)},
            quotes=quotes,
            secids=sorted(quotes),
            next_listid=max(listings, default=0) + 1,
            next_salesid=max(sales, default=0) + 1,
        )

    def add_sale(self, row: Row) -> None:
        salesid = row[0]
        self.sales[salesid] = row
        self.sale_slots[salesid] = len(self.sale_ids)
        self.sale_ids.append(salesid)
        self.next_salesid = max(self.next_salesid, salesid + 1)

    def remove_sale(self, salesid: int) -> Row:
        """Swap-remove: O(1), and as deterministic as the choices before it."""
        slot = self.sale_slots.pop(salesid)
        last = self.sale_ids.pop()
        if last != salesid:
            self.sale_ids[slot] = last
            self.sale_slots[last] = slot
        return self.sales.pop(salesid)


# -- statements (pure) --------------------------------------------------------------------------------------------


def insert(database: str, table: str, row: Row) -> Statement:
    return insert_sql(database, table), row


def delete(database: str, table: str, key: str, value: Any) -> Statement:
    return f"DELETE FROM {qualified(database, table)} WHERE {quote(key)} = %s", (value,)


def update(database: str, table: str, key: str, value: Any, changes: Mapping[str, Any]) -> Statement:
    """UPDATE of `changes` in the row whose `key` is `value` (the last argument)."""
    assignments = ", ".join(f"{quote(column)} = %s" for column in changes)
    sql = f"UPDATE {qualified(database, table)} SET {assignments} WHERE {quote(key)} = %s"
    return sql, (*changes.values(), value)


def listing_tickets(database: str, listid: int, listing: ListingView) -> Statement:
    changes = {"numtickets": listing.numtickets, "totalprice": money(listing.numtickets * listing.price_cents)}
    return update(database, "listing", "listid", listid, changes)


# -- the changes (pure) -------------------------------------------------------------------------------------------

Planner = Callable[[State, str, random.Random], Change]


def plan(state: State, database: str, rng: random.Random) -> Change:
    """The next change: picked with `rng`, valid for `state`, which it updates."""
    kind = rng.choices(KINDS, weights=WEIGHTS)[0]
    return PLANNERS[kind](state, database, rng)


def plan_sale(state: State, database: str, rng: random.Random) -> Change:
    for _ in range(SALE_TRIES):
        listid = rng.choice(state.listing_ids)
        listing = state.listings[listid]
        if listing.numtickets > 0:
            break
    else:
        return plan_listing(state, database, rng)
    qty = rng.randint(1, min(4, listing.numtickets))
    buyer = other_user(rng, state.users, listing.sellerid)
    starttime = state.events[listing.eventid][1]
    salesid = state.next_salesid
    at = sale_time(rng, listing.listtime, starttime)
    row = sales_row(salesid, listid, listing.sellerid, buyer, listing.eventid, qty, listing.price_cents, at)
    state.add_sale(row)
    listing.numtickets -= qty
    return Change(
        "sale",
        f"sale {salesid}: {qty} ticket(s) of listing {listid} to user {buyer}, {listing.numtickets} left",
        (insert(database, "sales", row), listing_tickets(database, listid, listing)),
    )


def plan_price(state: State, database: str, rng: random.Random) -> Change:
    listid = rng.choice(state.listing_ids)
    listing = state.listings[listid]
    old = listing.price_cents
    new = min(MAX_PRICE_CENTS, max(MIN_PRICE_CENTS, round(old * rng.uniform(0.85, 1.15))))
    if new == old:
        new = old - 1 if old == MAX_PRICE_CENTS else old + 1
    listing.price_cents = new
    changes = {"priceperticket": money(new), "totalprice": money(listing.numtickets * new)}
    return Change(
        "price",
        f"price of listing {listid}: {money(old)} -> {money(new)}",
        (update(database, "listing", "listid", listid, changes),),
    )


def plan_refund(state: State, database: str, rng: random.Random) -> Change:
    if not state.sale_ids:
        return plan_sale(state, database, rng)
    salesid = rng.choice(state.sale_ids)
    row = state.remove_sale(salesid)
    listid, qty = row[1], row[6]
    statements = [delete(database, "sales", "salesid", salesid)]
    listing = state.listings.get(listid)
    if listing is not None:
        listing.numtickets += qty
        statements.append(listing_tickets(database, listid, listing))
    return Change("refund", f"refund of sale {salesid}: {qty} ticket(s) back to listing {listid}", tuple(statements))


def plan_user(state: State, database: str, rng: random.Random) -> Change:
    userid = rng.choice(state.users)
    what = rng.randrange(3)
    if what == 0:
        town, region = city(rng)
        changes: dict[str, Any] = {"city": town, "state": region}
        text = f"user {userid} moved to {town}, {region}"
    elif what == 1:
        changes = {"phone": phone(rng)}
        text = f"user {userid}: new phone {changes['phone']}"
    else:
        interest = rng.choice(LIKES)
        changes = {interest: like(rng)}
        text = f"user {userid}: {interest} = {changes[interest]}"
    return Change("user", text, (update(database, "users", "userid", userid, changes),))


def plan_stock(state: State, database: str, rng: random.Random) -> Change:
    if not state.secids:
        return plan_user(state, database, rng)
    secid = rng.choice(state.secids)
    row, state.quotes[secid] = next_stock_row(rng, state.quotes[secid])
    return Change("stock", f"stock_day {secid} {row[2]}: close {row[6]}", (insert(database, "stock_day", row),))


def plan_listing(state: State, database: str, rng: random.Random) -> Change:
    eventid = rng.choice(state.event_ids)
    catid, starttime = state.events[eventid]
    sellerid, numtickets = rng.choice(state.users), rng.randint(1, 12)
    price = ticket_price_cents(rng, catid)
    listtime = listing_time(rng, starttime)
    listid = state.next_listid
    state.next_listid += 1
    state.listings[listid] = ListingView(sellerid, eventid, numtickets, price, listtime)
    state.listing_ids.append(listid)
    row = listing_row(listid, sellerid, eventid, numtickets, price, listtime)
    return Change(
        "listing",
        f"listing {listid}: {numtickets} ticket(s) for event {eventid} at {money(price)} by user {sellerid}",
        (insert(database, "listing", row),),
    )


def plan_reissue(state: State, database: str, rng: random.Random) -> Change:
    if not state.sale_ids:
        return plan_sale(state, database, rng)
    salesid = rng.choice(state.sale_ids)
    old = state.sales[salesid]
    buyer = other_user(rng, state.users, old[2])
    row = (*old[:3], buyer, *old[4:])
    state.sales[salesid] = row
    return Change(
        "reissue",
        f"reissue of sale {salesid} to user {buyer} (delete + insert)",
        (delete(database, "sales", "salesid", salesid), insert(database, "sales", row)),
    )


PLANNERS: dict[str, Planner] = {
    "sale": plan_sale,
    "price": plan_price,
    "refund": plan_refund,
    "user": plan_user,
    "stock": plan_stock,
    "listing": plan_listing,
    "reissue": plan_reissue,
}


# -- the shell: pymysql -------------------------------------------------------------------------------------------


def load_state(conn: pymysql.connections.Connection[Any], database: str) -> State:
    tables: dict[str, list[Row]] = {}
    with conn.cursor() as cursor:
        for table in STATE_TABLES:
            names = STATE_COLUMNS.get(table) or column_names(table)
            cursor.execute(f"SELECT {', '.join(quote(name) for name in names)} FROM {qualified(database, table)}")
            tables[table] = list(cursor.fetchall())
    return State.from_tables(tables)


class Workload:
    """Realistic transactions on the sample data in `database`, one per `step()`; `counts` has the steps by kind."""

    def __init__(self, conn: pymysql.connections.Connection[Any], database: str, seed: int) -> None:
        self.conn = conn
        self.database = database
        self.rng = random.Random(f"workload:{seed}")
        self.state = load_state(conn, database)
        self.counts: Counter[str] = Counter()

    def step(self) -> str:
        change = plan(self.state, self.database, self.rng)
        self.conn.begin()
        try:
            with self.conn.cursor() as cursor:
                for sql, args in change.statements:
                    cursor.execute(sql, args)
            self.conn.commit()
        except BaseException:
            with contextlib.suppress(pymysql.Error):
                self.conn.rollback()
            raise
        self.counts[change.kind] += 1
        return change.description
