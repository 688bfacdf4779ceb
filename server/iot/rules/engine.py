"""The rule engine: a FeedService listener hands each committed write to a queue (it never blocks or fails the
write); one task takes what is queued, evaluates the channels' rules in one transaction that also saves their
state and events, and then carries out their actions. A timer fires the no-data rules.

Loops: a rule's actions run with the chain of rules that led to them in a context variable, which the listener
copies into the work it queues. A rule never runs on a write its own chain caused, and a chain stops after
MAX_CHAIN rules, so rules writing to each other's channels cannot feed each other for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from server.iot.rules import expr, kinds
from server.iot.rules.actions import ActionRunner
from server.iot.rules.kinds import Firing, Outcome, Sample
from server.storage.channels import Channel, Point, Written, as_number
from server.storage.rules import NewEvent, Rule, RuleRepository

log = logging.getLogger(__name__)

MAX_CHAIN = 4
KEEP_EVENTS = 500
QUEUE_SIZE = 10_000
RULED_REFRESH_SECONDS = 2.0
BATCH_WRITES = 500  # queued writes evaluated in one transaction
_chain: ContextVar[tuple[str, ...]] = ContextVar("rule_chain", default=())


@dataclass(frozen=True)
class _Work:
    channel_id: int
    points: Sequence[Point]
    chain: tuple[str, ...]
    arrived: float


def _samples(points: Sequence[Point]) -> list[Sample]:
    return [
        (p.created_at, {n: v for n, raw in enumerate(p.fields, start=1) if (v := as_number(raw)) is not None})
        for p in points
    ]


@dataclass
class EngineStats:
    queued: int = 0
    dropped: int = 0
    batches: int = 0
    firings: int = 0


@dataclass
class _Due:
    rule: Rule
    firings: list[Firing] = field(default_factory=list)
    chain: tuple[str, ...] = ()


class RuleEngine:
    def __init__(
        self,
        repo: RuleRepository,
        actions: ActionRunner,
        *,
        clock: Callable[[], float] = time.time,
        tick_seconds: float = 5.0,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.repo = repo
        self.actions = actions
        self.clock = clock  # tests replace it to move time on without sleeping
        self.tick_seconds = tick_seconds
        self.stats = EngineStats()
        self._queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=queue_size)
        self._trees: dict[str, expr.Node] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        # Channels that have an enabled rule, so writes to every other channel skip the engine entirely.
        # None until first loaded (then every write is looked at). Reloaded every RULED_REFRESH_SECONDS to
        # see rules another process created; this process's own changes are noted at once (note_rules).
        self._ruled: set[int] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="rules-engine"),
            asyncio.create_task(self._ticker(), name="rules-no-data"),
            asyncio.create_task(self._watch_rules(), name="rules-watch"),
        ]

    async def close(self, grace: float = 5.0) -> None:
        """Evaluate what is queued (within `grace` seconds), let background actions finish, then stop."""
        self._closing = True
        worker = self._tasks[0] if self._tasks else None
        for timer in self._tasks[1:]:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        if worker is not None:
            await self._queue.put(None)
            try:
                await asyncio.wait_for(worker, grace)
            except TimeoutError:
                left = self._queue.qsize()
                log.warning("rule engine did not finish its queue in %.1f s; %d writes left", grace, left)
        if self._background:
            _, pending = await asyncio.wait(self._background, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks = []

    async def settle(self) -> None:
        """Wait until everything queued has been evaluated and every action has finished (tests use this)."""
        while True:
            await self._queue.join()
            if not self._background:
                return
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- which channels have rules ------------------------------------------------------------------
    def note_rules(self, channel_id: int) -> None:
        """A rule of this channel was created or changed here: look at its writes from now on."""
        if self._ruled is not None:
            self._ruled.add(channel_id)

    async def _watch_rules(self) -> None:
        while True:
            try:
                self._ruled = await self.repo.all_channels_with_rules()
            except Exception:
                log.exception("could not load which channels have rules")
                self._ruled = None
            await asyncio.sleep(RULED_REFRESH_SECONDS)

    # -- the listener -------------------------------------------------------------------------------
    def on_written(self, channel: Channel, written: Written) -> None:
        """FeedService listener: queue the committed points for evaluation. Never blocks, never raises."""
        if self._closing or (self._ruled is not None and channel.id not in self._ruled):
            return
        try:
            self._queue.put_nowait(_Work(channel.id, written.points, _chain.get(), self.clock()))
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.warning("rule engine queue is full; channel %d's write is not evaluated", channel.id)
            return
        self.stats.queued += 1

    # -- points -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            items = [first]
            while len(items) < BATCH_WRITES and not self._queue.empty():
                items.append(self._queue.get_nowait())
            work = [w for w in items if w is not None]
            stop = len(work) < len(items)
            try:
                if work:
                    await self.evaluate(work)
            except Exception:
                log.exception("rule evaluation failed for %d writes", len(work))
            finally:
                for _ in items:
                    self._queue.task_done()

    async def evaluate(self, work: Sequence[_Work]) -> None:
        by_channel: dict[int, list[_Work]] = defaultdict(list)
        for item in work:
            by_channel[item.channel_id].append(item)
        channels = await self.repo.channels_with_rules(sorted(by_channel))
        if not channels:
            return
        self.stats.batches += 1
        due: list[_Due] = []
        now = self.clock()
        # Fields are parsed here, for channels with rules only, not on the write's path.
        samples = {id(item): _samples(item.points) for c in channels for item in by_channel[c]}
        async with self.repo.db.transaction() as tx:
            for channel_id in sorted(channels):
                for rule in await self.repo.lock_channel_rules(tx, channel_id, now):
                    state, events, found = self._apply(rule, by_channel[channel_id], samples, now)
                    if state != rule.state:
                        await self.repo.save_state(tx, rule.id, state)
                    await self.repo.add_events(tx, rule.id, events, KEEP_EVENTS)
                    due += found
        await self._act(due)

    def _apply(
        self, rule: Rule, work: Sequence[_Work], samples: dict[int, list[Sample]], now: float
    ) -> tuple[dict[str, Any], list[NewEvent], list[_Due]]:
        state = rule.state
        events: list[NewEvent] = []
        due: list[_Due] = []
        guarded = False
        for item in work:
            if rule.id in item.chain:
                continue  # written by this rule, or by what it set off: not again
            if len(item.chain) >= MAX_CHAIN:
                guarded = True
                continue
            try:
                tree = self._tree(rule) if rule.kind == "expression" else None
                outcome = kinds.on_points(rule.kind, rule.config, state, samples[id(item)], item.arrived, tree)
            except Exception as exc:
                log.exception("rule %s failed to evaluate", rule.id)
                events.append(NewEvent(now, "error", {"message": type(exc).__name__}))
                continue
            state = outcome.state
            events += outcome.events
            if outcome.firings:
                due.append(_Due(rule, outcome.firings, item.chain))
        if guarded:
            events.append(NewEvent(now, "loop_guard", {"message": f"a chain of {MAX_CHAIN} rules stops here"}))
        return state, events, [_Due(_with_state(d.rule, state), d.firings, d.chain) for d in due]

    def _tree(self, rule: Rule) -> expr.Node:
        source = str(rule.config["expression"])
        tree = self._trees.get(source)
        if tree is None:
            if len(self._trees) > 10_000:
                self._trees.clear()
            tree = self._trees[source] = expr.parse(source)
        return tree

    # -- silence ------------------------------------------------------------------------------------
    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("checking no-data rules failed")

    async def tick(self) -> None:
        """Fire the no-data rules whose channel has been silent long enough (once per silence)."""
        now = self.clock()
        watching = await self.repo.enabled_of_kind("no_data")
        candidates = [r for r in watching if kinds.silence_due(r.config, r.state, now)]
        if not candidates:
            return
        due: list[_Due] = []
        for candidate in candidates:
            # One short transaction per rule: it holds one row lock at a time, so it cannot deadlock with an
            # evaluation holding a channel's rules (PostgreSQL, several processes).
            async with self.repo.db.transaction() as tx:
                rule = await self.repo.lock(tx, candidate.id, now)
                if rule is None:
                    continue
                outcome: Outcome = kinds.on_silence(rule.config, rule.state, now)
                if outcome.state != rule.state:
                    await self.repo.save_state(tx, rule.id, outcome.state)
                await self.repo.add_events(tx, rule.id, outcome.events, KEEP_EVENTS)
            if outcome.firings:
                due.append(_Due(_with_state(rule, outcome.state), outcome.firings))
        await self._act(due)

    # -- actions ------------------------------------------------------------------------------------
    async def _act(self, due: Sequence[_Due]) -> None:
        for item in due:
            self.stats.firings += len(item.firings)
            token = _chain.set((*item.chain, item.rule.id))
            try:
                events = await self.actions.run(item.rule, item.firings, self._spawn)
            finally:
                _chain.reset(token)
            await self.record(item.rule.id, events)

    def _spawn(self, rule: Rule, job: Awaitable[list[NewEvent]]) -> None:
        async def run() -> None:
            try:
                events = await job
            except Exception:
                log.exception("a background action of rule %s failed", rule.id)
                return
            await self.record(rule.id, events)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def record(self, rule_id: str, events: Sequence[NewEvent]) -> None:
        if not events:
            return
        try:
            async with self.repo.db.transaction() as tx:
                await self.repo.add_events(tx, rule_id, events, KEEP_EVENTS)
        except Exception:
            log.exception("recording events of rule %s failed", rule_id)


def _with_state(rule: Rule, state: dict[str, Any]) -> Rule:
    return replace(rule, state=state)
