"""/metrics on a real server: Prometheus text that follows connections, consults and refusals."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server
from tests.signaling.helpers import next_of


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as http, http.get(url + "metrics") as res:
        assert res.status == 200 and res.content_type == "text/plain"
        text = await res.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_follow_the_hub(server: Server) -> None:
    before = await scrape(server.url)
    assert ("farlink_connections", (("role", "station"),)) not in before
    async with aiohttp.ClientSession() as http, http.ws_connect(
            server.url + "ws", headers={"Authorization": f"Bearer {server.station_token}"}) as station:
        await next_of(station, "welcome")
        await station.send_json({"type": "request_consult", "priority": "emergency", "reason": "fall"})
        await next_of(station, "consult_requested")
        await station.send_str("{garbage")
        assert (await next_of(station, "error"))["code"] == "bad_json"
        now = await scrape(server.url)
    assert now[("farlink_connections", (("role", "station"),))] == 1
    assert now[("farlink_consults_open", (("state", "waiting"),))] == 1
    assert now[("farlink_consult_requests_total", (("priority", "emergency"),))] == 1
    assert now[("farlink_ws_messages_total", (("type", "request_consult"),))] == 1
    assert now[("farlink_ws_refused_total", (("code", "bad_json"),))] == 1
