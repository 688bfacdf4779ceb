"""Prometheus metrics: requests and latency by route and status, open WebSockets, database and batch writers.

They are served by an application of their own (`metrics_app`), on the METRICS_HOST:METRICS_PORT listener, never
on the public one: figures about the traffic and the load are for the operator, not the world.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.storage.batch import BatchWriter
from server.storage.database import Database
from server.web.request_id import route_name


class _LiveFigures(Collector):
    """Figures read at scrape time from the objects that own them."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        sockets = GaugeMetricFamily("websocket_connections", "Open WebSocket connections")
        sockets.add_metric([], m.open_websockets())
        yield sockets
        if m.database is not None:
            db = GaugeMetricFamily("database_pool", "Database connections by state", labels=["backend", "figure"])
            for figure, value in m.database.stats().items():
                db.add_metric([m.database.backend, figure], value)
            yield db
        queued = GaugeMetricFamily("batch_writer_queued_rows", "Rows waiting for their batch", labels=["writer"])
        batches = GaugeMetricFamily("batch_writer_batches", "Batches committed", labels=["writer"])
        rows = GaugeMetricFamily("batch_writer_rows", "Rows committed", labels=["writer"])
        failed = GaugeMetricFamily("batch_writer_failed_rows", "Rows whose write failed", labels=["writer"])
        last = GaugeMetricFamily("batch_writer_last_batch_rows", "Rows in the last batch", labels=["writer"])
        commit = GaugeMetricFamily("batch_writer_last_commit_seconds", "Time the last batch took", labels=["writer"])
        for writer in m.writers:
            queued.add_metric([writer.name], writer.queued)
            batches.add_metric([writer.name], writer.stats.batches)
            rows.add_metric([writer.name], writer.stats.rows)
            failed.add_metric([writer.name], writer.stats.failed_rows)
            last.add_metric([writer.name], writer.stats.last_batch_rows)
            commit.add_metric([writer.name], writer.stats.last_commit_seconds)
        yield from (queued, batches, rows, failed, last, commit)
        for name, (description, counters) in m.counters.items():
            family = GaugeMetricFamily(name, description, labels=["figure"])
            for figure, value in vars(counters).items():
                family.add_metric([figure], float(value))
            yield family


class Metrics:
    """One registry per application, so several apps (tests) never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.database: Database | None = None
        self.writers: list[BatchWriter[Any, Any]] = []
        self.open_websockets: Callable[[], int] = lambda: 0
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # Counters kept by parts of the server (each a dataclass of numbers), by metric name, with a description.
        self.counters: dict[str, tuple[str, object]] = {}
        self.registry.register(_LiveFigures(self))

    def count(self, method: str, route: str, status: int, seconds: float) -> None:
        # Looking up label children is the costly part of prometheus_client; routes and statuses are few.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def metrics_middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = route_name(request)
            metrics.count(request.method, route, status, time.perf_counter() - started)

    return middleware


def metrics_app(metrics: Metrics) -> web.Application:
    """The application of the metrics listener: `GET /metrics` in Prometheus's text format, nothing else."""

    async def exposition(request: web.Request) -> web.Response:
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    app = web.Application()
    app.router.add_get("/metrics", exposition)
    return app
