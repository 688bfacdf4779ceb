"""The real process (uvloop, run.py) serves every connection with the deadlines: a half-sent head is cut off."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.server_process import running_server
from tests.stalled_client import StalledClient

pytestmark = pytest.mark.slow


async def test_the_real_server_cuts_off_a_head_sent_a_line_at_a_time(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"HEADER_READ_TIMEOUT": "0.5"}) as server:
        client = StalledClient(server.port)
        await client.connect()
        await client.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ... and the next line never comes
        try:
            assert await client.hung_up(), "a half-sent head kept its connection"
        finally:
            client.close()
        assert server.running
