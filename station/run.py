"""``farlink station``: run a station against a signaling server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from devices.catalog import KINDS, open_source, start_simulator
from devices.errors import LocalError
from devices.source import DeviceSource
from media.capture import open_camera, open_microphone
from media.links import load_profiles
from media.pattern import TestPatternTrack, ToneTrack
from station.config import PRIORITIES, ConfigError, DeviceConfig, StationConfig, load_config
from station.linkcheck import AUTO
from station.local_page import start_local_page
from station.peer import MediaMode
from station.runtime import ConsultRequest, Station, StationSetup


def add_station_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``farlink station`` and ``farlink demo``; each overrides the config file."""
    parser.add_argument("--camera", help="camera device (e.g. /dev/video0); default: a moving test pattern")
    parser.add_argument("--microphone", help="microphone device; default: a test tone")
    parser.add_argument("--device", action="append", metavar="KIND:PORT",
                        help="a device to read, e.g. contec-v7:/dev/ttyUSB0 (repeatable; replaces the file's)")
    parser.add_argument("--simulate", action="append", metavar="KIND",
                        help="start a simulated device of KIND and read it (repeatable)")
    parser.add_argument("--priority", choices=list(PRIORITIES))
    parser.add_argument("--reason", help="why the consult is asked for")
    parser.add_argument("--no-request", action="store_true", help="connect but do not ask for a consult")
    parser.add_argument("--station-dir", type=Path,
                        help="where the station keeps stills until the server has them (default ./station-data)")
    parser.add_argument("--page-host", help="address of the staff page (default 127.0.0.1)")
    parser.add_argument("--page-port", type=int, help="port of the staff page (default 8090; 0: any)")
    parser.add_argument("--profile", choices=[AUTO, *load_profiles()],
                        help="where calls start: a link preset, or auto (the pre-call link check; default)")
    parser.add_argument("--media", type=MediaMode, choices=list(MediaMode),
                        help="farlink: adaptive media for thin, long links (default); "
                             "stock: aiortc as it ships, for comparison")


def config_from_args(args: argparse.Namespace, base: StationConfig) -> StationConfig:
    """``base`` (a config file's, or the defaults) with every option given on the command line."""
    given: dict[str, Any] = {
        "server": getattr(args, "server", None), "token": getattr(args, "token", None),
        "camera": args.camera, "microphone": args.microphone, "data_dir": args.station_dir,
        "page_host": args.page_host, "page_port": args.page_port, "profile": args.profile, "media": args.media,
        "priority": args.priority, "reason": args.reason, "request": False if args.no_request else None,
        "simulate": tuple(args.simulate) if args.simulate else None,
        "devices": tuple(DeviceConfig(*_device(spec)) for spec in args.device) if args.device else None,
    }
    return replace(base, **{key: value for key, value in given.items() if value is not None})


def _device(spec: str) -> tuple[str, str]:
    kind, _, port = spec.partition(":")
    if kind not in KINDS or not port:
        raise ConfigError(f"--device {spec!r}: expected KIND:PORT, e.g. contec-v7:/dev/ttyUSB0; "
                          f"kinds: {', '.join(KINDS)}")
    return kind, port


def media_tracks(config: StationConfig, label: str) -> tuple[MediaStreamTrack, MediaStreamTrack]:
    video = open_camera(config.camera) if config.camera else TestPatternTrack(label=label)
    audio = open_microphone(config.microphone) if config.microphone else ToneTrack()
    return video, audio


async def run_station(config: StationConfig, label: str) -> None:
    """Start simulators and sources, then run the station until cancelled."""
    async with AsyncExitStack() as stack:
        sources: list[DeviceSource] = []
        for kind in config.simulate:
            sim = await start_simulator(kind)
            stack.push_async_callback(sim.stop)
            sources.append(open_source(kind, sim.port))
            logging.getLogger(__name__).info("simulated %s on %s", kind, sim.port)
        for device in config.devices:
            sources.append(open_source(device.kind, device.port))
        video, audio = media_tracks(config, label)
        request = ConsultRequest(priority=config.priority, reason=config.reason) if config.request else None
        station = Station(StationSetup(server=config.server, token=config.token, video=video, audio=audio,
                                       sources=sources, request=request, data_dir=config.data_dir,
                                       media=config.media, profile=config.profile))
        runner, url = await start_local_page(station, config.page_host, config.page_port)
        stack.push_async_callback(runner.cleanup)
        print(f"Station page for the clinic staff: {url}", flush=True)
        await station.run()


async def until_stopped(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until SIGTERM (systemd's stop) or SIGINT cancels it, so peers close cleanly."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="farlink station", description="Run a remote station.")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="a station configuration (TOML; see docs/station.example.toml)")
    parser.add_argument("--server", help="signaling server URL, e.g. https://hospital.example")
    parser.add_argument("--token", help="the station's API token")
    add_station_options(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args, load_config(args.config) if args.config else StationConfig())
    except ConfigError as exc:
        print(f"farlink station: {exc}", file=sys.stderr)
        return 2
    if not config.server or not config.token:
        parser.error("give --config FILE, or --server and --token")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(until_stopped(run_station(config, "Farlink station")))
    except LocalError as exc:  # a camera, microphone or device that cannot be opened as configured
        print(f"farlink station: {exc}", file=sys.stderr)
        return 2
    return 0
