"""``farlink devices scan | read | simulate`` through the real command, against simulators."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FARLINK = shutil.which("farlink", path=str(Path(sys.executable).parent)) or "farlink"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FARLINK, "devices", *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def simulator(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``farlink devices simulate KIND`` in its own process; yields it and the port it printed."""
    kind = request.param
    process = subprocess.Popen([FARLINK, "devices", "simulate", kind], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port, process.stderr.read() if process.stderr else ""
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.mark.parametrize("simulator", ["contec-legacy", "nonin-df2"], indirect=True)
def test_simulate_then_read_one_line_per_reading(simulator: tuple[subprocess.Popen[str], str]) -> None:
    process, port = simulator
    kind = Path(port).name
    assert os.path.exists(port)
    done = run("read", kind, port, "--count", "4")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4
    readings = [json.loads(line) for line in lines]
    assert {r["kind"] for r in readings} == {"spo2", "pulse_rate"}
    assert {r["source"] for r in readings} == {f"{kind}:{port}"}
    assert f"{kind}:{port}: connected" in done.stderr
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    assert not os.path.exists(port)  # the simulator took its port away on the way out


def test_read_a_ble_simulator_through_the_ble_path() -> None:
    done = run("read", "ble-thermometer", "--simulated", "--count", "2")
    assert done.returncode == 0, done.stderr
    readings = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["kind"] for r in readings] == ["body_temperature"] * 2
    assert all(r["unit"] in ("Cel", "[degF]") and r["value"] is not None for r in readings)


def test_simulate_a_ble_device_prints_its_name_and_stops_on_sigterm() -> None:
    process = subprocess.Popen([FARLINK, "devices", "simulate", "ble-plx"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "bumble:Farlink PLX"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("simulator", ["nonin-df8"], indirect=True)
def test_scan_lists_ports_probes_a_simulator_and_explains_missing_bluetooth(
        simulator: tuple[subprocess.Popen[str], str]) -> None:
    _, port = simulator
    done = run("scan", "--port", port, "--probe", "1.2", "--ble-timeout", "1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    (simulated,) = [line for line in lines if port in line]
    assert simulated.endswith("-> nonin-df8")
    (ble,) = [line for line in lines if line.startswith("ble")]
    assert "unavailable: no usable Bluetooth adapter or stack" in ble


@pytest.mark.parametrize("args, message", [
    (("read", "contec-v7"), "give PORT, or --simulated"),
    (("read", "contec-v7", "/dev/x", "--simulated"), "give PORT, or --simulated"),
])
def test_bad_arguments_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count("\n") == 1
