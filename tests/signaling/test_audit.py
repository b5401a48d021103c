"""The audit log's hash chain, checked through the real ``farlink admin verify-audit`` command."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import Server
from tests.signaling.helpers import logged_in
from tests.signaling.test_record import run_consult


def verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "station.cli", "admin", "--data-dir", str(data_dir), "verify-audit"],
                          capture_output=True, text=True, timeout=120)


async def test_verify_audit_passes_then_names_the_first_tampered_entry(server: Server, tmp_path: Path) -> None:
    consult = await run_consult(server)
    doctor, _ = await logged_in(server.url, *server.specialist)
    async with doctor:
        for route in ("", "/fhir", "/summary", ""):
            async with doctor.get(server.url + f"api/consults/{consult}{route}") as res:
                assert res.status == 200
    data_dir = tmp_path / "data"  # where the server fixture keeps its SQLite database
    done = verify(data_dir)
    assert done.returncode == 0, done.stderr
    assert "intact: 5 entries" in done.stdout

    with sqlite3.connect(data_dir / "farlink.db") as db:
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    done = verify(data_dir)
    assert done.returncode == 1
    assert "entry 3" in done.stderr and "does not match its hash" in done.stderr

    with sqlite3.connect(data_dir / "farlink.db") as db:
        db.execute("UPDATE audit_log SET actor = 'doctor' WHERE seq = 3")  # put back...
    assert verify(data_dir).returncode == 0
    with sqlite3.connect(data_dir / "farlink.db") as db:
        db.execute("DELETE FROM audit_log WHERE seq = 2")  # ...then remove one
    done = verify(data_dir)
    assert done.returncode == 1 and "entry 3" in done.stderr and "does not follow" in done.stderr
