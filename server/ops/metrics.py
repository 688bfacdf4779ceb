"""Prometheus metrics: requests and latency by route and status, open WebSockets, database statements and
connections, and batch writers.

They are served by an application of their own (`metrics_app`), on the METRICS_HOST:METRICS_PORT listener, never
on the public one: figures about the traffic and the load are for the operator, not the world.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from server.storage.batch import BatchWriter
from server.storage.database import Database
from server.storage.timing import StatementTimings

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class RequestFigures:
    """Requests by method, route and status, and their latency by method and route, kept as plain numbers and
    turned into Prometheus's counter and histogram only when scraped. prometheus_client's own metrics take a
    lock and look up a labelled child on every request, which costs a device write more than it needs."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        # per (method, route): one count per bucket (the last for above all), then the sum of seconds
        self.latency: dict[tuple[str, str], list[float]] = {}

    def add(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram = self.latency.get((method, route))
        if histogram is None:
            histogram = self.latency[method, route] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        histogram[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        histogram[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "http_requests", "HTTP requests by route and status", labels=["method", "route", "status"]
        )
        for (method, route, status), count in self.counts.items():
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "http_request_duration_seconds", "HTTP request latency by route", labels=["method", "route"]
        )
        for (method, route), histogram in self.latency.items():
            buckets: list[tuple[str, float]] = []
            running = 0.0
            for bound, in_bucket in zip(_BOUNDS, histogram[:-1], strict=True):
                running += in_bucket
                buckets.append((bound, running))
            latency.add_metric([method, route], buckets, sum_value=histogram[-1])
        yield latency


_BOUNDS = (*(repr(bound) for bound in LATENCY_BUCKETS), "+Inf")  # as Prometheus writes `le`


class _LiveFigures(Collector):
    """Figures read at scrape time from the objects that own them."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        yield from m.requests.collect()
        sockets = GaugeMetricFamily("websocket_connections", "Open WebSocket connections")
        sockets.add_metric([], m.open_websockets())
        yield sockets
        if m.database is not None:
            db = GaugeMetricFamily("database_pool", "Database connections by state", labels=["backend", "figure"])
            for figure, value in m.database.stats().items():
                db.add_metric([m.database.backend, figure], value)
            yield db
        if m.statements is not None:
            yield from _statement_families(m.statements)
        queued = GaugeMetricFamily("batch_writer_queued_rows", "Rows waiting for their batch", labels=["writer"])
        writing = GaugeMetricFamily("batch_writer_writing_rows", "Rows in the batch being written", labels=["writer"])
        refused = GaugeMetricFamily(
            "batch_writer_refused_rows", "Rows refused because the queue was full", labels=["writer"]
        )
        batches = GaugeMetricFamily("batch_writer_batches", "Batches committed", labels=["writer"])
        rows = GaugeMetricFamily("batch_writer_rows", "Rows committed", labels=["writer"])
        failed = GaugeMetricFamily("batch_writer_failed_rows", "Rows whose write failed", labels=["writer"])
        last = GaugeMetricFamily("batch_writer_last_batch_rows", "Rows in the last batch", labels=["writer"])
        commit = GaugeMetricFamily("batch_writer_last_commit_seconds", "Time the last batch took", labels=["writer"])
        commits = GaugeMetricFamily("batch_writer_commit_seconds", "Time all batches took", labels=["writer"])
        for writer in m.writers:
            queued.add_metric([writer.name], writer.queued)
            writing.add_metric([writer.name], writer.writing)
            refused.add_metric([writer.name], writer.stats.refused_full)
            batches.add_metric([writer.name], writer.stats.batches)
            rows.add_metric([writer.name], writer.stats.rows)
            failed.add_metric([writer.name], writer.stats.failed_rows)
            last.add_metric([writer.name], writer.stats.last_batch_rows)
            commit.add_metric([writer.name], writer.stats.last_commit_seconds)
            commits.add_metric([writer.name], writer.stats.commit_seconds)
        yield from (queued, writing, refused, batches, rows, failed, last, commit, commits)
        for name, (description, counters) in m.counters.items():
            family = GaugeMetricFamily(name, description, labels=["figure"])
            for figure, value in vars(counters).items():
                family.add_metric([figure], float(value))
            yield family


def _statement_families(timings: StatementTimings) -> Iterator[Metric]:
    calls = CounterMetricFamily("database_statements", "Database statements by name", labels=["statement"])
    seconds = CounterMetricFamily(
        "database_statement_seconds", "Time database statements took, by name", labels=["statement"]
    )
    slow = CounterMetricFamily(
        "database_slow_statements", "Statements slower than SLOW_QUERY_MS, by name", labels=["statement"]
    )
    for name, (count, took, slow_count) in list(timings.figures.items()):
        calls.add_metric([name], count)
        seconds.add_metric([name], took)
        slow.add_metric([name], slow_count)
    yield from (calls, seconds, slow)


class Metrics:
    """One registry per application, so several apps (tests) never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = RequestFigures()  # counted by server/web/request_id.py's middleware
        self.database: Database | None = None
        self.statements: StatementTimings | None = None  # kept by server/storage/guarded.py
        self.writers: list[BatchWriter[Any, Any]] = []
        self.open_websockets: Callable[[], int] = lambda: 0
        # Counters kept by parts of the server (each a dataclass of numbers), by metric name, with a description.
        self.counters: dict[str, tuple[str, object]] = {}
        self.registry.register(_LiveFigures(self))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def metrics_app(metrics: Metrics) -> web.Application:
    """The application of the metrics listener: `GET /metrics` in Prometheus's text format, nothing else."""

    async def exposition(request: web.Request) -> web.Response:
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    app = web.Application()
    app.router.add_get("/metrics", exposition)
    return app
