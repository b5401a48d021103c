"""The WebSocket message schema: a type whitelist per role, required fields, a size cap.

Every message is a JSON object with a ``type``. Bad input raises :class:`LocalError` with one of
the codes below; the hub turns it into ``{"type": "error", "code": ..., "message": ...}`` and
keeps the connection open.
"""

from __future__ import annotations

import json
from typing import Any

from devices.errors import LocalError
from signaling.accounts import Role

# type -> (roles allowed to send it, required fields with their JSON types)
SCHEMA: dict[str, tuple[frozenset[Role], dict[str, type | tuple[type, ...]]]] = {
    "ping": (frozenset(Role), {}),
    "request_consult": (frozenset({Role.STATION}), {"priority": str, "reason": str}),
    "cancel_consult": (frozenset({Role.STATION}), {"consult": str}),
    "join": (frozenset({Role.SPECIALIST, Role.ADMIN}), {"consult": str}),
    "claim": (frozenset({Role.SPECIALIST, Role.ADMIN}), {"consult": str}),
    "claim_next": (frozenset({Role.SPECIALIST, Role.ADMIN}), {}),
    "decline": (frozenset({Role.SPECIALIST, Role.ADMIN}), {"consult": str}),
    "transfer": (frozenset({Role.SPECIALIST, Role.ADMIN}), {"consult": str}),
    "observe": (frozenset({Role.OBSERVER, Role.SPECIALIST, Role.ADMIN}), {"consult": str}),
    "invite": (frozenset({Role.SPECIALIST, Role.ADMIN}), {"consult": str, "user": str, "as": str}),
    "signal": (frozenset(Role), {"consult": str, "to": str, "data": dict}),
    "leave": (frozenset(Role), {"consult": str}),
    "end": (frozenset({Role.SPECIALIST, Role.ADMIN}), {"consult": str}),
    "note": (frozenset({Role.SPECIALIST, Role.ADMIN, Role.STATION}), {"consult": str, "text": str}),
}

ERROR_CODES = {
    "bad_json": "the message is not a JSON object",
    "too_large": "the message is larger than the server accepts",
    "unknown_type": "the message type is not one the server knows",
    "forbidden": "your role may not send this message",
    "bad_field": "a required field is missing or has the wrong type",
    "not_member": "you are not a member of that consult",
    "no_consult": "no such open consult",
    "bad_transition": "the consult is not in a state that allows this",
    "rate_limited": "too many messages; slow down",
    "not_invited": "a live consult is entered only on its lead's invitation",
    "not_online": "the invited user is not connected in a role that fits the invitation",
}


def parse(raw: str, role: Role, max_bytes: int) -> dict[str, Any]:
    """Validate one text frame from a client with ``role``; return the message object."""
    if len(raw.encode()) > max_bytes:
        raise LocalError(f"message over {max_bytes} bytes", code="too_large")
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise LocalError(f"invalid JSON: {exc}", code="bad_json") from exc
    if not isinstance(message, dict):
        raise LocalError("a message is a JSON object", code="bad_json")
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in SCHEMA:
        raise LocalError(f"unknown message type {kind!r}", code="unknown_type")
    roles, fields = SCHEMA[kind]
    if role not in roles:
        raise LocalError(f"a {role} may not send {kind!r}", code="forbidden")
    for name, expected in fields.items():
        if not isinstance(message.get(name), expected):
            raise LocalError(f"{kind!r} needs field {name!r}", code="bad_field")
    return message
