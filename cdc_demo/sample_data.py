"""Sample data for the demo: the TICKIT ticket-sales schema of the AWS analytics samples (users, venue, category,
date, event, listing, sales) and a `stock_day` table of daily share prices, generated here, deterministic from a
seed, in sizes given by `Sizes`.

    create_schema(conn, "tickit")              # the database if missing; these eight tables dropped and re-created
    load(conn, "tickit", Sizes(sales=100_000), seed=7, progress=print)

Where TICKIT leaves the meaning open, this data (and cdc_demo.workload) keeps these rules:

* `listing.numtickets` is the number of tickets still on offer and `totalprice = numtickets * priceperticket`; a
  sale takes its tickets off its listing and a refund puts them back, so `numtickets + sum(qtysold)` of a listing
  stays what was listed.
* `sales.pricepaid = qtysold * priceperticket` at the time of the sale (the workload changes prices later),
  `commission` is 15 % of it (cents rounded half up), the buyer is never the seller, `listtime <= saletime <=
  starttime` of the event, and every `dateid` is the `date` row of the timestamp beside it (event: starttime,
  listing: listtime, sales: saletime); the calendar is 365 days of 2008.
* `stock_day` has a row per ticker and trading day (weekdays from 2008-01-02): the close is a random walk, the
  high is at least max(open, close), the low at most min(open, close) and above zero; a suspended day
  (`isOpen = 0`) repeats the last close with no turnover.

The generators are pure (no connection); `create_schema` and `load` are the thin shell over a pymysql connection.
Each table draws from its own random stream, so changing one size leaves the other tables' rows as they were.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pymysql

Row = tuple[Any, ...]
Progress = Callable[[int, int], None]
"""`progress(rows_loaded, rows_in_all)`, called after every batch."""

BATCH_ROWS = 2_000
DATEID_BASE = 1827  # TICKIT's dateid of 2008-01-01
CALENDAR_START = dt.date(2008, 1, 1)
CALENDAR_DAYS = 365
COMMISSION_PERCENT = 15
MIN_PRICE_CENTS, MAX_PRICE_CENTS = 500, 250_000  # a ticket costs 5.00 to 2,500.00
MAX_SALES_PER_LISTING = 20  # on average; keeps totalprice inside DECIMAL(8,2)
LISTING_LEAD = dt.timedelta(days=60)  # tickets are listed up to 60 days before the event ...
LISTING_CLOSE = dt.timedelta(hours=2)  # ... and at the latest 2 hours before it

LIKES = (
    "likesports", "liketheatre", "likeconcerts", "likejazz", "likeclassical",
    "likeopera", "likerock", "likevegas", "likebroadway", "likemusicals",
)  # fmt: skip

COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "users": (
        ("userid", "INT NOT NULL"), ("username", "CHAR(8)"), ("firstname", "VARCHAR(30)"),
        ("lastname", "VARCHAR(30)"), ("city", "VARCHAR(30)"), ("state", "CHAR(2)"), ("email", "VARCHAR(100)"),
        ("phone", "CHAR(14)"), *((like, "BOOLEAN") for like in LIKES),
    ),
    "venue": (
        ("venueid", "SMALLINT NOT NULL"), ("venuename", "VARCHAR(100)"), ("venuecity", "VARCHAR(30)"),
        ("venuestate", "CHAR(2)"), ("venueseats", "INT"),
    ),
    "category": (
        ("catid", "SMALLINT NOT NULL"), ("catgroup", "VARCHAR(10)"), ("catname", "VARCHAR(10)"),
        ("catdesc", "VARCHAR(50)"),
    ),
    "date": (
        ("dateid", "SMALLINT NOT NULL"), ("caldate", "DATE NOT NULL"), ("day", "CHAR(3) NOT NULL"),
        ("week", "SMALLINT NOT NULL"), ("month", "CHAR(5) NOT NULL"), ("qtr", "CHAR(5) NOT NULL"),
        ("year", "SMALLINT NOT NULL"), ("holiday", "BOOLEAN DEFAULT 0"),
    ),
    "event": (
        ("eventid", "INT NOT NULL"), ("venueid", "SMALLINT NOT NULL"), ("catid", "SMALLINT NOT NULL"),
        ("dateid", "SMALLINT NOT NULL"), ("eventname", "VARCHAR(200)"), ("starttime", "DATETIME"),
    ),
    "listing": (
        ("listid", "INT NOT NULL"), ("sellerid", "INT NOT NULL"), ("eventid", "INT NOT NULL"),
        ("dateid", "SMALLINT NOT NULL"), ("numtickets", "SMALLINT NOT NULL"), ("priceperticket", "DECIMAL(8,2)"),
        ("totalprice", "DECIMAL(8,2)"), ("listtime", "DATETIME"),
    ),
    "sales": (
        ("salesid", "INT NOT NULL"), ("listid", "INT NOT NULL"), ("sellerid", "INT NOT NULL"),
        ("buyerid", "INT NOT NULL"), ("eventid", "INT NOT NULL"), ("dateid", "SMALLINT NOT NULL"),
        ("qtysold", "SMALLINT NOT NULL"), ("pricepaid", "DECIMAL(8,2)"), ("commission", "DECIMAL(8,2)"),
        ("saletime", "DATETIME"),
    ),
    "stock_day": (
        ("ticker", "VARCHAR(10) NOT NULL"), ("secID", "VARCHAR(20) NOT NULL"), ("tradeDate", "DATE NOT NULL"),
        ("openPrice", "DECIMAL(10,2)"), ("highestPrice", "DECIMAL(10,2)"), ("lowestPrice", "DECIMAL(10,2)"),
        ("closePrice", "DECIMAL(10,2)"), ("turnoverVol", "BIGINT"), ("turnoverValue", "DECIMAL(20,2)"),
        ("accumAdjFactor", "DOUBLE"), ("isOpen", "TINYINT"),
    ),
}  # fmt: skip
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "users": ("userid",), "venue": ("venueid",), "category": ("catid",), "date": ("dateid",),
    "event": ("eventid",), "listing": ("listid",), "sales": ("salesid",), "stock_day": ("secID", "tradeDate"),
}  # fmt: skip

CATEGORIES: tuple[Row, ...] = (
    (1, "Sports", "MLB", "Major League Baseball"),
    (2, "Sports", "NHL", "National Hockey League"),
    (3, "Sports", "NFL", "National Football League"),
    (4, "Sports", "NBA", "National Basketball Association"),
    (5, "Sports", "MLS", "Major League Soccer"),
    (6, "Shows", "Musicals", "Musical theatre"),
    (7, "Shows", "Plays", "All non-musical theatre"),
    (8, "Shows", "Opera", "All opera and light opera"),
    (9, "Concerts", "Pop", "All rock and pop music concerts"),
    (10, "Concerts", "Jazz", "All jazz singers and bands"),
    (11, "Concerts", "Classical", "All symphony, concerto, and choir concerts"),
)
CATEGORY_WEIGHTS = (6, 5, 4, 5, 3, 12, 12, 6, 14, 6, 5)
PRICE_RANGES = {"Sports": (2_000, 40_000), "Shows": (3_000, 120_000), "Concerts": (2_000, 250_000)}  # cents
CITIES = (
    ("New York", "NY"), ("Los Angeles", "CA"), ("Chicago", "IL"), ("Houston", "TX"), ("Phoenix", "AZ"),
    ("Philadelphia", "PA"), ("San Antonio", "TX"), ("San Diego", "CA"), ("Dallas", "TX"), ("San José", "CA"),
    ("Austin", "TX"), ("Jacksonville", "FL"), ("Columbus", "OH"), ("Charlotte", "NC"), ("Indianapolis", "IN"),
    ("Seattle", "WA"), ("Denver", "CO"), ("Washington", "DC"), ("Boston", "MA"), ("Nashville", "TN"),
    ("Detroit", "MI"), ("Portland", "OR"), ("Las Vegas", "NV"), ("Memphis", "TN"), ("Baltimore", "MD"),
    ("Milwaukee", "WI"), ("Albuquerque", "NM"), ("Sacramento", "CA"), ("Kansas City", "MO"), ("Atlanta", "GA"),
    ("Miami", "FL"), ("Minneapolis", "MN"), ("New Orleans", "LA"), ("Cleveland", "OH"), ("Pittsburgh", "PA"),
    ("St. Louis", "MO"), ("Salt Lake City", "UT"), ("Honolulu", "HI"), ("Santa Fe", "NM"), ("Coeur d'Alene", "ID"),
)  # fmt: skip
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
    "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen", "Daniel", "Nancy",
    "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "José", "Zoë", "Renée", "Björn", "Chloé", "Aiko",
    "Wei", "Priya", "Olu", "Siobhán", "Mateo", "Ingrid",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Müller",
    "Núñez", "O'Brien", "Nguyen", "Kowalski", "Yamamoto", "Okafor", "Sørensen", "Dubois", "Chen",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
VENUE_KINDS = (
    "Arena", "Stadium", "Center", "Theatre", "Hall", "Amphitheatre", "Field", "Coliseum", "Opera House",
    "Pavilion", "Ballpark", "Music Hall", "Playhouse", "Garden",
)  # fmt: skip
MASCOTS = (
    "Hawks", "Bears", "Comets", "Pilots", "Rangers", "Tigers", "Storm", "Kings", "Mariners", "Wolves", "Sound",
    "Rapids", "Blaze", "Owls", "Giants", "Foxes",
)  # fmt: skip
SHOWS = {
    "Musicals": ("Mamma Mia!", "Wicked", "The Lion King", "Jersey Boys", "The Phantom of the Opera", "Chicago",
                 "Rent", "Hairspray", "Spamalot", "Legally Blonde", "Grease", "Cats", "Les Misérables"),
    "Plays": ("Hamlet", "Macbeth", "Death of a Salesman", "Our Town", "The Seagull", "Doubt", "A Doll's House",
              "August: Osage County", "Equus", "Uncle Vanya", "The Glass Menagerie", "Twelfth Night"),
    "Opera": ("La bohème", "Tosca", "Carmen", "Die Walküre", "Götterdämmerung", "Don Giovanni", "Aida",
              "Rigoletto", "Otello", "Le nozze di Figaro", "Madama Butterfly", "Lucia di Lammermoor"),
}  # fmt: skip
BAND_WORDS = (
    ("Velvet", "Electric", "Silver", "Midnight", "Paper", "Neon", "Wild", "Lonely", "Golden", "Crimson"),
    ("Foxes", "Engines", "Lanterns", "Horses", "Echoes", "Satellites", "Rivers", "Ghosts", "Sparrows", "Kites"),
)
COMPOSERS = ("Beethoven", "Mozart", "Brahms", "Mahler", "Dvořák", "Tchaikovsky", "Sibelius", "Bach", "Ravel")
ENSEMBLES = ("Trio", "Quartet", "Quintet", "Big Band", "Sextet")
START_TIMES = (dt.time(14, 0), dt.time(14, 30), dt.time(15, 0), dt.time(19, 0), dt.time(19, 30), dt.time(20, 0))
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
HOLIDAYS = frozenset(
    dt.date(2008, month, day)
    for month, day in ((1, 1), (1, 21), (2, 18), (5, 26), (7, 4), (9, 1), (10, 13), (11, 11), (11, 27), (12, 25))
)  # US federal holidays of 2008
TICKER_POOL = (*range(600000, 602000), *range(1, 1000), *range(2001, 2800), *range(300001, 300500))


@dataclass(frozen=True)
class Sizes:
    """Rows per table. 0 for users, events or listings means scaled from sales: sales/5, sales/20, sales/2.
    category (11) and date (365 days of 2008) are fixed; stock_day has tickers * days rows."""

    sales: int = 100_000
    users: int = 0
    events: int = 0
    listings: int = 0
    venues: int = 200
    tickers: int = 20
    days: int = 250

    def __post_init__(self) -> None:
        scaled = {
            "users": max(2, self.sales // 5),
            "events": max(1, self.sales // 20),
            "listings": max(1, self.sales // 2),
        }
        for name, value in scaled.items():
            if getattr(self, name) == 0:
                object.__setattr__(self, name, value)
        minimum = {"sales": 0, "users": 2, "events": 1, "listings": 1, "venues": 1, "tickers": 0, "days": 0}
        for name, least in minimum.items():
            if getattr(self, name) < least:
                raise ValueError(f"Sizes.{name} must be at least {least}, not {getattr(self, name)}")
        if self.venues > 32_767:
            raise ValueError(f"Sizes.venues must be at most 32767 (venueid is a SMALLINT), not {self.venues}")
        if self.tickers > len(TICKER_POOL):
            raise ValueError(f"Sizes.tickers must be at most {len(TICKER_POOL)}, not {self.tickers}")
        if self.sales > MAX_SALES_PER_LISTING * self.listings:
            raise ValueError(
                f"Sizes.listings must be at least sales/{MAX_SALES_PER_LISTING} = "
                f"{-(-self.sales // MAX_SALES_PER_LISTING)}, not {self.listings}"
            )

    def counts(self) -> dict[str, int]:
        """The rows `load` inserts into each table."""
        return {
            "users": self.users, "venue": self.venues, "category": len(CATEGORIES), "date": CALENDAR_DAYS,
            "event": self.events, "listing": self.listings, "sales": self.sales, "stock_day": self.tickers * self.days,
        }  # fmt: skip


# -- SQL (pure) ---------------------------------------------------------------------------------------------------


def table_names() -> tuple[str, ...]:
    return tuple(COLUMNS)


def column_names(table: str) -> tuple[str, ...]:
    return tuple(name for name, _ in COLUMNS[table])


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def qualified(database: str, table: str) -> str:
    return f"{quote(database)}.{quote(table)}"


def table_ddl(database: str, table: str) -> str:
    columns = [f"{quote(name)} {definition}" for name, definition in COLUMNS[table]]
    key = ", ".join(quote(name) for name in PRIMARY_KEYS[table])
    return (
        f"CREATE TABLE {qualified(database, table)} ({', '.join(columns)}, PRIMARY KEY ({key}))"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )


def insert_sql(database: str, table: str) -> str:
    """One row's INSERT; pymysql's executemany turns it into multi-row INSERTs."""
    names = column_names(table)
    return (
        f"INSERT INTO {qualified(database, table)} ({', '.join(quote(name) for name in names)})"
        f" VALUES ({', '.join(['%s'] * len(names))})"
    )


# -- values shared with the workload (pure) -----------------------------------------------------------------------


def table_rng(seed: int | str, table: str) -> random.Random:
    return random.Random(f"tickit:{seed}:{table}")


def money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def to_cents(value: Decimal) -> int:
    return int(value.scaleb(2))


def commission_cents(pricepaid_cents: int) -> int:
    return (pricepaid_cents * COMMISSION_PERCENT + 50) // 100


def dateid_of(day: dt.date) -> int:
    return DATEID_BASE + (day - CALENDAR_START).days


def ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded if c.isalnum()).lower()


def phone(rng: random.Random) -> str:
    return f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"


def city(rng: random.Random) -> tuple[str, str]:
    return rng.choice(CITIES)


def like(rng: random.Random) -> int | None:
    draw = rng.random()
    return None if draw < 0.2 else int(draw < 0.6)


def other_user(rng: random.Random, user_ids: Sequence[int], seller: int) -> int:
    """A user who is not `seller` (there are at least two users)."""
    while (buyer := rng.choice(user_ids)) == seller:
        pass
    return buyer


def ticket_price_cents(rng: random.Random, catid: int) -> int:
    low, high = PRICE_RANGES[CATEGORIES[catid - 1][1]]
    dollars = rng.randint(low // 100, high // 100)
    return min(MAX_PRICE_CENTS, dollars * 100 + rng.choice((0, 0, 0, 25, 50, 75, 95, 99)))


def listing_time(rng: random.Random, starttime: dt.datetime) -> dt.datetime:
    earliest = max(dt.datetime.combine(CALENDAR_START, dt.time()), starttime - LISTING_LEAD)
    seconds = int((starttime - LISTING_CLOSE - earliest).total_seconds())
    return earliest + dt.timedelta(seconds=rng.randint(0, max(0, seconds)))


def sale_time(rng: random.Random, listtime: dt.datetime, starttime: dt.datetime) -> dt.datetime:
    seconds = int((starttime - listtime).total_seconds())
    return listtime + dt.timedelta(seconds=rng.randint(0, max(0, seconds)))


def listing_row(
    listid: int, sellerid: int, eventid: int, numtickets: int, price_cents: int, listtime: dt.datetime
) -> Row:
    return (
        listid, sellerid, eventid, dateid_of(listtime.date()), numtickets, money(price_cents),
        money(numtickets * price_cents), listtime,
    )  # fmt: skip


def sales_row(
    salesid: int, listid: int, sellerid: int, buyerid: int, eventid: int, qty: int, price_cents: int, at: dt.datetime
) -> Row:
    paid = qty * price_cents
    return (
        salesid, listid, sellerid, buyerid, eventid, dateid_of(at.date()), qty, money(paid),
        money(commission_cents(paid)), at,
    )  # fmt: skip


@dataclass(frozen=True)
class Quote:
    """A ticker's last trading day: what the next stock_day row follows on from."""

    ticker: str
    secid: str
    trade_date: dt.date
    close_cents: int
    adj_factor: float


