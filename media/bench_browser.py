"""The benchmark's specialist: real headless Chromium joins a consult and records what it got.

Run inside the specialist's network namespace by ``media.benchmark``:
``python -m media.bench_browser --url URL --user NAME --password PW --seconds N --out FILE``.
The page is the real specialist page; ``web/probe.js`` is injected before it loads and records
each decoded frame's capture-time delay, each vitals message's one-way latency and stats samples.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
]
PROBE = Path(__file__).parent / "web" / "probe.js"


async def run(url: str, user: str, password: str, seconds: float, out: Path, chromium: str) -> None:
    from playwright.async_api import async_playwright

    origin = url.rstrip("/")
    flags = CHROMIUM_FLAGS + [f"--unsafely-treat-insecure-origin-as-secure={origin}"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=flags, headless=True)
        page = await browser.new_page()
        await page.add_init_script(path=str(PROBE))
        await page.goto(url, timeout=120_000)
        await page.fill("#name", user)
        await page.fill("#password", password)
        await page.click("#login-btn")
        join = page.locator("button.join")
        await join.first.wait_for(timeout=180_000)
        joined_at = time.time()
        await join.first.click()
        await asyncio.sleep(seconds)
        probe = await page.evaluate("() => ({frames: __probe.frames, vitals: __probe.vitals, stats: __probe.stats, link: __probe.link})")
        probe["joined_at"] = joined_at
        out.write_text(json.dumps(probe))
        await page.screenshot(path=str(out.with_suffix(".png")))
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.user, args.password, args.seconds, args.out, args.chromium))


if __name__ == "__main__":
    main()
