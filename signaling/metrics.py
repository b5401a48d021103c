"""Prometheus metrics at /metrics: what the hub is doing now, and counts since start.

Each app gets its own registry (tests run many apps in one process). Gauges that describe the
present (connections by role, open consults by state, the queue) are read from the hub at
scrape time, so they can never drift from the truth; counters are bumped where things happen.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from signaling.hub import Hub


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter("farlink_ws_messages_total", "WebSocket messages handled, by type",
                                ["type"], registry=self.registry)
        self.refused = Counter("farlink_ws_refused_total", "WebSocket messages refused, by error code",
                               ["code"], registry=self.registry)
        self.requests = Counter("farlink_consult_requests_total", "Consults requested, by priority",
                                ["priority"], registry=self.registry)

    def watch(self, hub: Callable[[], Hub]) -> None:
        self.registry.register(_HubCollector(hub))

    async def handler(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


class _HubCollector(Collector):
    def __init__(self, hub: Callable[[], Hub]) -> None:
        self._hub = hub

    def collect(self) -> Iterator[GaugeMetricFamily]:
        hub = self._hub()
        members = GaugeMetricFamily("farlink_connections", "Open WebSocket connections, by role", labels=["role"])
        for role, count in sorted(Tally(m.principal.role.value for m in hub.members.values()).items()):
            members.add_metric([role], count)
        yield members
        consults = GaugeMetricFamily("farlink_consults_open", "Open consults, by state", labels=["state"])
        for state, count in sorted(Tally(c.state.value for c in hub.consults.values()).items()):
            consults.add_metric([state], count)
        yield consults
        yield GaugeMetricFamily("farlink_wait_estimate_seconds", "Running mean consult length used for estimates",
                                value=hub.estimator.mean_s)
