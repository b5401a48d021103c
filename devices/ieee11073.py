"""IEEE 11073-20601 MDER numbers: the 16-bit SFLOAT and 32-bit FLOAT of the Bluetooth health profiles.

Both are ``mantissa * 10**exponent`` with a signed (two's-complement) exponent and mantissa and
**no exponent bias** (some public parsers add one and read 98 % as 98e-8). The exponent is kept
so that precision survives (``2.0`` is mantissa 20, exponent -1; ``2.00`` is 200, -2). Special
values (NaN, NRes, +INF, -INF, reserved) exist only with exponent 0 and become an
:class:`~devices.reading.Absent` reason instead of a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from devices.errors import LocalError
from devices.reading import Absent


@dataclass(frozen=True, slots=True)
class _Layout:
    mantissa_bits: int
    exponent_bits: int
    specials: dict[int, Absent]  # mantissa (unsigned field value, exponent 0) -> reason

    @property
    def mantissa_mask(self) -> int:
        return (1 << self.mantissa_bits) - 1

    @property
    def width(self) -> int:
        return self.mantissa_bits + self.exponent_bits


def _specials(mantissa_bits: int) -> dict[int, Absent]:
    top = 1 << (mantissa_bits - 1)  # 0x800 for SFLOAT, 0x800000 for FLOAT
    return {
        top - 1: Absent.NAN,
        top: Absent.NRES,
        top - 2: Absent.POS_INF,
        top + 2: Absent.NEG_INF,
        top + 1: Absent.RESERVED,
    }


SFLOAT = _Layout(12, 4, _specials(12))
FLOAT = _Layout(24, 8, _specials(24))


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


@dataclass(frozen=True, slots=True)
class Mder:
    """One MDER number: ``mantissa * 10**exponent``, or a special value (``absent`` set).

    For a special value ``mantissa`` and ``exponent`` are 0 and carry no meaning.
    """

    mantissa: int
    exponent: int = 0
    absent: Absent | None = None

    @classmethod
    def special(cls, reason: Absent) -> Mder:
        return cls(0, 0, reason)

    @classmethod
    def from_decimal(cls, value: Decimal | str | int) -> Mder:
        """The number with the fewest mantissa digits that keeps ``value``'s written precision."""
        sign, digits, exponent = Decimal(value).as_tuple()
        if not isinstance(exponent, int):
            raise LocalError(f"{value!r} is not a finite number", code="bad_value")
        mantissa = int("".join(map(str, digits)) or "0")
        return cls(-mantissa if sign else mantissa, exponent)

    @property
    def decimal(self) -> Decimal | None:
        """The exact value (``Decimal('2.0')`` keeps its precision), None for a special value."""
        if self.absent is not None:
            return None
        return Decimal(self.mantissa).scaleb(self.exponent)

    @property
    def value(self) -> float | None:
        """The value as the nearest float (``18.9``, not ``18.900000000000002``)."""
        exact = self.decimal
        return None if exact is None else float(exact)

    def scaled(self, powers_of_ten: int) -> Mder:
        """The same number times ``10**powers_of_ten``, exactly (a unit change such as kg/L -> mg/dL)."""
        if self.absent is not None:
            return self
        return Mder(self.mantissa, self.exponent + powers_of_ten)

    # -- wire forms -------------------------------------------------------------------------

    @classmethod
    def from_sfloat(cls, raw: int) -> Mder:
        return cls._decode(raw, SFLOAT)

    @classmethod
    def from_float(cls, raw: int) -> Mder:
        return cls._decode(raw, FLOAT)

    def to_sfloat(self) -> int:
        """The 16-bit SFLOAT; raises LocalError when the number does not fit."""
        return self._encode(SFLOAT)

    def to_float(self) -> int:
        """The 32-bit FLOAT; raises LocalError when the number does not fit."""
        return self._encode(FLOAT)

    @classmethod
    def _decode(cls, raw: int, layout: _Layout) -> Mder:
        if not 0 <= raw < 1 << layout.width:
            raise LocalError(f"{raw:#x} is not a {layout.width}-bit value", code="bad_value")
        field = raw & layout.mantissa_mask
        exponent = _signed(raw >> layout.mantissa_bits, layout.exponent_bits)
        if exponent == 0 and field in layout.specials:
            return cls.special(layout.specials[field])
        return cls(_signed(field, layout.mantissa_bits), exponent)

    def _encode(self, layout: _Layout) -> int:
        if self.absent is not None:
            return next(field for field, reason in layout.specials.items() if reason is self.absent)
        mantissa, exponent = self.mantissa, self.exponent
        limit = 1 << (layout.mantissa_bits - 1)
        # Too many digits for the mantissa: drop trailing zeros into the exponent.
        while not -limit <= mantissa < limit and mantissa % 10 == 0:
            mantissa, exponent = mantissa // 10, exponent + 1
        low_exp = -(1 << (layout.exponent_bits - 1))
        if not low_exp <= exponent < -low_exp or not -limit <= mantissa < limit:
            raise LocalError(f"{self.decimal} does not fit a {layout.width}-bit MDER number",
                             code="bad_value")
        field = mantissa & layout.mantissa_mask
        if exponent == 0 and field in layout.specials:
            raise LocalError(f"{mantissa} with exponent 0 is a reserved MDER pattern", code="bad_value")
        return ((exponent & ((1 << layout.exponent_bits) - 1)) << layout.mantissa_bits) | field
