"""The station's TOML configuration: loading, errors naming the key, command-line overrides, and
``farlink station --config FILE`` running against a real server."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from devices.catalog import start_simulator
from signaling.app import hub_key
from station.config import ConfigError, DeviceConfig, StationConfig, load_config
from station.linkcheck import AUTO
from station.peer import MediaMode
from tests.conftest import Server
from tests.processes import FARLINK, StationProcess, wait_until, write_config

EXAMPLE = Path(__file__).parents[2] / "docs" / "station.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def test_the_documented_example_loads(tmp_path: Path) -> None:
    token_file = tmp_path / "station.token"
    token_file.write_text("s3cret\n")
    text = EXAMPLE.read_text().replace("/etc/farlink/station.token", str(token_file))
    config = load_config(write(tmp_path, text))
    assert (config.server, config.token, config.camera) == ("https://hospital.example", "s3cret", "/dev/video0")
    assert config.devices == (DeviceConfig("contec-v7", "/dev/farlink-oximeter"),
                              DeviceConfig("visomat-bp", "/dev/farlink-bp"),
                              DeviceConfig("ble-thermometer", "FT95"))
    assert (config.profile, config.media, config.page_port, config.request) == (AUTO, MediaMode.FARLINK, 8090, True)
    assert config.data_dir == Path("/var/lib/farlink-station")


def test_every_key(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("tok")
    config = load_config(write(tmp_path, """
        server = "http://10.0.0.2:8080"
        token_file = "secret"
        data_dir = "state"
        camera = 1
        microphone = "hw:1"
        profile = "bgan-64"
        media = "stock"
        [[devices]]
        kind = "ble-plx"
        address = "AA:BB:CC:DD:EE:FF"
        [page]
        host = "0.0.0.0"
        port = 0
        [request]
        auto = false
        priority = "urgent"
        reason = "weekly check"
    """))
    assert config == StationConfig(
        server="http://10.0.0.2:8080", token="tok", data_dir=tmp_path / "state", camera="/dev/video1",
        microphone="hw:1", devices=(DeviceConfig("ble-plx", "AA:BB:CC:DD:EE:FF"),), profile="bgan-64",
        media=MediaMode.STOCK, page_host="0.0.0.0", page_port=0, request=False, priority="urgent",
        reason="weekly check")


@pytest.mark.parametrize(("text", "key", "says"), [
    ('token = "t"', "server", "required"),
    ('server = "hospital.example"\ntoken = "t"', "server", "http://"),
    ('server = "http://h"', "token", "exactly one"),
    ('server = "http://h"\ntoken = "t"\ntoken_file = "f"', "token", "exactly one"),
    ('server = "http://h"\ntoken_file = "missing"', "token_file", "cannot read"),
    ('server = "http://h"\ntoken = " "', "token", "non-empty"),
    ('server = "http://h"\ntoken = "t"\ncolour = "red"', "colour", "unknown key"),
    ('server = "http://h"\ntoken = "t"\ncamera = true', "camera", "device path"),
    ('server = "http://h"\ntoken = "t"\nprofile = "dialup"', "profile", "'dialup' is not one of auto"),
    ('server = "http://h"\ntoken = "t"\nmedia = "fast"', "media", "not one of farlink, stock"),
    ('server = "http://h"\ntoken = "t"\n[page]\nport = 70000', "page.port", "0-65535"),
    ('server = "http://h"\ntoken = "t"\n[page]\nbind = "x"', "page.bind", "unknown key"),
    ('server = "http://h"\ntoken = "t"\n[request]\nauto = "yes"', "request.auto", "true or false"),
    ('server = "http://h"\ntoken = "t"\n[request]\npriority = "asap"', "request.priority", "not one of"),
    ('server = "http://h"\ntoken = "t"\ndevices = "contec"', "devices", "array of tables"),
    ('server = "http://h"\ntoken = "t"\n[[devices]]\nkind = "toaster"\nport = "/dev/x"', "devices[0].kind",
     "unknown device kind 'toaster'"),
    ('server = "http://h"\ntoken = "t"\n[[devices]]\nkind = "ble-bp"', "devices[0]", "exactly one of port"),
    ('server = "http://h"\ntoken = "t"\n[[devices]]\nkind = "ble-bp"\nname = "a"\naddress = "b"', "devices[0]",
     "exactly one of port"),
    ('server = "http://h"\ntoken = "t"\n[[devices]]\nkind = "visomat-bp"\nport = 3', "devices[0].port",
     "non-empty string"),
    ('server = "http://h"\ntoken = "t"\n[[devices]]\nkind = "visomat-bp"\nport = "/d"\nbaud = 9600',
     "devices[0].baud", "unknown key"),
])
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, key: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"bad_config: {path}: {key}: "), caught.value
    assert says in str(caught.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match=r"not valid TOML: Unterminated string"):
        load_config(write(tmp_path, 'server = "http://h'))


def run_farlink(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FARLINK, "station", *args], capture_output=True, text=True, timeout=60)


def test_a_bad_config_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    path = write(tmp_path, 'server = "http://h"\ntoken = "t"\n[page]\nport = "eighty"')
    done = run_farlink("--config", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"farlink station: bad_config: {path}: page.port: expected a TCP port 0-65535 (0: any free one), got 'eighty'"]
    done = run_farlink("--config", str(path.with_name("nope.toml")))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "cannot read" in done.stderr
    done = run_farlink("--server", "http://h", "--token", "t", "--device", "toaster:/dev/x")
    assert done.returncode == 2 and "--device 'toaster:/dev/x'" in done.stderr


async def test_the_command_runs_the_file_and_options_override_it(server: Server, tmp_path: Path) -> None:
    """``farlink station --config FILE`` with a real device on a pty: online, the device read,
    the consult asked for with the file's reason and the command line's priority, and the
    "auto" profile's link check done at start."""
    cuff = await start_simulator("visomat-bp", interval_s=1.0)
    config = write_config(tmp_path / "station.toml", server.url, "wrong-token", [("visomat-bp", cuff.port)],
                          '[request]\npriority = "routine"\nreason = "from the file"')
    station = StationProcess(config, tmp_path / "station")
    station.argv += [f"--token={server.station_token}", "--priority", "emergency"]  # a token may start with "-"
    station.start()
    try:
        url = await station.page_url()
        async with aiohttp.ClientSession() as session:
            async def status() -> dict:
                async with session.get(url + "api/status") as res:
                    return await res.json()

            async def ready() -> bool:
                now = await status()
                return now["online"] and now["link"] is not None and any(d["readings"] for d in now["devices"])
            await wait_until(ready, 60, "the station online, checked and reading the cuff")
            now = await status()
        [device] = now["devices"]
        assert device["source"] == f"visomat-bp:{cuff.port}" and device["state"] == "connected"
        assert {r["value"] for r in device["readings"] if r["kind"] == "systolic"} <= set(cuff.sent_values("systolic"))
        hub = server.app[hub_key]  # type: ignore[index]
        await wait_until(lambda: bool(hub.consults), 30, "the consult request")
        [consult] = hub.consults.values()
        assert (consult.station_id, consult.priority.value, consult.reason) == ("clinic-1", "emergency", "from the file")
        assert (tmp_path / "station").is_dir()  # the file's data_dir
    finally:
        station.stop()
        await cuff.stop()
    assert station.proc is not None and station.proc.returncode == 0, station.output().decode()


def test_the_systemd_unit_is_valid_and_runs_the_documented_config(tmp_path: Path) -> None:
    """``docs/farlink-station.service`` passes ``systemd-analyze verify`` (which warns about
    every directive it cannot parse) with the venv's farlink in place of /opt/farlink's."""
    unit = (Path(__file__).parents[2] / "docs" / "farlink-station.service").read_text()
    directives = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert directives["Restart"] == "always" and directives["User"] == "farlink"
    assert "network-online.target" in directives["After"] and "network-online.target" in directives["Wants"]
    assert directives["ExecStart"] == "/opt/farlink/bin/farlink station --config /etc/farlink/station.toml"
    assert f'data_dir = "/var/lib/{directives["StateDirectory"]}"' in EXAMPLE.read_text()
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit's syntax is not checked")
    farlink = Path(sys.executable).with_name("farlink")
    (tmp_path / "farlink-station.service").write_text(unit.replace("/opt/farlink/bin/farlink", str(farlink)))
    done = subprocess.run([analyze, "verify", str(tmp_path / "farlink-station.service")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
