"""Record Access Control Point (0x2A52, write + indicate): stored-record download for glucose and PLX.

Format ``[op][operator][operand...]``. A typical download writes ``01 01`` (report all records),
receives the records as measurement notifications and ends on the indication ``06 00 01 01``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Self, TypeVar

from devices.errors import ProtocolError
from devices.gatt.fields import FieldReader

CONTROL_POINT = "2A52"


class RacpOp(IntEnum):
    REPORT_RECORDS = 1
    DELETE_RECORDS = 2
    ABORT = 3
    REPORT_NUMBER_OF_RECORDS = 4
    NUMBER_OF_RECORDS = 5
    RESPONSE_CODE = 6


class RacpOperator(IntEnum):
    NULL = 0
    ALL = 1
    LESS_OR_EQUAL = 2
    GREATER_OR_EQUAL = 3
    RANGE = 4
    FIRST = 5
    LAST = 6


class RacpResult(IntEnum):
    SUCCESS = 1
    OP_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS = 6
    ABORT_UNSUCCESSFUL = 7
    NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


E = TypeVar("E", bound=IntEnum)


def _enum(kind: type[E], value: int, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise ProtocolError(f"RACP: {value} is not a known {what}") from None


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A client request (ops 1-4). ``operand`` is the raw filter (e.g. a sequence number range)."""

    op: RacpOp
    operator: RacpOperator = RacpOperator.ALL
    operand: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> Self:
        fields = FieldReader(data, "RACP request")
        op = _enum(RacpOp, fields.uint(1, "op code"), "op code")
        if op > RacpOp.REPORT_NUMBER_OF_RECORDS:
            raise ProtocolError(f"RACP: op {op.name} is a response, not a request")
        operator = _enum(RacpOperator, fields.uint(1, "operator"), "operator")
        return cls(op, operator, fields.take(fields.remaining, "operand"))

    def __bytes__(self) -> bytes:
        return bytes([self.op, self.operator]) + self.operand


@dataclass(frozen=True, slots=True)
class RacpNumberOfRecords:
    """The server's answer to REPORT_NUMBER_OF_RECORDS: ``05 00 <u16 count>``."""

    count: int

    def __bytes__(self) -> bytes:
        return bytes([RacpOp.NUMBER_OF_RECORDS, RacpOperator.NULL]) + self.count.to_bytes(2, "little")


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """The server's final answer to a request: ``06 00 <request op> <result>``."""

    request_op: RacpOp
    result: RacpResult

    def __bytes__(self) -> bytes:
        return bytes([RacpOp.RESPONSE_CODE, RacpOperator.NULL, self.request_op, self.result])


RacpIndication = RacpNumberOfRecords | RacpResponse


def parse_indication(data: bytes) -> RacpIndication:
    """Parse what the server indicates on the control point."""
    fields = FieldReader(data, "RACP indication")
    op = _enum(RacpOp, fields.uint(1, "op code"), "op code")
    operator = fields.uint(1, "operator")
    if operator != RacpOperator.NULL:
        raise ProtocolError(f"RACP: a response carries operator 0, got {operator}")
    if op is RacpOp.NUMBER_OF_RECORDS:
        indication: RacpIndication = RacpNumberOfRecords(fields.uint(2, "number of records"))
    elif op is RacpOp.RESPONSE_CODE:
        request_op = _enum(RacpOp, fields.uint(1, "request op code"), "op code")
        indication = RacpResponse(request_op, _enum(RacpResult, fields.uint(1, "response code"), "response code"))
    else:
        raise ProtocolError(f"RACP: op {op.name} is a request, not a response")
    if fields.remaining:
        raise ProtocolError(f"RACP: {fields.remaining} unexpected bytes after the {op.name} response")
    return indication
