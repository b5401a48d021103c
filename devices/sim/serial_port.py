"""A simulated serial port: a pseudo-terminal behind a stable path that can be unplugged.

The station opens :attr:`PtyPort.path`, a symlink (like ``/dev/serial/by-id/...``) to the
pty's slave end; the simulated device reads and writes the master end. :meth:`unplug` closes
both ends and removes the link, as pulling the USB cable would; :meth:`replug` brings up a new
pty behind the same path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import tty
from collections.abc import Callable

log = logging.getLogger(__name__)


class PtyPort:
    """``on_data`` receives whatever the host writes to the port."""

    def __init__(self, name: str, on_data: Callable[[bytes], None]) -> None:
        self._dir = tempfile.mkdtemp(prefix="farlink-sim-")
        self.path = os.path.join(self._dir, name)
        self._on_data = on_data
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def replug(self) -> None:
        if self.plugged:
            return
        master, slave = os.openpty()
        for fd in (master, slave):
            tty.setraw(fd)  # no line discipline: 0x0D, 0x11, 0x13 pass unchanged
        os.set_blocking(master, False)
        self._master, self._slave = master, slave  # holding the slave keeps writes working between opens
        os.symlink(os.ttyname(slave), self.path)
        asyncio.get_running_loop().add_reader(master, self._readable)

    def unplug(self) -> None:
        if self._master is None or self._slave is None:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._master)
        os.close(self._slave)
        self._master = self._slave = None

    def write(self, data: bytes) -> bool:
        """Send ``data`` to the host; False (data dropped, like a UART overrun) if nobody drains it."""
        if self._master is None:
            return False
        try:
            os.write(self._master, data)
        except BlockingIOError:
            return False
        except OSError as exc:
            log.debug("%s: write failed: %s", self.path, exc)
            return False
        return True

    def close(self) -> None:
        self.unplug()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        if data:
            self._on_data(data)
