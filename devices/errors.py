"""The project's one exception root.

Every error carries a stable ``code`` (a short snake_case string) so that callers, logs and
wire messages can act on it without parsing text. The split follows h11: ``LocalError`` means
we were asked something wrong (bad config, bad argument, a user's malformed request);
``RemoteError`` means a device or peer misbehaved (garbage bytes, a dropped link).
"""

from __future__ import annotations


class FarlinkError(Exception):
    """Root of every error Farlink raises on purpose."""

    code = "farlink_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.args[0]}"


class LocalError(FarlinkError):
    """We were asked something wrong: a bad argument, configuration or request."""

    code = "bad_request"


class RemoteError(FarlinkError):
    """A device, peer or link misbehaved."""

    code = "remote_error"


class ProtocolError(RemoteError):
    """Bytes from a device did not follow its protocol (malformed, truncated, bad checksum)."""

    code = "protocol_error"


class TransportError(RemoteError):
    """A device transport (serial port, BLE link) failed or went away."""

    code = "transport_error"
