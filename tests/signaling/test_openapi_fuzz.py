"""Schemathesis fuzzes the served OpenAPI document against a live loopback server: no 5xx, ever.

The server runs in its own thread and event loop (schemathesis calls it synchronously over
HTTP), with a consult in the record; the fuzzer is logged in as an admin, so it reaches every
handler, and also sends requests without credentials.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from signaling import openapi
from signaling.accounts import Role
from signaling.app import accounts_key, create_app
from signaling.config import ServerConfig


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    loop = asyncio.new_event_loop()
    app = create_app(ServerConfig(data_dir=Path(tmp_path_factory.mktemp("fuzz"))))
    runner = web.AppRunner(app)

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        await app[accounts_key].create_user("root", "admin password", Role.ADMIN)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    url = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    login = requests.post(url + "/api/login", json={"name": "root", "password": "admin password"}, timeout=30)
    login.raise_for_status()
    auth = {"Cookie": f"farlink_session={login.cookies['farlink_session']}", "X-CSRF-Token": login.json()["csrf"]}
    try:
        yield url, auth
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_no_server_errors(live_server: tuple[str, dict[str, str]]) -> None:
    url, auth = live_server
    schema = schemathesis.openapi.from_url(url + "/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {f"{method.upper()} {path}" for path, methods in openapi.DOCUMENT["paths"].items() for method in methods}
    # Schemathesis leaves out the document's own path; everything else is fuzzed.
    assert {o.label for o in operations} == documented - {"GET /api/openapi.json"}
    for operation in operations:
        # Fuzzing logout with the session would end it for the rest of the run.
        credentials = [{}] if operation.path == "/api/logout" else [auth, {}]

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_5xx(case: schemathesis.Case) -> None:
            for headers in credentials:
                response = case.call(base_url=url, headers=headers, timeout=30)
                case.validate_response(response, checks=[not_a_server_error])

        no_5xx()
