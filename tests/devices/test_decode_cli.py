"""Every shared device vector through the real ``farlink devices decode`` command (a subprocess)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devices.decode import PROTOCOLS
from devices.gatt.heart_rate import SensorContact
from devices.o2ring import O2Response
from tests.devices.ble_vectors import VECTORS

FARLINK = shutil.which("farlink", path=str(Path(sys.executable).parent)) or "farlink"
ABSENT = {"NaN": "nan", "NRes": "nres", "+INF": "+inf", "-INF": "-inf", "RFU": "reserved"}
UNITS = {"mmHg": "mm[Hg]", "kg": "kg", "lb": "[lb_av]"}
OK, BAD = 0, 2


def farlink(protocol: str, hex_: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FARLINK, "devices", "decode", protocol, hex_], capture_output=True, text=True,
                          timeout=30, check=False)


def decoded(protocol: str, hex_: str) -> dict[str, Any]:
    done = farlink(protocol, hex_)
    assert done.returncode == OK, done.stderr
    assert done.stderr == ""
    result = json.loads(done.stdout)
    assert set(result) == {"readings", "frames"}
    for reading in result["readings"]:
        assert {"kind", "value", "unit"} <= set(reading)
        assert (reading["value"] is None) == ("absent" in reading)
    return result


def rejected(protocol: str, hex_: str) -> str:
    done = farlink(protocol, hex_)
    assert done.returncode == BAD
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.strip()
    return done.stderr


def values(result: dict[str, Any]) -> dict[str, tuple[float | None, str]]:
    return {r["kind"]: (r["value"], r["unit"]) for r in result["readings"]}


def absent(result: dict[str, Any]) -> dict[str, str]:
    return {r["kind"]: r["absent"] for r in result["readings"] if "absent" in r}


# -- one check per vector family -------------------------------------------------------------

def sfloat(entry: dict[str, Any]) -> None:
    """An SFLOAT travels as a blood-pressure systolic field."""
    result = decoded("blood-pressure", "00" + entry["hex"] + "0000" + "0000")
    expected = entry["decoded"]
    if expected["value"] in ABSENT:
        assert absent(result)["systolic"] == ABSENT[expected["value"]]
        assert result["frames"][0]["systolic"] == {"absent": ABSENT[expected["value"]]}
    else:
        assert values(result)["systolic"] == (expected["value"], "mm[Hg]")
        assert result["frames"][0]["systolic"]["exponent"] == expected["_exponent"]


def float32(entry: dict[str, Any]) -> None:
    """A FLOAT travels as a temperature measurement (2.0 Cel is impossible, so only the frame shows it)."""
    result = decoded("temperature", "00" + entry["hex"])
    expected = entry["decoded"]
    if expected["value"] in ABSENT:
        assert absent(result) == {"body_temperature": ABSENT[expected["value"]]}
    else:
        assert result["readings"] == []
        assert result["frames"][0]["temperature"] == {"value": expected["value"], "exponent": expected["_exponent"]}


def blood_pressure(entry: dict[str, Any]) -> None:
    expected = entry["decoded"]
    assert values(decoded("blood-pressure", entry["hex"])) == {
        "systolic": (expected["systolic"], UNITS[expected["unit"]]),
        "diastolic": (expected["diastolic"], UNITS[expected["unit"]]),
        "mean_arterial": (expected["map"], UNITS[expected["unit"]])}


def cuff(entry: dict[str, Any]) -> None:
    expected = entry["decoded"]
    assert values(decoded("cuff-pressure", entry["hex"])) == {
        "cuff_pressure": (expected["systolic"], UNITS[expected["unit"]])}


def ua651(entry: dict[str, Any]) -> None:
    kpa = "kPa" in entry["characteristic_or_protocol"]
    result = decoded("blood-pressure", ("01" if kpa else "00") + entry["hex"] + "0000" + "0000")
    assert values(result)["systolic"] == (entry["decoded"]["value"], "kPa" if kpa else "mm[Hg]")


def heart_rate(entry: dict[str, Any]) -> None:
    expected = entry["decoded"]
    result = decoded("heart-rate", entry["hex"])
    frame = result["frames"][0]
    assert values(result)["heart_rate"] == (expected["heart_rate"], "/min")
    assert frame["contact"] == SensorContact[expected["sensor_contact"].upper()].value
    assert frame["rr_intervals"] == expected.get("rr_1_1024s", [])
    if "energy_expended_kJ" in expected:
        assert values(result)["energy_expended"] == (expected["energy_expended_kJ"], "kJ")
    assert [r["value"] for r in result["readings"] if r["kind"] == "rr_interval"] == [
        round(rr / 1024, 4) for rr in expected.get("rr_1_1024s", [])]


def reject(protocol: str) -> Callable[[dict[str, Any]], None]:
    def check(entry: dict[str, Any]) -> None:
        rejected(protocol, entry["hex"])
    return check


def racp(entry: dict[str, Any]) -> None:
    (frame,) = decoded("racp", entry["hex"])["frames"]
    assert (frame["request_op"], frame["result"]) == (entry["decoded"]["request_op"], entry["decoded"]["response"])


def plx_continuous(entry: dict[str, Any]) -> None:
    expected = entry["decoded"]
    result = decoded("plx-continuous", entry["hex"])
    got = values(result)
    assert (got["spo2"], got["pulse_rate"]) == ((expected["spo2"], "%"), (expected["pr"], "/min"))
    if "pai" in expected:
        assert got["perfusion_index"] == (expected["pai"], "%")
        frame = result["frames"][0]
        assert (frame["measurement_status"], frame["device_sensor_status"]) == (
            expected["measurement_status"], expected["device_sensor_status"])


def plx_features(entry: dict[str, Any]) -> None:
    (frame,) = decoded("plx-features", entry["hex"])["frames"]
    expected = entry["decoded"]
    assert (frame["supported"], frame["measurement_status_support"], frame["device_sensor_status_support"]) == (
        expected["supported"], expected["measurement_status_support"], expected["device_sensor_status_support"])


def weight(entry: dict[str, Any]) -> None:
    expected = entry["decoded"]
    assert values(decoded("weight", entry["hex"])) == {"body_weight": (expected["weight"], UNITS[expected["unit"]])}


def contec_command(entry: dict[str, Any]) -> None:
    assert decoded("contec-v7-command", entry["hex"])["frames"] == [entry["decoded"]]


def five_byte(entry: dict[str, Any]) -> None:
    expected = entry["decoded"]
    for protocol in ("contec-legacy", "berrymed"):
        result = decoded(protocol, entry["hex"])
        assert values(result) == {"pulse_rate": (expected["pulse_rate"], "/min"), "spo2": (expected["spo2"], "%")}
        assert result["frames"][0]["pleth"] == expected["pleth"]


def nonin_df2(entry: dict[str, Any]) -> None:
    expected = entry["decoded"]
    if not expected["valid"]:
        assert "belong to any packet" in rejected("nonin-df2", entry["hex"])
        return
    result = decoded("nonin-df2", entry["hex"])
    (frame,) = result["frames"]
    assert (bool(frame["status"] & 1), frame["float_byte"]) == (expected["sync"], expected["float"])
    assert result["readings"] == []  # heart rate and SpO2 need frames 1-3 of a packet


def nonin_select(entry: dict[str, Any]) -> None:
    assert decoded("nonin-command", entry["hex"])["frames"] == [{"type": "SelectFormat", "data_format": 0x0D}]


def nonin_time(entry: dict[str, Any]) -> None:
    assert decoded("nonin-command", entry["hex"])["frames"] == [{"type": "SetTime", "when": "2050-12-31T14:30:15"}]


def o2_request(entry: dict[str, Any]) -> None:
    (frame,) = decoded("o2ring-request", entry["hex"])["frames"]
    assert (frame["command"], frame["block"], frame["data"]) == (entry["decoded"]["cmd_or_status"], 0, "")


def o2_sensors(entry: dict[str, Any]) -> None:
    """The payload travels in a device frame (``55 00 FF ...`` with its CRC)."""
    result = decoded("o2ring", bytes(O2Response(0, 0, bytes.fromhex(entry["hex"]))).hex())
    assert absent(result) == {"spo2": "nan", "pulse_rate": "nan"}
    (frame,) = result["frames"]
    expected = entry["decoded"]
    assert (frame["spo2"], frame["heart_rate"], frame["battery"], frame["finger"]) == (
        expected["spo2"], expected["hr"], expected["battery"], bool(expected["finger"]))


def visomat_record(entry: dict[str, Any]) -> None:
    """The record travels in a memory block: STX, ``M1`` + count ``01``, the record, ETX."""
    result = decoded("visomat", "02" + b"M101".hex() + entry["hex"] + "03")
    assert values(result) == {"systolic": (134, "mm[Hg]"), "diastolic": (97, "mm[Hg]"), "pulse_rate": (83, "/min")}


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "SFLOAT 16-bit": sfloat,
    "SFLOAT special value": sfloat,
    "FLOAT 32-bit": float32,
    "FLOAT special value": float32,
    "Blood Pressure Measurement 0x2A35": blood_pressure,
    "Blood Pressure Measurement 0x2A35 (invalid)": reject("blood-pressure"),
    "Intermediate Cuff Pressure 0x2A36": cuff,
    "Heart Rate Measurement 0x2A37": heart_rate,
    "Heart Rate Measurement 0x2A37 (invalid)": reject("heart-rate"),
    "Temperature Measurement 0x2A1C (invalid)": reject("temperature"),
    "Record Access Control Point 0x2A52 indication": racp,
    "PLX Continuous Measurement 0x2A5F": plx_continuous,
    "PLX Features 0x2A60": plx_features,
    "Weight Measurement 0x2A9D": weight,
    "Contec V7.0 control command 0x7D (host->device)": contec_command,
    "5-byte live packet (sync bit7 only on byte 1)": five_byte,
    "DF2 frame: 01 STATUS PLETH FLOAT CHK": nonin_df2,
    "Host->device 'select data format' command": nonin_select,
    "Host->device 'set time' command": nonin_time,
    "Request frame AA cmd ~cmd block(le16) len(le16) data CRC8(poly 0x07)": o2_request,
    "CMD_READ_SENSORS (0x17) response payload (no finger)": o2_sensors,
    "memory dump record (ASCII)": visomat_record,
    "SFLOAT systolic mmHg": ua651,
    "SFLOAT systolic kPa": ua651,
}


@pytest.mark.parametrize("entry", VECTORS, ids=[f"{v['characteristic_or_protocol'][:30]}-{v['hex']}" for v in VECTORS])
def test_vector_through_the_cli(entry: dict[str, Any]) -> None:
    CHECKS[entry["characteristic_or_protocol"]](entry)


@pytest.mark.parametrize("protocol, hex_, reason", [
    ("contec-legacy", "80004000", "truncated"),
    ("contec-v7", "0180", "truncated"),
    ("nonin-df13", "0002000d000e2026", "truncated"),
    ("o2ring", "55", "truncated"),
    ("berrymed", "0080004000003f", "malformed"),
    ("plx-spot-check", "00", "protocol_error"),
    ("glucose", "", "truncated"),
    ("weight", "0g", "bad_hex"),
    ("o2ring-request", "aa17e8000000001c", "CRC"),
])
def test_bad_input_exits_2_with_one_line(protocol: str, hex_: str, reason: str) -> None:
    assert reason in rejected(protocol, hex_)


def test_every_required_protocol_is_offered() -> None:
    required = {"plx-spot-check", "plx-continuous", "blood-pressure", "cuff-pressure", "temperature", "heart-rate",
                "glucose", "weight", "contec-v7", "contec-legacy", "berrymed", "nonin-df2", "nonin-df7", "nonin-df8",
                "nonin-df13", "o2ring"}
    assert required <= set(PROTOCOLS)
