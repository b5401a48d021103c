"""Group commit: writes that arrive together share one transaction.

A burst of consult requests means thousands of small transactions; each commit costs a disk
flush and several thread hops through the async driver, so one-by-one they queue up for tens of
seconds on a busy machine. Here every write waits in a queue while a transaction runs, and the
next transaction carries all that arrived meanwhile. Each caller still gets its own result, and
nothing is acknowledged before its commit. On SQLite this also keeps writers from fighting over
the database lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[AsyncConnection], Awaitable[Any]]


class GroupCommit:
    def __init__(self, engine: AsyncEngine, max_batch: int = 500) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def run(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``op`` in a transaction shared with concurrent writes; return its result once committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # The write goes on even if this caller is cancelled: others share its transaction.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self._max_batch], self._pending[self._max_batch:]
            try:
                results = await self._transaction(batch)
            except Exception:
                # One write spoiled the shared transaction: give each its own, so only it fails.
                for op, future in batch:
                    try:
                        (result,) = await self._transaction([(op, future)])
                    except Exception as exc:  # noqa: BLE001 - handed to the caller that owns the write
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
                continue
            for (_, future), result in zip(batch, results):
                future.set_result(result)

    async def _transaction(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> list[Any]:
        async with self._engine.begin() as conn:
            return [await op(conn) for op, _ in batch]
