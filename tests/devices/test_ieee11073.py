from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import LocalError
from devices.ieee11073 import Mder
from devices.reading import Absent
from tests.devices.ble_vectors import ids, vectors

SPECIAL = {"NaN": Absent.NAN, "NRes": Absent.NRES, "+INF": Absent.POS_INF, "-INF": Absent.NEG_INF,
           "RFU": Absent.RESERVED}


def _check(decoded: Mder, expected: dict[str, Any]) -> None:
    if isinstance(expected["value"], str):
        assert decoded.absent is SPECIAL[expected["value"]]
        assert decoded.value is None and decoded.decimal is None
    else:
        assert decoded.absent is None
        assert decoded.value == expected["value"]
        if "_exponent" in expected:
            assert (decoded.mantissa, decoded.exponent) == (expected["_mantissa"], expected["_exponent"])


SFLOATS = vectors("SFLOAT")
FLOATS = vectors("FLOAT")


@pytest.mark.parametrize("entry", SFLOATS, ids=ids(SFLOATS))
def test_sfloat_vectors(entry: dict[str, Any]) -> None:
    raw = int.from_bytes(bytes.fromhex(entry["hex"]), "little")
    decoded = Mder.from_sfloat(raw)
    _check(decoded, entry["decoded"])
    assert decoded.to_sfloat() == raw


@pytest.mark.parametrize("entry", FLOATS, ids=ids(FLOATS))
def test_float_vectors(entry: dict[str, Any]) -> None:
    raw = int.from_bytes(bytes.fromhex(entry["hex"]), "little")
    decoded = Mder.from_float(raw)
    _check(decoded, entry["decoded"])
    assert decoded.to_float() == raw


def test_precision_is_kept() -> None:
    assert Mder.from_sfloat(0xF014).decimal == Decimal("2.0")
    assert str(Mder.from_sfloat(0xE0C8).decimal) == "2.00"
    assert str(Mder.from_sfloat(0xF014).decimal) == "2.0"


def test_no_exponent_bias() -> None:
    # 98 % with exponent 0 is 0x0062. A biased decoder reads 0x8062 as 98; it is 98e-8.
    assert Mder.from_sfloat(0x0062).value == 98.0
    assert Mder.from_sfloat(0x8062).decimal == Decimal("98E-8")


def test_negative_mantissa_and_exponent() -> None:
    assert Mder.from_sfloat(0x0B2E).value == -1234
    assert Mder.from_float(0x00FFFB2E).value == -1234
    assert Mder.from_sfloat(0xF0BD).value == 18.9  # not 18.900000000000002


def test_special_pattern_with_nonzero_exponent_is_a_number() -> None:
    assert Mder.from_sfloat(0x17FF).value == 20470.0


def test_encode_from_decimal() -> None:
    assert Mder.from_decimal("98.5").to_sfloat() == 0xF3D9
    assert Mder.from_decimal("36.6").to_float() == 0xFF00016E
    assert Mder(98000, 0).to_sfloat() == 0x23D4  # 980e2: trailing zeros move into the exponent


@pytest.mark.parametrize("value", [Mder(5001), Mder(1, 8), Mder(2047, 0), Mder(-2048, 0)])
def test_unencodable_sfloat_is_refused(value: Mder) -> None:
    with pytest.raises(LocalError):
        value.to_sfloat()


def test_out_of_range_raw_is_refused() -> None:
    with pytest.raises(LocalError):
        Mder.from_sfloat(0x10000)


@given(st.integers(0, 0xFFFF))
def test_every_sfloat_round_trips(raw: int) -> None:
    decoded = Mder.from_sfloat(raw)
    assert decoded.to_sfloat() == raw


@given(st.integers(0, 0xFFFFFFFF))
def test_every_float_round_trips(raw: int) -> None:
    decoded = Mder.from_float(raw)
    assert decoded.to_float() == raw
    if decoded.absent is None:
        assert Mder.from_float(Mder.from_decimal(decoded.decimal or 0).to_float()).decimal == decoded.decimal
