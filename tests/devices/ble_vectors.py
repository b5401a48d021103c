"""The shared device vectors (a copy of design/vectors/devices.json, so a clean clone has them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS: list[dict[str, Any]] = json.loads((Path(__file__).parent / "devices.json").read_text())


def vectors(characteristic_prefix: str) -> list[dict[str, Any]]:
    found = [v for v in VECTORS if v["characteristic_or_protocol"].startswith(characteristic_prefix)]
    assert found, f"no vector for {characteristic_prefix!r}"
    return found


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["hex"] for entry in entries]
