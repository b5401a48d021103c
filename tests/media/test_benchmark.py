"""The benchmark's run plan (the runs themselves: tests/e2e/test_link_consult.py and bench/media.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import LocalError
from media.benchmark import run_seconds, run_suite, since
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


def test_the_window_counts_only_what_crossed_the_link_after_the_join() -> None:
    """The link check and the logins before the join crossed the link too: 8 kbit/s of "other"
    on a 24 kbit/s uplink when it was averaged over the call."""
    at_join = {"up": {"other": {"bytes": 90_000, "packets": 300, "dropped": 2}}}
    end = {"up": {"other": {"bytes": 95_000, "packets": 320, "dropped": 2},
                  "video": {"bytes": 40_000, "packets": 60, "dropped": 1}}}
    assert since(end, at_join) == {"up": {"other": {"bytes": 5_000, "packets": 20, "dropped": 0},
                                          "video": {"bytes": 40_000, "packets": 60, "dropped": 1}}}
