"""Integration fixtures: one private MariaDB for the whole session (binlog on, ROW/FULL/FULL), a cdc user with
REPLICATION SLAVE, REPLICATION CLIENT and SELECT only, and helpers to write SQL and run the streamer."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdc_streamer.local_mariadb import LocalMariaDB, ServerNotInstalled

from .support import Database


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMariaDB]:
    base = Path(tmp_path_factory.mktemp("mariadb"))
    server = LocalMariaDB(base, server_id=1)
    try:
        server.start()
    except ServerNotInstalled as error:
        pytest.fail(str(error))
    server.create_cdc_user()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def db(mariadb: LocalMariaDB, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh database named after the test, with a root connection to write through."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    database = Database(mariadb, name)
    database.recreate()
    yield database
    database.close()
