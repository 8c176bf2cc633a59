"""Fixtures for every tier."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from cdc_streamer.logs import redactor


@pytest.fixture(autouse=True)
def isolated_logging() -> Iterator[None]:
    """One process runs many tests (and, with xdist, in any order): the log redactor's secrets (a password `one`
    registered by one test must not mask another test's text) and the root logger's level start clean each time."""
    root = logging.getLogger()
    level = root.level
    redactor().clear()
    yield
    redactor().clear()
    root.setLevel(level)
