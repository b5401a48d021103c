"""Link profiles load from the packaged TOML, and bad ones are refused with a code."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import LocalError
from media.links import get_profile, load_profiles


def test_packaged_profiles_match_the_design() -> None:
    profiles = load_profiles()
    assert list(profiles) == ["lan", "starlink", "vsat-geo", "bgan-256", "bgan-64", "bgan-field", "certus-outage"]
    bgan = profiles["bgan-64"]
    assert (bgan.up_kbps, bgan.down_kbps, bgan.rtt_ms, bgan.loss, bgan.queue_ms) == (64, 64, 900, 0.01, 1500)
    assert profiles["certus-outage"].outages == ((40.0, 60.0),)
    assert profiles["starlink"].handover_every_s == 15


@pytest.mark.parametrize(("text", "code"), [
    ("[x]\nup = 1\n", "bad_profile"),                                   # missing keys
    ("[x]\nup = 1\ndown = 1\nrtt = 1\nspeed = 3\n", "bad_profile"),      # unknown key
    ("[x]\nup = -5\ndown = 1\nrtt = 1\n", "bad_profile"),                # negative rate
    ("[x]\nup = 1\ndown = 1\nrtt = 1\nloss = 2\n", "bad_profile"),       # loss above 1
    ("[x]\nup = 'fast'\ndown = 1\nrtt = 1\n", "bad_profile"),            # not a number
    ("[x\nup = 1", "bad_profile"),                                     # not TOML
])
def test_bad_profiles_are_refused_with_a_code(tmp_path: Path, text: str, code: str) -> None:
    path = tmp_path / "links.toml"
    path.write_text(text)
    with pytest.raises(LocalError) as caught:
        load_profiles(path)
    assert caught.value.code == code


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(LocalError, match="bgan-64") as caught:
        get_profile("moon")
    assert caught.value.code == "unknown_profile"
