"""The supervisor of server/ops/workers.py with a stand-in worker, so its work can be tested without PostgreSQL.

python tests/ops/supervised.py PORT      the supervisor, 2 workers on 127.0.0.1:PORT, each running this file
(with SERVER_WORKER set)                 a worker: answers every request with its name (index/pid)
"""

from __future__ import annotations

import http.server
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.config import Settings
from server.ops.logs import setup_logging
from server.ops.workers import Supervisor, WorkerSeat, bind_all


class Named(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    name = ""

    def do_GET(self) -> None:
        body = self.name.encode()
        self.send_response(200)
        self.send_header("X-Worker", self.name)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Draining(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close waits for the requests in flight, as the real server drains


def worker(seat: WorkerSeat) -> int:
    Named.name = seat.name
    server = Draining(("127.0.0.1", 0), Named, bind_and_activate=False)
    server.socket.close()
    server.socket = seat.sock
    seat.sock.setblocking(False)  # a worker that loses the race for a connection must not wait in accept()

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    seat.serving()
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    return 0


def main() -> int:
    seat = WorkerSeat.from_env()
    if seat is not None:
        return worker(seat)
    setup_logging("INFO")
    settings = Settings(port=int(sys.argv[1]), workers=2, shutdown_timeout=2.0)
    public, metrics = bind_all(settings)
    return Supervisor(settings, public, metrics, command=[sys.executable, __file__]).run()


if __name__ == "__main__":
    sys.exit(main())