def next_trading_day(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def next_stock_row(rng: random.Random, last: Quote) -> tuple[Row, Quote]:
    day, previous = next_trading_day(last.trade_date), last.close_cents
    adj = last.adj_factor
    if rng.random() < 0.004:  # ex-dividend: the adjustment factor steps up
        adj = round(adj * rng.uniform(1.01, 1.08), 6)
    if rng.random() < 0.02:  # suspended
        price = money(previous)
        row = (last.ticker, last.secid, day, price, price, price, price, 0, money(0), adj, 0)
        return row, Quote(last.ticker, last.secid, day, previous, adj)
    close = max(1, round(previous * (1 + max(-0.1, min(0.1, rng.gauss(0.0003, 0.022))))))
    opening = max(1, round(previous * (1 + rng.gauss(0, 0.006))))
    top, bottom = max(opening, close), min(opening, close)
    high = top + round(top * abs(rng.gauss(0, 0.008)))
    low = max(1, bottom - round(bottom * abs(rng.gauss(0, 0.008))))
    volume = rng.randrange(10, 500_000) * 100
    value = volume * (opening + high + low + close) // 4
    row = (
        last.ticker, last.secid, day, money(opening), money(high), money(low), money(close), volume, money(value),
        adj, 1,
    )  # fmt: skip
    return row, Quote(last.ticker, last.secid, day, close, adj)


# -- the tables (pure) --------------------------------------------------------------------------------------------


def venue_rows(sizes: Sizes, seed: int) -> Iterator[Row]:
    rng = table_rng(seed, "venue")
    for venueid in range(1, sizes.venues + 1):
        town, state = city(rng)
        prefix = town if rng.random() < 0.5 else rng.choice(LAST_NAMES)
        seats = 0 if rng.random() < 0.2 else rng.randrange(500, 80_000, 250)
        yield venueid, f"{prefix} {rng.choice(VENUE_KINDS)}", town, state, seats


def date_rows() -> Iterator[Row]:
    for offset in range(CALENDAR_DAYS):
        day = CALENDAR_START + dt.timedelta(days=offset)
        week = int(day.strftime("%U")) + 1
        yield (
            dateid_of(day), day, WEEKDAYS[day.weekday()], week, MONTHS[day.month - 1], str((day.month + 2) // 3),
            day.year, int(day in HOLIDAYS),
        )  # fmt: skip


def user_rows(sizes: Sizes, seed: int) -> Iterator[Row]:
    rng = table_rng(seed, "users")
    letters, digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
    for userid in range(1, sizes.users + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        town, state = city(rng)
        username = "".join(rng.choice(pool) for pool in (letters, letters, letters, digits, digits, letters,
                                                          letters, letters))  # fmt: skip
        email = f"{ascii_word(first)}.{ascii_word(last)}{userid}@{rng.choice(DOMAINS)}"
        likes = tuple(like(rng) for _ in LIKES)
        yield (userid, username, first, last, town, state, email, phone(rng), *likes)


def event_name(rng: random.Random, catid: int) -> str:
    group, name = CATEGORIES[catid - 1][1], CATEGORIES[catid - 1][2]
    if group == "Sports":
        home, away = rng.sample(CITIES, 2)
        return f"{away[0]} {rng.choice(MASCOTS)} at {home[0]} {rng.choice(MASCOTS)}"
    if group == "Shows":
        return str(rng.choice(SHOWS[name]))
    if name == "Pop":
        return f"The {rng.choice(BAND_WORDS[0])} {rng.choice(BAND_WORDS[1])}"
    if name == "Jazz":
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {rng.choice(ENSEMBLES)}"
    return f"{city(rng)[0]} Symphony plays {rng.choice(COMPOSERS)}"


def event_rows(sizes: Sizes, seed: int) -> Iterator[Row]:
    rng = table_rng(seed, "event")
    catids = [row[0] for row in CATEGORIES]
    for eventid in range(1, sizes.events + 1):
        catid = rng.choices(catids, weights=CATEGORY_WEIGHTS)[0]
        day = CALENDAR_START + dt.timedelta(days=rng.randrange(CALENDAR_DAYS))
        starttime = dt.datetime.combine(day, rng.choice(START_TIMES))
        yield eventid, rng.randint(1, sizes.venues), catid, dateid_of(day), event_name(rng, catid), starttime


def listing_and_sales_rows(sizes: Sizes, seed: int, events: Sequence[Row]) -> Iterator[tuple[str, Row]]:
    """Each listing, then the sales of its tickets; sales are spread over the listings at random."""
    rng = table_rng(seed, "listing")
    per_listing = [0] * sizes.listings
    for _ in range(sizes.sales):
        per_listing[rng.randrange(sizes.listings)] += 1
    users = range(1, sizes.users + 1)
    salesid = 0
    for listid, sold in enumerate(per_listing, start=1):
        eventid, _, catid, _, _, starttime = rng.choice(events)
        sellerid, price = rng.choice(users), ticket_price_cents(rng, catid)
        listtime = listing_time(rng, starttime)
        sales = []
        for _ in range(sold):
            salesid += 1
            qty = rng.choices((1, 2, 3, 4), cum_weights=(30, 70, 85, 100))[0]
            buyer = other_user(rng, users, sellerid)
            sales.append(
                sales_row(salesid, listid, sellerid, buyer, eventid, qty, price, sale_time(rng, listtime, starttime))
            )
        remaining = 0 if sales and rng.random() < 0.25 else rng.randint(1, 10)  # sold out, or some left
        yield "listing", listing_row(listid, sellerid, eventid, remaining, price, listtime)
        for row in sales:
            yield "sales", row


def ticker_quotes(sizes: Sizes, seed: int) -> list[Quote]:
    """Each ticker before its first trading day (2008-01-02), at its opening price."""
    rng = table_rng(seed, "tickers")
    quotes = []
    for code in sorted(rng.sample(TICKER_POOL, sizes.tickers)):
        ticker = f"{code:06d}"
        secid = ticker + (".XSHG" if ticker.startswith("6") else ".XSHE")
        quotes.append(Quote(ticker, secid, CALENDAR_START, rng.randint(300, 8_000), 1.0))
    return quotes


def stock_rows(sizes: Sizes, seed: int) -> Iterator[Row]:
    rng = table_rng(seed, "stock_day")
    for first in ticker_quotes(sizes, seed):
        quote = first
        for _ in range(sizes.days):
            row, quote = next_stock_row(rng, quote)
            yield row


def generate(sizes: Sizes, seed: int) -> Iterator[tuple[str, Row]]:
    """Every row of every table as (table, row), columns in `COLUMNS` order; a row's parents come before it."""
    yield from (("category", row) for row in CATEGORIES)
    yield from (("venue", row) for row in venue_rows(sizes, seed))
    yield from (("date", row) for row in date_rows())
    yield from (("users", row) for row in user_rows(sizes, seed))
    events = list(event_rows(sizes, seed))
    yield from (("event", row) for row in events)
    yield from listing_and_sales_rows(sizes, seed, events)
    yield from (("stock_day", row) for row in stock_rows(sizes, seed))


# -- the shell: pymysql -------------------------------------------------------------------------------------------


def create_schema(conn: pymysql.connections.Connection[Any], database: str) -> None:
    """Create `database` (utf8mb4) if missing; drop and re-create the eight tables in it, and nothing else."""
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {quote(database)} CHARACTER SET utf8mb4")
        for table in COLUMNS:
            cursor.execute(f"DROP TABLE IF EXISTS {qualified(database, table)}")
            cursor.execute(table_ddl(database, table))


def load(
    conn: pymysql.connections.Connection[Any],
    database: str,
    sizes: Sizes,
    seed: int,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Insert the generated rows into the (empty) tables `create_schema` made: multi-row INSERTs of up to
    BATCH_ROWS rows, one transaction each. Returns the rows inserted per table."""
    total = sum(sizes.counts().values())
    statements = {table: insert_sql(database, table) for table in COLUMNS}
    pending: dict[str, list[Row]] = {table: [] for table in COLUMNS}
    loaded = dict.fromkeys(COLUMNS, 0)
    with conn.cursor() as cursor:

        def flush(table: str) -> None:
            rows = pending[table]
            cursor.executemany(statements[table], rows)
            conn.commit()
            loaded[table] += len(rows)
            rows.clear()
            if progress is not None:
                progress(sum(loaded.values()), total)

        for table, row in generate(sizes, seed):
            pending[table].append(row)
            if len(pending[table]) >= BATCH_ROWS:
                flush(table)
        for table, rows in pending.items():
            if rows:
                flush(table)
        cursor.execute(f"ANALYZE TABLE {', '.join(qualified(database, table) for table in COLUMNS)}")
        cursor.fetchall()
    return loaded
