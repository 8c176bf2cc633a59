"""Integration fixtures: one private MariaDB for the whole session (binlog on, ROW/FULL/FULL), a cdc user with
REPLICATION SLAVE, REPLICATION CLIENT and SELECT only, and helpers to write SQL and run the streamer."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdc_streamer.local_mariadb import LocalMariaDB, ServerNotInstalled, free_port

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


AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def aws() -> Iterator[str]:
    """moto's server (Kinesis, S3, ...) on a free loopback port; yields its endpoint URL. Fake credentials are
    set in the environment for this process and the commands it starts."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = {name: os.environ.get(name) for name in AWS_TEST_ENV}
    os.environ.update(AWS_TEST_ENV)
    yield f"http://127.0.0.1:{port}"
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
