"""A bare aiohttp hello-world on uvloop, one process: the baseline `bench/ingest.py` compares the server to.

    python bench/hello.py PORT

Any method on any path answers `Hello, World!` (the body, if any, is discarded unread), with no middlewares
and no access log, so it measures what aiohttp itself costs per keep-alive request.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

import uvloop
from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, World!")


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.create_server(("127.0.0.1", port), backlog=2048)
    await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
