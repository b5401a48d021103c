"""Shared fixtures: a real signaling server on loopback with one specialist and one station;
Farlink's aiortc tuning, installed for one test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from media import tuning
from signaling.accounts import Role
from signaling.app import accounts_key, create_app
from signaling.config import ServerConfig

SPECIALIST = ("doctor", "correct horse battery")


@dataclass
class Server:
    url: str
    station_token: str
    specialist: tuple[str, str]
    app: object


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    app = create_app(ServerConfig(data_dir=tmp_path / "data"))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    accounts = app[accounts_key]
    await accounts.create_user(*SPECIALIST, Role.SPECIALIST)
    token = await accounts.create_station_token("clinic-1")
    try:
        yield Server(str(test_server.make_url("/")), token, SPECIALIST, app)
    finally:
        await test_server.close()


@pytest.fixture(autouse=True)
def untuned_after() -> Iterator[None]:
    """Every test leaves aiortc as it ships (a Farlink station applies the tuning process-wide)."""
    yield
    tuning.restore()


@pytest.fixture
def tuned() -> Iterator[None]:
    """``media.tuning`` applied (as ``farlink station`` does) and restored afterwards."""
    tuning.apply()
    yield
    tuning.restore()
