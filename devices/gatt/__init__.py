"""Bluetooth SIG GATT health-profile characteristics as pure frames (no bleak, no asyncio).

Each module holds one profile's characteristic values as dataclasses with ``parse(data)``
(raising :class:`devices.errors.ProtocolError`), ``__bytes__`` for the round trip and
``readings(time, source)`` giving the :class:`devices.reading.Reading` values they carry.
"""
