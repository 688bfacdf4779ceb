"""Calls across processes: each chat's calls (its 1:1 call, its group room) live in one process, and the others
forward the commands about them to it.

Without Redis there is one process and every command runs here. With Redis, a chat's calls are owned by the
process that started its first one (`calls:chat:<chat_id>` names it; `calls:call:<call_id>` too, kept a while
after the call ends so a late command still hears `call_ended`), and each user's calls are listed in
`calls:user:<user_id>` so a device that signs in anywhere is replayed its calls and a closed socket reaches the
processes that care. A command for a call owned elsewhere goes to that process over the broker
(`calls:node:<id>`) and its answer, or its error, comes back (`calls:reply:<id>`). Frames to devices already
travel through the broker, so they reach a user's sockets on any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Callable
from typing import Any

from server.calls.model import call_not_found
from server.calls.service import CallService
from server.errors import ApiError, Unavailable
from server.realtime.broker import Broker

log = logging.getLogger(__name__)

FORWARD_TIMEOUT = 5.0  # seconds a forwarded command may take
OWNER_TTL = 6 * 3600  # seconds a call key lives (it outlives its call, so late commands hear call_ended)
CHAT_TTL = 120  # seconds a chat's owner key lives unless its owner renews it (a dead owner frees it soon)
RENEW_EVERY = 30.0

# Commands keyed by the call they are about (the others by its chat).
_BY_CALL = ("answer", "select_answer", "reject", "candidates", "negotiate", "media", "hangup", "resume", "decline")


class CallRouter:
    """The calls service as the WebSocket and HTTP layers see it: each method runs where its call lives."""

    def __init__(self, local: CallService, broker: Broker, redis: Any | None = None) -> None:
        self.local = local
        self._broker = broker
        self._redis = redis
        self.node = secrets.token_hex(6)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._stops: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._redis is None:
            return
        self._stops.append(await self._broker.subscribe(f"calls:node:{self.node}", self._request))
        self._stops.append(await self._broker.subscribe(f"calls:reply:{self.node}", self._reply))
        renewer = asyncio.get_running_loop().create_task(self._renew())

        def stop_renewing() -> None:
            renewer.cancel()

        self._stops.append(stop_renewing)

    async def _renew(self) -> None:
        """Keep the owner keys of the chats whose calls live here, however long the calls last."""
        while True:
            await asyncio.sleep(RENEW_EVERY)
            chats = {c.chat_id for c in self.local.direct.calls.values()}
            if self.local.rooms is not None:
                chats |= self.local.rooms.chats()
            try:
                async with self._redis.pipeline(transaction=False) as pipe:  # type: ignore[union-attr]
                    for chat_id in chats:
                        pipe.set(f"calls:chat:{chat_id}", self.node, ex=CHAT_TTL)
                    await pipe.execute()
            except Exception:  # noqa: BLE001 -- tried again on the next round
                log.warning("calls: renewing %d chat owner keys failed", len(chats))

    async def close(self) -> None:
        for stop in self._stops:
            stop()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Unavailable("the process holding this call is shutting down"))
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)
        if self._redis is not None:
            with contextlib.suppress(Exception):
                for call_id in list(self.local.direct.calls):
                    await self._redis.delete(f"calls:call:{call_id}")

    # -- the commands ---------------------------------------------------------------------------------------
    async def invite(self, user_id: str, conn: str, **args: Any) -> dict[str, Any]:
        return await self._run("invite", ("chat", args["chat_id"]), user_id, conn, args)

    async def join(self, user_id: str, conn: str, **args: Any) -> dict[str, Any]:
        return await self._run("join", ("chat", args["chat_id"]), user_id, conn, args)

    async def status(self, user_id: str, chat_id: str) -> dict[str, Any]:
        return await self._run("status", ("chat", chat_id), user_id, "", {"chat_id": chat_id})

    async def answer(
        self, user_id: str, conn: str, call_id: str, party_id: str, answer: dict[str, str]
    ) -> dict[str, Any]:
        return await self._by_call("answer", user_id, conn, call_id, party_id, answer)

    async def select_answer(
        self, user_id: str, conn: str, call_id: str, party_id: str, selected: str
    ) -> dict[str, Any]:
        return await self._by_call("select_answer", user_id, conn, call_id, party_id, selected)

    async def reject(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]:
        return await self._by_call("reject", user_id, conn, call_id, party_id)

    async def candidates(
        self, user_id: str, conn: str, call_id: str, party_id: str, candidates: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return await self._by_call("candidates", user_id, conn, call_id, party_id, candidates)

    async def negotiate(
        self,
        user_id: str,
        conn: str,
        call_id: str,
        party_id: str,
        description: dict[str, str],
        *,
        target: str | None = None,
        streams: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return await self._by_call(
            "negotiate", user_id, conn, call_id, party_id, description, target=target, streams=streams
        )

    async def media(
        self, user_id: str, conn: str, call_id: str, party_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._by_call("media", user_id, conn, call_id, party_id, changes)

    async def hangup(self, user_id: str, conn: str, call_id: str, party_id: str, reason: str) -> dict[str, Any]:
        return await self._by_call("hangup", user_id, conn, call_id, party_id, reason)

    async def resume(self, user_id: str, conn: str, call_id: str, party_id: str) -> dict[str, Any]:
        return await self._by_call("resume", user_id, conn, call_id, party_id)

    async def _by_call(self, op: str, user_id: str, conn: str, call_id: str, *rest: Any, **kw: Any) -> dict[str, Any]:
        return await self._run(op, ("call", call_id), user_id, conn, {"call_id": call_id, "rest": list(rest), **kw})

    async def decline(self, user_id: str, call_id: str) -> dict[str, Any]:
        return await self._run("decline", ("call", call_id), user_id, "", {"call_id": call_id, "rest": []})

    async def replay_frames(self, user_id: str) -> list[dict[str, Any]]:
        frames = await self.local.replay_frames(user_id)
        nodes = await self._other_nodes(user_id)
        replies = await asyncio.gather(
            *(self._forward(node, "replay", user_id, "", {}, timeout=1.0) for node in nodes), return_exceptions=True
        )
        for node, reply in zip(nodes, replies, strict=True):
            if isinstance(reply, BaseException):
                await self._forget_node(user_id, node)  # that process is gone: its calls ended with it
                continue
            frames.extend(reply["frames"])
        return frames

    async def connection_closed(self, user_id: str, conn: str) -> None:
        await self.local.connection_closed(user_id, conn)
        nodes = await self._other_nodes(user_id)
        replies = await asyncio.gather(
            *(self._forward(node, "closed", user_id, conn, {}, timeout=1.0) for node in nodes), return_exceptions=True
        )
        for node, reply in zip(nodes, replies, strict=True):
            if isinstance(reply, BaseException):
                await self._forget_node(user_id, node)

    async def _forget_node(self, user_id: str, node: str) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.srem(f"calls:user:{user_id}", node)

    # -- where a command runs -------------------------------------------------------------------------------
    async def _run(
        self, op: str, key: tuple[str, str], user_id: str, conn: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        node = await self._owner(key, claim=op in ("invite", "join"))
        if node is None or node == self.node:
            result = await self._local(op, user_id, conn, args)
            await self._remember(op, user_id, result)
            return result
        try:
            return await self._forward(node, op, user_id, conn, args)
        except Unavailable:
            if op not in ("invite", "join", "status") or self._redis is None:
                raise
            # The chat's owner does not answer: it is gone, and its calls with it. Take the chat over.
            await self._redis.delete(f"calls:{key[0]}:{key[1]}")
            return await self._run(op, key, user_id, conn, args)

    async def _local(self, op: str, user_id: str, conn: str, args: dict[str, Any]) -> dict[str, Any]:
        service = self.local
        if op == "replay":
            return {"frames": await service.replay_frames(user_id)}
        if op == "closed":
            await service.connection_closed(user_id, conn)
            return {}
        if op == "status":
            return await service.status(user_id, args["chat_id"])
        if op == "invite" and self._redis is not None:
            # Named before it rings, so an answer from any process finds it here; a call_id another process
            # holds is refused.
            name = f"calls:call:{args['call_id']}"
            if not await self._redis.set(name, self.node, nx=True, ex=OWNER_TTL):
                owner = await self._redis.get(name)
                if (owner.decode() if isinstance(owner, bytes) else owner) != self.node:
                    raise ApiError("a call with this call_id exists already", code="call_exists", status=409)
        if op in ("invite", "join"):
            return dict(await getattr(service, op)(user_id, conn, **args))
        if op == "decline":
            return await service.decline(user_id, args["call_id"])
        rest = args.pop("rest", [])
        call_id = args.pop("call_id")
        return dict(await getattr(service, op)(user_id, conn, call_id, *rest, **args))

    async def _owner(self, key: tuple[str, str], *, claim: bool) -> str | None:
        if self._redis is None:
            return None
        kind, value = key
        name = f"calls:{kind}:{value}"
        if claim:
            await self._redis.set(name, self.node, nx=True, ex=CHAT_TTL if kind == "chat" else OWNER_TTL)
        owner = await self._redis.get(name)
        if owner is None:
            return None
        return owner.decode() if isinstance(owner, bytes) else str(owner)

    async def _remember(self, op: str, user_id: str, result: dict[str, Any]) -> None:
        """After a call starts here, name this process its owner, and list it under its users."""
        if self._redis is None or op not in ("invite", "join") or "call_id" not in result:
            return
        call_id = result["call_id"]
        users = [user_id]
        call = self.local.direct.calls.get(call_id)
        if call is not None:
            users = list(call.users())
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(f"calls:call:{call_id}", self.node, ex=OWNER_TTL)
            for each in users:
                pipe.sadd(f"calls:user:{each}", self.node)
                pipe.expire(f"calls:user:{each}", OWNER_TTL)
            await pipe.execute()

    async def _other_nodes(self, user_id: str) -> list[str]:
        if self._redis is None:
            return []
        nodes = await self._redis.smembers(f"calls:user:{user_id}")
        found = [n.decode() if isinstance(n, bytes) else str(n) for n in nodes]
        return [n for n in found if n != self.node]

    # -- forwarding over the broker -------------------------------------------------------------------------
    async def _forward(
        self, node: str, op: str, user_id: str, conn: str, args: dict[str, Any], timeout: float = FORWARD_TIMEOUT
    ) -> dict[str, Any]:
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._broker.publish(
            f"calls:node:{node}",
            {"op": op, "user_id": user_id, "conn": conn, "args": args, "reply_to": self.node, "id": request_id},
        )
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            if op in _BY_CALL:
                raise call_not_found() from None  # its process is gone, and the call with it
            raise Unavailable("the process holding this chat's call does not answer") from None
        finally:
            self._pending.pop(request_id, None)

    def _request(self, message: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": message.get("id")}
        try:
            args = dict(message.get("args") or {})
            op = str(message["op"])
            result = await self._local(op, str(message["user_id"]), str(message.get("conn") or ""), args)
            await self._remember(op, str(message["user_id"]), result)
            reply["result"] = result
        except ApiError as exc:
            reply["error"] = relayed(exc)
        except Exception:
            log.exception("calls: a forwarded %s failed", message.get("op"))
            reply["error"] = relayed(ApiError("Something went wrong on our side", code="internal", status=500))
        self._broker.publish(f"calls:reply:{message.get('reply_to')}", reply)

    def _reply(self, message: dict[str, Any]) -> None:
        future = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if future is None or future.done():
            return
        error = message.get("error")
        if error is None:
            future.set_result(message.get("result") or {})
            return
        future.set_exception(RelayedError(error).raised())


def relayed(exc: ApiError) -> dict[str, Any]:
    """An error as it crosses to another process: its template and values too, so the far side says it in its
    reader's language. The broker sends JSON: an error with other values goes as its English message alone."""
    error: dict[str, Any] = {"status": exc.status, "code": exc.code, "message": exc.message, "field": exc.field}
    if all(v is None or isinstance(v, str | int | float | bool) for v in exc.params.values()):
        error |= {"template": exc.template, "params": dict(exc.params)}
    if exc.retry_after is not None:
        error["retry_after"] = exc.retry_after
    return error


class RelayedError:
    """An error another process relayed (`relayed`), raised here as the same message with the same template."""

    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error
        # A process that predates templates sends the message alone.
        self.template: str = error.get("template", error["message"])
        self.params: dict[str, Any] = dict(error.get("params") or {})

    def raised(self) -> ApiError:
        error, params = self.error, {k: v for k, v in self.params.items() if k != "field"}
        exc = ApiError(self.template, code=error["code"], field=error.get("field"), status=error["status"], **params)
        if error.get("retry_after") is not None:
            exc.retry_after = int(error["retry_after"])
            exc.headers["Retry-After"] = str(exc.retry_after)
        return exc
