"""Endpoints a station measures its path with before a call: round trip, upload and download.

They answer only authenticated callers (a station token or a session) and cap every transfer,
because an open "send me N bytes" endpoint is a free amplifier for anyone on the internet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from aiohttp import web

from signaling.accounts import Principal

MAX_BYTES = 4 * 1024 * 1024
READ_CHUNK = 64 * 1024

Who = Callable[[web.Request], Principal | None]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def setup(app: web.Application, who: Who) -> None:
    """Add ``/api/linkcheck/{ping,upload,download}`` to ``app``."""

    async def ping(request: web.Request) -> web.Response:
        if who(request) is None:
            return _error(401, "unauthorized", "a station token or a session is required")
        return web.json_response({"time": time.time()})

    async def upload(request: web.Request) -> web.Response:
        if who(request) is None:
            return _error(401, "unauthorized", "a station token or a session is required")
        received = 0
        while chunk := await request.content.read(READ_CHUNK):
            received += len(chunk)
            if received > MAX_BYTES:
                return _error(413, "too_large", f"a link check sends at most {MAX_BYTES} bytes")
        return web.json_response({"bytes": received})

    async def download(request: web.Request) -> web.StreamResponse:
        if who(request) is None:
            return _error(401, "unauthorized", "a station token or a session is required")
        try:
            size = int(request.query.get("bytes", "0"))
        except ValueError:
            return _error(400, "bad_field", "bytes must be an integer")
        if not 0 <= size <= MAX_BYTES:
            return _error(413, "too_large", f"a link check fetches at most {MAX_BYTES} bytes")
        # Random bytes: satellite modems may compress, which would flatter a run of zeros.
        return web.Response(body=os.urandom(size), content_type="application/octet-stream")

    app.router.add_get("/api/linkcheck/ping", ping)
    app.router.add_post("/api/linkcheck/upload", upload)
    app.router.add_get("/api/linkcheck/download", download)
