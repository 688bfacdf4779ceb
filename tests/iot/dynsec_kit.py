"""A Mosquitto of a test's own with the dynamic-security plugin (Debian's), on a free loopback port: the broker the
server provisions MQTT devices on. Missing mosquitto or its plugin skips the test, except in CI (then it fails)."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import free_port

PLUGIN_GLOBS = (
    "/usr/lib/*/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)
ADMIN = "admin"  # as mosquitto/entrypoint.sh makes it
PROJECT_CONF = Path(__file__).resolve().parents[2] / "mosquitto" / "mosquitto.conf"


def _programs() -> tuple[str, str, str] | None:
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    ctrl = shutil.which("mosquitto_ctrl")
    plugins = [p for pattern in PLUGIN_GLOBS for p in glob.glob(pattern)]
    if mosquitto is None or ctrl is None or not plugins:
        return None
    return mosquitto, ctrl, plugins[0]


def require_dynsec() -> tuple[str, str, str]:
    found = _programs()
    if found is None:
        what = (
            "mosquitto, mosquitto_ctrl and mosquitto_dynamic_security.so (apt-get install mosquitto mosquitto-clients)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {what}")
        pytest.skip(f"needs {what}")
    return found


class DynSecBroker:
    def __init__(self, tmp_path: Path) -> None:
        self.mosquitto, self._ctrl, plugin = require_dynsec()
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.admin_password = secrets.token_urlsafe(16)
        self.state = state = tmp_path / "dynamic-security.json"
        self.reset_state()
        self.config = tmp_path / "mosquitto.conf"
        # docker-compose's file, with what is about this machine replaced.
        replaced = ("listener", "persistence", "plugin", "log_")
        kept = [ln for ln in PROJECT_CONF.read_text().splitlines() if not ln.startswith(replaced)]
        lines = [
            *kept,
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            f"plugin {plugin}",
            f"plugin_opt_config_file {state}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to `mosquitto`, which cannot write its state in tmp_path
        self.config.write_text("\n".join(lines) + "\n")
        self.log = tmp_path / "mosquitto.log"
        self.process: asyncio.subprocess.Process | None = None

    def reset_state(self) -> None:
        """A fresh dynamic-security file, as `mosquitto_ctrl dynsec init` makes it: the admin client alone."""
        self.state.unlink(missing_ok=True)
        subprocess.run(
            [self._ctrl, "dynsec", "init", str(self.state), ADMIN, self.admin_password], check=True, capture_output=True
        )

    def create_client(self, username: str, password: str) -> None:
        """A client made by hand, as an operator would with mosquitto_ctrl (the broker must be running)."""
        subprocess.run(
            [
                *(self._ctrl, "-h", "127.0.0.1", "-p", str(self.port), "-u", ADMIN, "-P", self.admin_password),
                *("dynsec", "createClient", username, "-p", password),
            ],
            check=True,
            capture_output=True,
        )

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                self.mosquitto, "-c", str(self.config), stdout=log, stderr=log
            )
        async with asyncio.timeout(10):
            while True:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                        return
                if self.process.returncode is not None:
                    raise AssertionError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
        self.process = None


@contextlib.asynccontextmanager
async def dynsec_broker(tmp_path: Path) -> AsyncIterator[DynSecBroker]:
    broker = DynSecBroker(tmp_path)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()
