"""Many managers dispatching one PostgreSQL database at once, with events, cancels and watches relayed by
LISTEN/NOTIFY (issue 13, items 2 and 3). Managers in one process here, each with its own store (its own
pool and relay connections), as separate processes would have; ``tests/test_scaleout.py`` runs processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from datetime import timedelta

from lpe_nb.jobs import JobEvent, JobManager, JobStatus, ManagerSettings, OperationRegistry, StepContext
from lpe_nb.jobs.events import Subscription
from lpe_nb.jobs.model import Progress, to_iso, utc_now
from lpe_nb.jobs.postgres import PgJobStore
from lpe_nb.jobs.postgres._relay import trace_stages
from lpe_nb.jobs.relay import MAX_PAYLOAD_BYTES, decode_event, encode_event
from tests.jobs.conftest import FAST
from tests.jobs.ops import Probe, build_registry
from tests.waiting import eventually

# Slow polls and heartbeats: only the relay explains a fast reaction.
RELAYED = replace(FAST, poll_interval_s=5.0, lease_s=30.0)


def stepwise_registry(probe: Probe, gates: list[asyncio.Event]) -> OperationRegistry:
    """The test operations plus ``stepwise``: reports step k of n (streaming its text when watched), then
    waits for ``gates[k]``."""
    registry = build_registry(probe)

    async def stepwise(ctx: StepContext, data: dict[str, int]) -> dict[str, int]:
        total = data["steps"]
        for index in range(total):
            ctx.report(f"step {index + 1}", completed_steps=index, total_steps=total)
            streamer = ctx.text_streamer()
            if streamer is not None:
                streamer("x" * 5000)  # longer than a notification takes: sent as its tail
            await ctx.run_step(f"step{index}", lambda: _done(), input={"i": index})
            await gates[index].wait()
        return {"steps": total}

    registry.register("stepwise", stepwise)
    return registry


async def _done() -> str:
    return "done"


@contextlib.asynccontextmanager
async def manager_on(
    url: str, registry: OperationRegistry, settings: ManagerSettings = RELAYED, **options: object
) -> AsyncIterator[JobManager]:
    async with PgJobStore(url) as store, JobManager(store, registry, settings=settings, **options) as manager:  # type: ignore[arg-type]
        yield manager


async def events_until(
    sub: Subscription, done: Callable[[JobEvent], bool], timeout_s: float = 10
) -> list[JobEvent]:
    seen: list[JobEvent] = []

    async def collect() -> list[JobEvent]:
        while True:
            event = await sub.get()
            seen.append(event)
            if done(event):
                return seen

    return await asyncio.wait_for(collect(), timeout_s)


# -- payloads ---------------------------------------------------------------------------------------------


def test_a_status_payload_leaves_its_result_in_the_row_and_progress_keeps_the_tail_of_its_text() -> None:
    status = JobEvent("status", "j1", 7, status=JobStatus.COMPLETED, result_data={"big": "r" * 20_000})
    origin, decoded, has_result = decode_event(encode_event(status, "me")) or ("", status, False)
    assert (origin, decoded.status, decoded.seq, decoded.result_data, has_result) == (
        "me", JobStatus.COMPLETED, 7, None, True,
    )  # fmt: skip
    text = "début " + "é" * 9000 + " fin"
    progress = JobEvent.progress_of("j1", Progress("step", details={"partial_text": text}, seq=8))
    payload = encode_event(progress, "me")
    assert len(payload.encode()) < MAX_PAYLOAD_BYTES
    decoded_progress = decode_event(payload)
    assert decoded_progress is not None
    details = decoded_progress[1].progress.details if decoded_progress[1].progress else None
    assert isinstance(details, dict) and text.endswith(details["partial_text"]) and details["truncated"]
    assert decode_event("not json") is None


# -- many dispatchers -------------------------------------------------------------------------------------


async def test_every_manager_dispatches_and_no_job_runs_twice(postgres_url: str) -> None:
    probe = Probe()
    probe.release.set()
    registry = build_registry(probe)
    async with (
        manager_on(postgres_url, registry, replace(FAST, concurrency=3)) as a,
        manager_on(postgres_url, registry, replace(FAST, concurrency=3)) as b,
    ):
        assert (a.is_dispatching, b.is_dispatching) == (True, True)
        ids = [await a.submit("gated", {"name": f"job{i}"}) for i in range(24)]
        jobs = [await a.wait(job_id, timeout_s=30) for job_id in ids]
        owners = {
            t["actor"]
            for job in jobs
            for t in await a.store.get_transitions(job.id)
            if t["to_status"] == "running"
        }
    assert all(job.status is JobStatus.COMPLETED for job in jobs)
    assert sorted(probe.runs.values()) == [1] * 24  # each ran once
    assert owners == {a.owner, b.owner}  # both took some


async def test_a_starting_manager_takes_back_only_expired_leases_and_a_dead_ones_job_within_a_lease(
    postgres_url: str,
) -> None:
    probe = Probe()
    probe.release.set()
    registry = build_registry(probe)
    settings = replace(FAST, lease_s=1.5)
    async with PgJobStore(postgres_url) as store:
        async with manager_on(postgres_url, registry, settings, dispatch=False) as submitter:
            live_id = await submitter.submit("gated", {"name": "live"})
            dead_id = await submitter.submit("gated", {"name": "dead"})
        now = utc_now()
        year = to_iso(now.replace(year=now.year + 1))
        [(live, _)] = await store.claim_pending("alive-elsewhere", to_iso(now), year, 1)
        # Its owner dies at once: the lease it took is never renewed.
        [(dead, _)] = await store.claim_pending("dead", to_iso(now), to_iso(now + timedelta(seconds=1.5)), 1)
        async with manager_on(postgres_url, registry, settings) as survivor:
            started = time.monotonic()
            assert (await survivor.get(dead.id)).lease_owner == "dead"  # not taken at start: not yet expired
            done = await survivor.wait(dead.id, timeout_s=10)
            assert done.status is JobStatus.COMPLETED
            assert time.monotonic() - started < settings.lease_s + settings.heartbeat_interval_s + 1.0
            still = await survivor.get(live.id)
            assert (still.status, still.lease_owner) == (JobStatus.RUNNING, "alive-elsewhere")
    assert {live.id, dead.id} == {live_id, dead_id}


# -- events, cancels and watches across managers -----------------------------------------------------------


async def test_a_job_run_by_one_manager_is_seen_live_by_another_in_seq_order_with_its_result(
    postgres_url: str,
) -> None:
    probe, gates = Probe(), [asyncio.Event() for _ in range(3)]
    registry = stepwise_registry(probe, gates)
    async with (
        manager_on(postgres_url, registry) as runner,
        manager_on(postgres_url, registry, dispatch=False) as watcher,
    ):
        job_id = await watcher.submit("stepwise", {"steps": 3})
        with await watcher.subscribe([job_id]) as sub:
            await events_until(sub, lambda e: e.progress is not None and e.progress.current_step == "step 1")
            # the watcher's interest crosses over (its own notification, after the snapshot): text is streamed
            await eventually(lambda: runner.is_watched(job_id), "the runner to learn the job is watched")
            for gate in gates:
                gate.set()
            seen = await events_until(sub, lambda e: e.is_terminal)
    live = [e for e in seen if not e.snapshot]
    assert [e.seq for e in live] == sorted({e.seq for e in live})
    assert seen[-1].status is JobStatus.COMPLETED and seen[-1].result_data == {"steps": 3}
    steps = [e.progress.current_step for e in live if e.progress is not None]
    assert "step 3" in steps


async def test_a_cancel_asked_of_another_manager_stops_the_running_job_at_once(postgres_url: str) -> None:
    probe = Probe()  # gated jobs wait on probe.release, never set here
    registry = build_registry(probe)
    async with (
        manager_on(postgres_url, registry) as runner,
        manager_on(postgres_url, registry, dispatch=False) as other,
    ):
        job_id = await other.submit("gated", {"name": "long"})
        await probe.until(lambda: probe.in_flight == 1)
        started = time.monotonic()
        await other.cancel(job_id)
        done = await other.wait(job_id, timeout_s=5)
        elapsed = time.monotonic() - started
    assert done.status is JobStatus.CANCELLED
    assert elapsed < 1.0  # the heartbeat (every 10 s here) would take far longer
    assert runner.running_job_ids == []


async def test_a_listener_that_lost_its_connection_listens_again_and_resyncs_its_watched_jobs(
    postgres_url: str,
) -> None:
    probe, gates = Probe(), [asyncio.Event() for _ in range(2)]
    registry = stepwise_registry(probe, gates)
    async with (
        manager_on(postgres_url, registry) as runner,
        manager_on(postgres_url, registry, dispatch=False) as watcher,
    ):
        job_id = await watcher.submit("stepwise", {"steps": 2})
        with await watcher.subscribe([job_id]) as sub:
            await events_until(sub, lambda e: e.progress is not None and e.progress.current_step == "step 1")
            async with PgJobStore(postgres_url) as admin:
                conn = await admin.connect()
                try:  # end the watcher's LISTEN session, as a restarted pooler or a network cut would
                    ended = await conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN %%' AND pid <> pg_backend_pid()"
                    )
                    assert len(await ended.fetchall()) == 2  # one listener per manager
                finally:
                    await conn.close()
            gates[0].set()  # step 2 is reported while the listeners are gone: that notification is lost
            resynced = await events_until(sub, lambda e: e.snapshot and e.kind == "progress", timeout_s=15)
            assert resynced[-1].progress is not None
            gates[1].set()
            seen = await events_until(sub, lambda e: e.is_terminal, timeout_s=15)
    assert seen[-1].status is JobStatus.COMPLETED and seen[-1].result_data == {"steps": 2}
    assert runner.running_job_ids == []


async def test_a_traced_relay_reports_each_stage_of_an_event_in_order_and_nothing_once_untraced(
    postgres_url: str,
) -> None:
    """The hook ``bench/scaleout.py --stages`` times the relay with (off unless set)."""
    probe, gates = Probe(), [asyncio.Event()]
    registry = stepwise_registry(probe, gates)
    stages: list[tuple[str, str]] = []
    gates[0].set()
    async with (
        manager_on(postgres_url, registry) as runner,
        manager_on(postgres_url, registry, dispatch=False) as watcher,
    ):
        with watcher.events.subscribe(None) as sub:
            trace_stages(lambda stage, payload: stages.append((stage, payload)))
            try:
                traced = await watcher.submit("stepwise", {"steps": 1})
                await events_until(sub, lambda e: e.job_id == traced and e.is_terminal)
            finally:
                trace_stages(None)
            untraced = await watcher.submit("stepwise", {"steps": 1})
            await events_until(sub, lambda e: e.job_id == untraced and e.is_terminal)
        assert runner.running_job_ids == []
    reported = [
        payload
        for stage, payload in stages
        if stage == "queued" and (decoded := decode_event(payload)) is not None
        and decoded[1].progress is not None and decoded[1].progress.current_step == "step 1"
    ]  # fmt: skip
    assert len(reported) == 1
    order = [stage for stage, payload in stages if payload == reported[0]]
    assert order[:2] == ["queued", "sending"]  # in the runner's relay
    # Then it is sent (the runner's loop sees the statement return) and, maybe before that, both listeners
    # receive it; only the watcher's (another process's event) puts it on its bus.
    assert sorted(order[2:]) == ["delivered", "received", "received", "sent"]
    assert order.index("delivered") > order.index("received")
    assert not [payload for _, payload in stages if untraced in payload]


async def test_a_notification_leaves_while_the_publishing_loop_is_busy(postgres_url: str) -> None:
    # The publisher has a thread of its own: a worker's loop handling a burst does not hold an event back.
    import psycopg

    from lpe_nb.jobs.postgres._connection import libpq_url
    from lpe_nb.jobs.postgres._relay import EVENTS, PgEventRelay

    heard: list[float] = []
    listening = asyncio.Event()
    loop = asyncio.get_running_loop()

    def listen() -> None:  # a plain connection on a thread: it hears while the test's loop is blocked
        with psycopg.connect(libpq_url(postgres_url), autocommit=True) as conn:
            conn.execute(f"LISTEN {EVENTS}")
            loop.call_soon_threadsafe(listening.set)
            for _ in conn.notifies(timeout=30, stop_after=1):
                heard.append(time.monotonic())

    listener = asyncio.create_task(asyncio.to_thread(listen))
    await listening.wait()
    relay = PgEventRelay(postgres_url, "busy-worker")
    await relay.start(_NoHandler())
    try:
        event = JobEvent(kind="status", job_id="job-1", seq=1, status=JobStatus.RUNNING)
        relay.publish(event)
        time.sleep(1.0)  # noqa: ASYNC251 (the loop made busy on purpose, for a whole second)
        unblocked = time.monotonic()
        await listener
    finally:
        await relay.stop()
    assert len(heard) == 1 and heard[0] < unblocked, (heard, unblocked)


class _NoHandler:
    """A relay's manager that wants nothing from the other processes."""

    def event(self, event: JobEvent, *, has_result: bool) -> None: ...
    def cancel(self, job_id: str) -> None: ...
    def queued(self, job_type: str) -> None: ...
    def watched(self, job_ids: Iterable[str]) -> None: ...
    def local_watches(self) -> list[str]:
        return []

    async def resync(self) -> None: ...
