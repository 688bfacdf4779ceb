"""Start the server: uvloop, settings from the environment, a clean stop on SIGTERM; with WORKERS=N, a supervisor
of N processes on one port (server/ops/workers.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys

import uvloop
from aiohttp import web

from server.app import create_app
from server.config import ConfigError, Settings
from server.keys import metrics_key
from server.ops.logs import setup_logging
from server.ops.metrics import metrics_app
from server.ops.workers import Supervisor, WorkerSeat, bind_all
from server.web.deadlines import listen, setup_deadlines

log = logging.getLogger("server")


def bind(host: str, port: int) -> socket.socket:
    """Bind before anything else starts, so a taken port is reported at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


GC_THRESHOLDS = (20_000, 50, 100)
# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). The event loop and
# SQLite's writer thread take turns: a message to a big group was a long run of Python in each (the writer then
# reading a thousand members' counters, the loop writing a thousand sockets), and at 5 ms a turn each waited out
# the other's. bench/chat.py, a 1,000-member group at 25 messages/s: p99 55, 55, 59 ms at 5 ms; 43, 49, 47 ms at
# 0.5 (measured before the writer kept members between batches, which shortened its turn).
GIL_SWITCH_SECONDS = 0.0005


async def serve(
    settings: Settings, sock: socket.socket, metrics_sock: socket.socket | None = None, seat: WorkerSeat | None = None
) -> int:
    app = create_app(settings)
    if seat is not None:  # one of several workers: every answer names it (index/pid), so clients can tell them apart
        worker = seat.name

        async def name_worker(request: web.Request, response: web.StreamResponse) -> None:
            response.headers["X-Worker"] = worker

        app.on_response_prepare.append(name_worker)
    setup_deadlines(app)  # the head-read deadline learns from it when each request starts and ends
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_timeout)
    try:
        await runner.setup()  # opens the database and runs migrations
    except Exception as exc:  # noqa: BLE001 - any start failure ends in one clear line
        print(f"cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        await runner.cleanup()
        return 1
    # Each connection with the deadlines aiohttp lacks: a request head within HEADER_READ_TIMEOUT, and no write
    # waiting more than WRITE_TIMEOUT for a client that stopped reading.
    server = await listen(runner, sock, head_timeout=settings.header_read_timeout, write_timeout=settings.write_timeout)
    metrics_runner = None
    if metrics_sock is not None:  # Prometheus's own listener (METRICS_HOST:METRICS_PORT), not the public one
        metrics_runner = web.AppRunner(metrics_app(app[metrics_key]), access_log=None)
        await metrics_runner.setup()
        await web.SockSite(metrics_runner, metrics_sock).start()
    # The cyclic garbage collector stops the event loop while it walks the heap, and with thousands of
    # connections a full pass takes most of a second (measured with bench/chat.py: 0.6 to 0.9 s with 10,000
    # connections' worth of objects). Everything made so far (modules, the app, its services) lives as long as
    # the process, so it is left out of the passes; and collections run less often (the default collects the
    # youngest objects every 700 allocations and everything every 100 of those), because a message to a big
    # group makes thousands of short-lived objects that would otherwise be promoted and force full passes.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    host, port = sock.getsockname()[:2]
    log.info("listening on http://%s:%s (%s database)", host, port, settings.database_backend)
    if seat is not None:
        log.info("worker %s serving", seat.name)
        seat.serving()
    if metrics_sock is not None:
        log.info("metrics on http://%s:%s/metrics", *metrics_sock.getsockname()[:2])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    orphaned = loop.create_task(_until_orphaned(stop)) if seat is not None else None
    await stop.wait()
    if orphaned is not None:
        orphaned.cancel()
    log.info("stopping: finishing requests, closing WebSockets, flushing writers")
    # Stops accepting, closes WebSockets (on_shutdown), waits for requests in flight, then closes
    # resources in reverse order: batch writers flush before the database closes.
    server.close()
    if metrics_runner is not None:
        await metrics_runner.cleanup()
    await runner.cleanup()
    log.info("stopped")
    return 0


async def _until_orphaned(stop: asyncio.Event) -> None:
    """A worker whose supervisor is gone (killed) stops too, rather than serve on with nobody to restart it."""
    supervisor = os.getppid()
    while os.getppid() == supervisor:  # noqa: ASYNC110 - a parent that dies sends no event to wait on
        await asyncio.sleep(1.0)
    log.error("the supervisor (pid %d) is gone; stopping", supervisor)
    stop.set()


def main() -> int:
    setup_logging("INFO")  # until the settings, LOG_LEVEL among them, are known to be valid
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(settings.log_level)
    seat = WorkerSeat.from_env()
    if seat is not None:  # started by the supervisor below, its sockets already bound
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the supervisor's to act on (a rolling restart)
        return uvloop.run(serve(settings, seat.sock, seat.metrics_sock, seat))
    for name in settings.generated_secrets:
        log.warning("%s is not set; using a development value generated into %s", name, settings.data_dir)
    if settings.workers > 1:
        try:
            public, metrics = bind_all(settings)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            print(f"cannot listen on {settings.host}:{settings.port} or a metrics port: {reason}", file=sys.stderr)
            return 1
        return Supervisor(settings, public, metrics).run()
    listeners = [(settings.host, settings.port)]
    if settings.metrics_port is not None:
        listeners.append((settings.metrics_host, settings.metrics_port))
    socks: list[socket.socket] = []
    for host, port in listeners:
        try:
            socks.append(bind(host, port))
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            print(f"cannot listen on {host}:{port}: {reason}", file=sys.stderr)
            return 1
    return uvloop.run(serve(settings, socks[0], socks[1] if len(socks) > 1 else None))


if __name__ == "__main__":
    sys.exit(main())
