"""A station's configuration file (TOML): what ``farlink station --config FILE`` runs.

Every key is optional except the server and the token (``token``, or ``token_file`` so the
secret can stay readable by root and the station's user only). Command-line options override
the file. A bad file is a :class:`ConfigError` naming the file and the key; the command turns it
into one line and exit code 2. ``docs/station.example.toml`` is the commented example.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.catalog import KINDS
from devices.errors import LocalError
from media.links import load_profiles
from station.linkcheck import AUTO
from station.peer import MediaMode

PRIORITIES = ("emergency", "urgent", "routine")


class ConfigError(LocalError):
    code = "bad_config"


@dataclass(frozen=True)
class DeviceConfig:
    kind: str
    port: str  # a serial path, or a BLE address or name


@dataclass(frozen=True)
class StationConfig:
    """Defaults are those of ``farlink station`` without a file."""

    server: str = ""
    token: str = ""
    data_dir: Path = Path("station-data")
    camera: str | None = None  # a device path; None: a moving test pattern
    microphone: str | None = None  # a PulseAudio/ALSA source; None: a test tone
    devices: tuple[DeviceConfig, ...] = ()
    profile: str = AUTO
    media: MediaMode = MediaMode.FARLINK
    page_host: str = "127.0.0.1"
    page_port: int = 8090
    request: bool = True  # ask for a consult on start and again after each one ends
    priority: str = "routine"
    reason: str = "Consult requested"
    simulate: tuple[str, ...] = ()  # command line only: simulated devices of these kinds


_KEYS = {"server", "token", "token_file", "data_dir", "camera", "microphone", "devices", "profile", "media",
         "page", "request"}
_PAGE_KEYS = {"host", "port"}
_REQUEST_KEYS = {"auto", "priority", "reason"}
_DEVICE_KEYS = {"kind", "port", "address", "name"}


def load_config(path: Path) -> StationConfig:
    """Read and check ``path``; relative paths in it are relative to its directory."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return _Reader(path).config(data)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")

    def config(self, data: dict[str, Any]) -> StationConfig:
        self.unknown("", data, _KEYS)
        server = self.string(data, "server")
        if server is None or not server.startswith(("http://", "https://")):
            raise self.error("server", "required: the signaling server's URL, http:// or https://")
        page = self.table(data, "page", _PAGE_KEYS)
        request = self.table(data, "request", _REQUEST_KEYS)
        defaults = StationConfig()
        return StationConfig(
            server=server,
            token=self.token(data),
            data_dir=self.resolve(self.string(data, "data_dir")) or defaults.data_dir,
            camera=self.device_path(data, "camera"),
            microphone=self.device_path(data, "microphone"),
            devices=self.devices(data.get("devices", [])),
            profile=self.profile(data),
            media=self.choice(data, "media", [m.value for m in MediaMode], defaults.media.value, MediaMode),
            page_host=self.string(page, "host", "page.host") or defaults.page_host,
            page_port=self.port(page),
            request=self.boolean(request, "auto", "request.auto", defaults.request),
            priority=self.choice(request, "priority", list(PRIORITIES), defaults.priority, str, "request.priority"),
            reason=self.string(request, "reason", "request.reason") or defaults.reason,
        )

    # -- the keys ---------------------------------------------------------------------------

    def token(self, data: dict[str, Any]) -> str:
        token, token_file = self.string(data, "token"), self.string(data, "token_file")
        if (token is None) == (token_file is None):
            raise self.error("token", "give exactly one of token and token_file")
        if token_file is not None:
            path = self.resolve(token_file)
            assert path is not None
            try:
                token = path.read_text().strip()
            except OSError as exc:
                raise self.error("token_file", f"cannot read {path}: {exc.strerror or exc}") from exc
        if not token:
            raise self.error("token_file" if token_file else "token", "the station token is empty")
        return token

    def device_path(self, data: dict[str, Any], key: str) -> str | None:
        """A device path or name; an integer camera index n is /dev/videoN; "none" or absent: generated."""
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and key == "camera" and value >= 0:
            return f"/dev/video{value}"
        if value is None or value == "none":
            return None
        if not isinstance(value, str) or not value:
            expected = "a device path, an index or \"none\"" if key == "camera" else "a device name or \"none\""
            raise self.error(key, f"expected {expected}, got {value!r}")
        return value

    def devices(self, value: Any) -> tuple[DeviceConfig, ...]:
        if not isinstance(value, list):
            raise self.error("devices", "expected an array of tables: [[devices]] kind = ... port = ...")
        devices = []
        for index, table in enumerate(value):
            key = f"devices[{index}]"
            if not isinstance(table, dict):
                raise self.error(key, "expected a table with kind and port (or address, or name)")
            self.unknown(key + ".", table, _DEVICE_KEYS)
            kind = self.string(table, "kind", key + ".kind")
            if kind not in KINDS:
                raise self.error(key + ".kind", f"unknown device kind {kind!r}; known: {', '.join(KINDS)}")
            where = [name for name in ("port", "address", "name") if name in table]
            if len(where) != 1:
                raise self.error(key, "give exactly one of port (serial), address or name (BLE)")
            port = self.string(table, where[0], f"{key}.{where[0]}")
            assert port is not None
            devices.append(DeviceConfig(kind, port))
        return tuple(devices)

    def profile(self, data: dict[str, Any]) -> str:
        names = [AUTO, *load_profiles()]
        return self.choice(data, "profile", names, AUTO, str)

    def port(self, page: dict[str, Any]) -> int:
        value = page.get("port", StationConfig.page_port)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise self.error("page.port", f"expected a TCP port 0-65535 (0: any free one), got {value!r}")
        return value

    # -- types --------------------------------------------------------------------------------

    def unknown(self, prefix: str, table: dict[str, Any], known: set[str]) -> None:
        for key in table:
            if key not in known:
                raise self.error(prefix + key, f"unknown key; known: {', '.join(sorted(known))}")

    def table(self, data: dict[str, Any], key: str, known: set[str]) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table [{key}]")
        self.unknown(key + ".", value, known)
        return value

    def string(self, data: dict[str, Any], key: str, name: str | None = None) -> str | None:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.error(name or key, f"expected a non-empty string, got {value!r}")
        return value

    def boolean(self, data: dict[str, Any], key: str, name: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {value!r}")
        return value

    def choice(self, data: dict[str, Any], key: str, allowed: list[str], default: str, make: Any,
               name: str | None = None) -> Any:
        value = data.get(key, default)
        if value not in allowed:
            raise self.error(name or key, f"{value!r} is not one of {', '.join(allowed)}")
        return make(value)

    def resolve(self, value: str | None) -> Path | None:
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.path.parent / path
