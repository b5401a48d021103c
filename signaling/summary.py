"""The printable consult summary: one self-contained HTML page, vitals charted as inline SVG.

No script and no external file, so it prints, saves and archives as it is.
"""

from __future__ import annotations

import html
import time
from collections import defaultdict
from typing import Any

WIDTH, HEIGHT, PAD = 640, 160, 36


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if t else "—"


def _chart(kind: str, unit: str, points: list[tuple[float, float]]) -> str:
    """One measure over time as an SVG polyline, with its range and time span labelled."""
    t0, t1 = points[0][0], points[-1][0]
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span_t, span_v = (t1 - t0) or 1.0, (hi - lo) or 1.0

    def xy(t: float, v: float) -> str:
        x = PAD + (t - t0) / span_t * (WIDTH - 2 * PAD)
        y = HEIGHT - PAD / 2 - (v - lo) / span_v * (HEIGHT - PAD)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(t, v) for t, v in points)
    label = html.escape(f"{kind} ({unit})")
    return (
        f'<figure><figcaption>{label}: {len(points)} readings, {lo:g}–{hi:g}</figcaption>'
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{label}">'
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="none" stroke="#ccc"/>'
        f'<text x="4" y="14" font-size="11">{hi:g}</text><text x="4" y="{HEIGHT - 4}" font-size="11">{lo:g}</text>'
        f'<polyline class="series" data-kind="{html.escape(kind)}" fill="none" stroke="#c0392b" stroke-width="2" '
        f'points="{line}"/></svg><p class="span">{_when(t0)} – {_when(t1)}</p></figure>'
    )


def render(record: dict[str, Any]) -> str:
    consult = record["consult"]
    series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for reading in record["readings"]:
        if reading.get("value") is not None:
            series[(reading["kind"], reading["unit"])].append((reading["time"], reading["value"]))
    charts = "".join(_chart(kind, unit, points) for (kind, unit), points in sorted(series.items()))
    members = "".join(
        f"<tr><td>{html.escape(m['name'])}</td><td>{html.escape(str(m['role']))}</td>"
        f"<td>{_when(m['joined'])}</td><td>{_when(m['left'])}</td></tr>" for m in record["members"])
    texts = "".join(
        f"<li>{_when(c['time'])} <b>{html.escape(c['from'])}</b>: {html.escape(c['text'])}</li>"
        for c in sorted(record["chat"] + record["notes"], key=lambda c: c["time"]))
    still_items = "".join(
        f"<li>{html.escape(s['name'])} ({s['width']}×{s['height']}, {_when(s['taken'])})</li>" for s in record["stills"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Consult {html.escape(consult['station'])} — {_when(consult['created'])}</title>
<style>
body {{ font: 14px/1.4 sans-serif; margin: 2em; color: #111; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
figure {{ margin: 1em 0; break-inside: avoid; }} .span {{ color: #555; font-size: 12px; margin: 0; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
<h1>Consult summary</h1>
<table>
<tr><th>Station</th><td>{html.escape(consult['station'])}</td></tr>
<tr><th>Priority</th><td>{html.escape(consult['priority'])}</td></tr>
<tr><th>Reason</th><td>{html.escape(consult['reason'])}</td></tr>
<tr><th>State</th><td>{html.escape(consult['state'])}</td></tr>
<tr><th>Lead</th><td>{html.escape(consult['lead'] or '—')}</td></tr>
<tr><th>Requested</th><td>{_when(consult['created'])}</td></tr>
<tr><th>Last change</th><td>{_when(consult['updated'])}</td></tr>
</table>
<h2>Members</h2>
<table><tr><th>Name</th><th>Role</th><th>Joined</th><th>Left</th></tr>{members}</table>
<h2>Vitals</h2>
{charts or '<p>No readings recorded.</p>'}
<h2>Chat and notes</h2>
<ul>{texts or '<li>None.</li>'}</ul>
<h2>Stills</h2>
<ul>{still_items or '<li>None.</li>'}</ul>
<p class="span">Printed from Farlink, consult {html.escape(consult['id'])}.</p>
</body></html>
"""
