"""What the outbox upload costs on the wire: ``python bench/outbox_wire.py [--batch 2 10 30] [--seconds N]``.

For each batch window: a real server on loopback, a real station (simulated Contec oximeter:
SpO2 and pulse once a second each, no consult) uploading through a counting TCP proxy; over the
window the proxy counts the bytes each way (HTTP requests and answers, TCP payload: add ~52
bytes of TCP/IP header per segment). Prints a Markdown table; the figures go into
docs/architecture.md ("The outbox").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestServer  # noqa: E402

from devices.catalog import open_source, start_simulator  # noqa: E402
from signaling.accounts import Role  # noqa: E402
from signaling.app import accounts_key, create_app  # noqa: E402
from signaling.config import ServerConfig  # noqa: E402
from station import outbox_upload  # noqa: E402
from station.runtime import Station, StationSetup  # noqa: E402
from tests.cutproxy import CutProxy  # noqa: E402


async def measure(batch_s: float, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(ServerConfig(data_dir=Path(tmp) / "server"))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        await app[accounts_key].create_user("doctor", "correct horse", Role.SPECIALIST)
        token = await app[accounts_key].create_station_token("clinic-1")
        proxy = CutProxy(str(server.make_url("/")))
        oximeter = await start_simulator("contec-v7")
        outbox_upload.BATCH_S = batch_s
        station = Station(StationSetup(server=await proxy.start(), token=token, video=None, audio=None,
                                       sources=[open_source("contec-v7", oximeter.port)], request=None,
                                       data_dir=Path(tmp) / "station"))
        task = asyncio.create_task(station.run())
        try:
            await asyncio.sleep(batch_s + 5)  # connected, the first batches sent
            assert station.outbox is not None
            acked = len(await station.outbox.items())
            before = dict(proxy.sent)
            await asyncio.sleep(seconds)
            up, down = (proxy.sent[d] - before[d] for d in ("up", "down"))
            readings = len(await station.outbox.items()) - acked
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await oximeter.stop()
            await proxy.close()
            await server.close()
    # The signaling WebSocket shares the proxy: its heartbeats are in the figures (a few bytes).
    return {"batch_s": batch_s, "readings": readings, "up_bytes": up, "down_bytes": down,
            "up_per_reading": up / max(1, readings), "down_per_reading": down / max(1, readings),
            "up_bps": up * 8 / seconds, "down_bps": down * 8 / seconds}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=float, nargs="+", default=[2.0, 10.0, 30.0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print("| batch window s | readings | up bytes/reading | down bytes/reading | up bit/s | down bit/s |")
    print("|---|---|---|---|---|---|")
    for batch_s in args.batch:
        r = await measure(batch_s, args.seconds)
        print(f"| {batch_s:g} | {r['readings']} | {r['up_per_reading']:.0f} | {r['down_per_reading']:.0f} "
              f"| {r['up_bps']:.0f} | {r['down_bps']:.0f} |", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
