"""PostgreSQL blinks (a proxy between the server and it is reset, or hangs silently): the process stays up,
/readyz names the database within seconds, device writes, chat sends and sign-ins answer 503 (or an
`unavailable` frame) or succeed, every acknowledged one is stored, and all of it works again within seconds of
the restore, with no restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.server_process import running_server
from tests.faults.kit import (
    READY_WITHIN,
    RECOVER_WITHIN,
    Load,
    Site,
    create_admins,
    host_port,
    postgres_database,
    service_url,
    stored_entries,
    until_ready,
)
from tests.faults.proxy import Cut, FaultProxy

pytestmark = pytest.mark.slow
CUT_SECONDS = 3.0


@pytest.mark.parametrize("mode", ["reset", "hang"])
async def test_postgres_cut_and_restored(tmp_path: Path, mode: Cut) -> None:
    admin_url = service_url("TEST_DATABASE_URL")
    async with postgres_database(admin_url) as database_url:
        create_admins({"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url})
        with FaultProxy(*host_port(database_url, 5432)) as proxy:
            env = {"DATABASE_URL": proxy.url_for(database_url), "DATABASE_TIMEOUT_SECONDS": "2"}
            with running_server(tmp_path, env=env) as server:
                async with aiohttp.ClientSession() as session:
                    site = await Site.open(server, session)
                    peer = await site.peer(0)
                    await until_ready(session, server, ready=True, within=READY_WITHIN)
                    async with Load(site, peer) as load:
                        await asyncio.sleep(0.5)
                        proxy.cut(mode)
                        body = await until_ready(session, server, ready=False, within=READY_WITHIN)
                        assert body["checks"]["database"] is False
                        await asyncio.sleep(CUT_SECONDS)
                        proxy.restore()
                        restored = time.monotonic()
                        await until_ready(session, server, ready=True, within=RECOVER_WITHIN)
                        await load.until_all_acknowledge_after(restored, RECOVER_WITHIN)
                    await peer.close()
                    assert server.running
                    for outcomes in load.every():
                        assert not outcomes.wrong, outcomes.wrong[:5]
                    assert load.writes.refused > 0  # the cut was felt, and answered honestly
                    history = set(await site.history())
                    assert set(load.sends.acknowledged) <= history
                stored = await stored_entries(database_url, site.channel_id)
                assert {int(e) for e in load.writes.acknowledged} <= set(stored)
