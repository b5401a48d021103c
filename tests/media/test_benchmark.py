"""The benchmark's run plan (the runs themselves: tests/e2e/test_link_consult.py and bench/media.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import LocalError
from media.benchmark import run_seconds, run_suite
from media.links import get_profile


def test_runs_outlast_the_outage_to_see_the_recovery() -> None:
    assert run_seconds(get_profile("certus-outage"), 60) == 120  # outage 40..100 s, then 20 s
    assert run_seconds(get_profile("bgan-64"), 60) == 60
    assert run_seconds(get_profile("certus-outage"), 300) == 300


def test_a_misspelt_profile_is_refused_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(LocalError) as caught:
        run_suite(["lan", "bgan64"], ["farlink"], 60, tmp_path)
    assert caught.value.code == "unknown_profile"
    assert not list(tmp_path.iterdir())
