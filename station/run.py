"""``farlink station``: run a station against a signaling server."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

from aiortc.mediastreams import MediaStreamTrack

from devices.catalog import open_source, start_simulator
from devices.source import DeviceSource
from media.capture import open_camera, open_microphone
from media.pattern import TestPatternTrack, ToneTrack
from station.local_page import start_local_page
from station.peer import MediaMode
from station.runtime import ConsultRequest, Station, StationSetup


def add_station_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--camera", help="camera device (e.g. /dev/video0); default: a moving test pattern")
    parser.add_argument("--microphone", help="microphone device; default: a test tone")
    parser.add_argument("--device", action="append", default=[], metavar="KIND:PORT",
                        help="a device to read, e.g. contec-v7:/dev/ttyUSB0 (repeatable)")
    parser.add_argument("--simulate", action="append", default=[], metavar="KIND",
                        help="start a simulated device of KIND and read it (repeatable)")
    parser.add_argument("--priority", default="routine", choices=["emergency", "urgent", "routine"])
    parser.add_argument("--reason", default="Consult requested")
    parser.add_argument("--no-request", action="store_true", help="connect but do not ask for a consult")
    parser.add_argument("--station-dir", type=Path, default=Path("station-data"),
                        help="where the station keeps stills until the server has them (default ./station-data)")
    parser.add_argument("--page-host", default="127.0.0.1", help="address of the staff page (default 127.0.0.1)")
    parser.add_argument("--page-port", type=int, default=8090, help="port of the staff page (default 8090; 0: any)")
    parser.add_argument("--media", type=MediaMode, choices=list(MediaMode), default=MediaMode.FARLINK,
                        help="farlink: adaptive media for thin, long links (default); "
                             "stock: aiortc as it ships, for comparison")


def media_tracks(args: argparse.Namespace, label: str) -> tuple[MediaStreamTrack, MediaStreamTrack]:
    video = open_camera(args.camera) if args.camera else TestPatternTrack(label=label)
    audio = open_microphone(args.microphone) if args.microphone else ToneTrack()
    return video, audio


async def run_station(args: argparse.Namespace, server: str, token: str, label: str) -> None:
    """Start simulators and sources, then run the station until cancelled."""
    async with AsyncExitStack() as stack:
        sources: list[DeviceSource] = []
        for kind in args.simulate:
            sim = await start_simulator(kind)
            stack.push_async_callback(sim.stop)
            sources.append(open_source(kind, sim.port))
            logging.getLogger(__name__).info("simulated %s on %s", kind, sim.port)
        for spec in args.device:
            kind, _, port = spec.partition(":")
            sources.append(open_source(kind, port))
        video, audio = media_tracks(args, label)
        request = None if args.no_request else ConsultRequest(priority=args.priority, reason=args.reason)
        station = Station(StationSetup(server=server, token=token, video=video, audio=audio,
                                       sources=sources, request=request, data_dir=args.station_dir,
                                       media=args.media))
        runner, url = await start_local_page(station, args.page_host, args.page_port)
        stack.push_async_callback(runner.cleanup)
        print(f"Station page for the clinic staff: {url}", flush=True)
        await station.run()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="farlink station", description="Run a remote station.")
    parser.add_argument("--server", required=True, help="signaling server URL, e.g. https://hospital.example")
    parser.add_argument("--token", required=True, help="the station's API token")
    add_station_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_station(args, args.server, args.token, "Farlink station"))
    except KeyboardInterrupt:
        pass
    return 0
