"""The dispatcher: claims pending jobs, up to ``concurrency`` at a time, and runs each as an asyncio task.

Each job runs under its manager's lease; the dispatcher decides its outcome (completed, failed, cancelled,
or back to the queue when the manager stops) and records it, which only succeeds while the lease is held.
An attempt that fails with a transient error is retried in place, after a wait the job shows in its
progress (:mod:`lpe_nb.jobs.retry`). Not thread-safe: use it on the event loop of the manager that owns it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lpe_nb._aio import wake_or_timeout, with_timeout
from lpe_nb.errors import InvalidInput, LpeError
from lpe_nb.jobs._chaining import publish_dependents, resolve_input
from lpe_nb.jobs._retrying import RetryPlan, describe, plan_retry, waiting_progress
from lpe_nb.jobs.context import ContextHost, JobInterrupted, RunState, StepContext
from lpe_nb.jobs.events import EventBus, JobEvent
from lpe_nb.jobs.model import JobRecord, JobStatus, Progress, to_iso
from lpe_nb.jobs.registry import OperationRegistry
from lpe_nb.jobs.settings import ManagerSettings
from lpe_nb.jobs.store import JobStore, LeaseLost
from lpe_nb.metrics import Meter, metered_by

__all__ = ["Dispatcher"]

log = logging.getLogger("lpe_nb.jobs.manager")  # the manager's logger: where these messages always went


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: JobStatus | None  # None: back to the queue
    result: Any = None
    error: str | None = None


class Dispatcher:
    """The jobs one manager runs (``runs``, by id), and the loop that claims more while a slot is free.

    ``wake`` makes the loop look for jobs at once rather than at its next poll; ``stopping`` makes it
    claim no more, and sends a job not yet started back to the queue.
    """

    def __init__(
        self,
        store: JobStore,
        registry: OperationRegistry,
        settings: ManagerSettings,
        events: EventBus,
        host: ContextHost,
        *,
        owner: str,
        clock: Callable[[], datetime],
        meter: Meter | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.events = events
        self.host = host  # what each job's StepContext reports to
        self.owner = owner
        self.runs: dict[str, RunState] = {}
        self.wake = asyncio.Event()
        self.stopping = False
        self._clock = clock
        self._slots_in_use = 0  # operations executing; a finishing job gives its slot back early
        self._loop_task: asyncio.Task[None] | None = None
        self._waiting_to_retry: set[str] = set()  # jobs between two attempts
        self.meter = meter if meter is not None else Meter()

    def start(self) -> None:
        """Start claiming and running jobs."""
        self._loop_task = asyncio.create_task(self._dispatch_loop(), name="lpe-dispatch")

    async def stop(self, grace_s: float) -> None:
        """Stop claiming; give running jobs ``grace_s`` to reach a step boundary, then interrupt the rest."""
        self.stopping = True
        self.wake.set()
        if self._loop_task is not None:
            # It sees `stopping` and ends on its own; a claim already in flight finishes first, so every
            # job it claimed has its task (which requeues itself) before we collect the tasks below.
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        tasks = [run.task for run in self.runs.values() if run.task is not None]
        for run in list(self.runs.values()):
            if run.job.id in self._waiting_to_retry and run.task is not None:
                run.task.cancel()  # between attempts: nothing to finish, back to the queue at once
        if tasks:
            _, still_running = await asyncio.wait(tasks, timeout=grace_s)
            for run in list(self.runs.values()):
                if run.task in still_running and run.in_operation:
                    run.task.cancel()  # others are about to start (and requeue) or are recording
            await asyncio.gather(*tasks, return_exceptions=True)

    def deliver_cancel(self, run: RunState) -> None:
        """Act on a cancel request that is already persisted: interrupt the job's operation if it runs."""
        if run.cancel_requested:
            return
        run.cancel_requested = True
        # Only interrupt the operation itself: before it starts, _execute sees the flag (a task cancelled
        # before its first step would skip all cleanup); after it ends, the outcome is being recorded.
        if run.task is not None and run.in_operation:
            run.task.cancel()

    def _now_iso(self) -> str:
        return to_iso(self._clock())

    async def _dispatch_loop(self) -> None:
        metered_by(self.meter)  # the jobs' tasks start from this context: their LLM calls report here
        while not self.stopping:
            # Clear before claiming: a submit that lands during the claim sets it again, so it is not missed.
            self.wake.clear()
            free = self.settings.concurrency - self._slots_in_use
            try:
                claimed = await self._claim(free)
            except LpeError:
                log.exception("claiming jobs failed; retrying in %s s", self.settings.poll_interval_s)
                claimed = []
            if free > 0 and len(claimed) == free:
                continue  # there may be more waiting
            await wake_or_timeout(self.wake, self.settings.poll_interval_s)  # a timeout is a poll

    async def _claim(self, free: int) -> list[JobRecord]:
        if free <= 0 or self.stopping:
            return []
        now = self._clock()
        lease_until = to_iso(now + timedelta(seconds=self.settings.lease_s))
        claimed = await self.store.claim_pending(
            self.owner, to_iso(now), lease_until, free, types=self.settings.claim_types
        )
        for job, steps in claimed:
            run = RunState(
                job, self.owner, seq=job.seq, reported=job.progress, published_seq=job.seq,
                finished={s.name: s for s in steps},
            )  # fmt: skip
            self.runs[job.id] = run
            self._slots_in_use += 1
            self.events.publish(JobEvent.status_of(job))
            run.task = asyncio.create_task(self._run_job(run), name=f"lpe-job:{job.id}")
        return [job for job, _ in claimed]

    async def _run_job(self, run: RunState) -> None:
        job = run.job
        started = time.monotonic()
        try:
            outcome = await self._execute(run)
            # The operation is over: its slot goes to the next job now, so that job's claim can share
            # a transaction with this job's outcome.
            self._release_slot(run)
            if outcome.status is None:
                await self._requeue(run)
            else:
                done = await self._finish(run, outcome.status, result=outcome.result, error=outcome.error)
                self.meter.job_finished(done.type, done.status.value, time.monotonic() - started)
        except LeaseLost as exc:
            log.warning("job %s: %s; leaving it to whoever holds it now", job.id, exc)
        except LpeError:
            log.exception("job %s: its outcome could not be recorded; recovery will retry it", job.id)
        finally:
            self.runs.pop(job.id, None)
            self._release_slot(run)

    async def _execute(self, run: RunState) -> _Outcome:
        """Run the operation and decide the job's outcome; ``status=None`` means back to the queue."""
        cancelled = _Outcome(JobStatus.CANCELLED, error="cancelled by request")
        if run.cancel_requested:
            return cancelled
        if self.stopping:
            return _Outcome(None)
        job = run.job
        try:
            operation = self.registry.get(job.type)
            policy = operation.retry or self.settings.retry
            if operation.prepare is not None:
                await operation.prepare(job.input_data)
            if job.inputs_from or (job.depends_on and operation.check is not None):
                completed = await resolve_input(self.store, operation, job)  # from its parents' results
                if completed != job.input_data:
                    job = run.job = await self.store.complete_input(job, run.owner, completed)
            while True:  # one turn per attempt: a transient failure waits, then resumes from the last step
                ctx = StepContext(run, self.host, operation.parse(job.input_data))
                run.in_operation = True  # (also while waiting to retry: a cancel ends the wait)
                started = asyncio.get_running_loop().time()
                try:
                    work = operation.run(ctx, ctx.input)
                    # Only a limited attempt runs in a task of its own: without one, cancels reach it directly.
                    result = await (
                        work if operation.timeout_s is None else with_timeout(work, operation.timeout_s)
                    )
                    break
                except (JobInterrupted, LeaseLost):
                    raise
                except Exception as exc:
                    limit = operation.timeout_s
                    if (
                        isinstance(exc, TimeoutError)
                        and limit is not None
                        and (
                            asyncio.get_running_loop().time() - started >= limit  # not the operation's own
                        )
                    ):
                        return _Outcome(
                            JobStatus.FAILED,
                            error=f"timed out: one attempt may take {operation.timeout_s:g} s",
                        )
                    plan = plan_retry(run, policy, exc)
                    if isinstance(plan, str):
                        log.info(
                            "job %s (%s) failed: %s",
                            job.id,
                            job.type,
                            plan,
                            exc_info=not isinstance(exc, LpeError),
                        )
                        return _Outcome(JobStatus.FAILED, error=plan)
                    await self._wait_to_retry(run, plan)
                finally:
                    run.in_operation = False
        except asyncio.CancelledError:
            # Only this manager cancels the task (a cancel request or a stop), and it is recorded as the
            # outcome; there is no caller to re-raise to.
            return cancelled if run.cancel_requested else _Outcome(None)
        except JobInterrupted:
            return cancelled if run.cancel_requested else _Outcome(None)
        except LeaseLost:
            raise
        except Exception as exc:
            log.info("job %s (%s) failed: %s", job.id, job.type, exc, exc_info=not isinstance(exc, LpeError))
            return _Outcome(JobStatus.FAILED, error=describe(exc))
        if run.cancel_requested:  # the operation swallowed the cancellation: the request still wins
            return cancelled
        return _Outcome(JobStatus.COMPLETED, result=result)

    async def _wait_to_retry(self, run: RunState, plan: RetryPlan) -> None:
        """Count the next attempt (with the failure and the wait in the audit trail), show the wait in the
        job's progress, and wait; a cancel or a stop ends the wait (``CancelledError``)."""
        if self.stopping:
            raise JobInterrupted(f"job {run.job.id} not retried: the manager is stopping")
        now = self._clock()
        run.job = await self.store.record_retry(
            run.job, run.owner, now=to_iso(now), seq=run.next_seq(), reason=plan.audit
        )
        self.meter.job_retried(run.job.type)
        progress = waiting_progress(run, plan, now, run.next_seq())
        self.host.publish_progress(run, progress, persist=True)
        log.info("job %s (%s): %s", run.job.id, run.job.type, progress.current_step)
        self._waiting_to_retry.add(run.job.id)
        try:
            await asyncio.sleep(plan.delay_s)  # the backoff is a timer; cancel and stop interrupt it
        finally:
            self._waiting_to_retry.discard(run.job.id)

    def _release_slot(self, run: RunState) -> None:
        if not run.slot_released:
            run.slot_released = True
            self._slots_in_use -= 1
            self.wake.set()

    async def _finish(
        self, run: RunState, status: JobStatus, *, result: Any = None, error: str | None = None
    ) -> JobRecord:
        now = self._now_iso()  # one instant for the 100 % report and the outcome
        if status is JobStatus.COMPLETED:
            reported = run.reported  # its numbers only: a last report not built yet never needs to be
            total = max(reported.total_steps, reported.completed_steps, 1)
            progress = Progress(
                current_step="completed",
                total_steps=total,
                completed_steps=total,
                percentage=100.0,
                details=None,
                timestamp=now,
                seq=run.next_seq(),
            )
        else:
            progress = run.progress
        try:
            job = await self.store.finish(
                run.job,
                run.owner,
                status,
                now=now,
                seq=run.next_seq(),
                progress=progress,
                result_data=result,
                error_message=error,
            )
        except InvalidInput as exc:
            if status is not JobStatus.COMPLETED:
                raise
            # The result is encoded once, here, where it is stored: one that is not JSON fails the job
            # (the store raises before it writes anything).
            job = await self.store.finish(
                run.job,
                run.owner,
                JobStatus.FAILED,
                now=self._now_iso(),
                seq=run.next_seq(),
                progress=run.progress,
                error_message=describe(exc),
            )
        else:
            if status is JobStatus.COMPLETED:  # after the write: its seq is below the status event's
                self.host.publish_progress(run, progress, persist=False)
        run.progress_dirty = False
        self.events.publish(JobEvent.status_of(job))
        if job.dependents:
            await self.announce_dependents(job)
        return job

    async def announce_dependents(self, parent: JobRecord) -> None:
        """Publish what ``parent``'s outcome did to the jobs waiting for it (the store released or cancelled
        them in the same transaction); a release is a reason to claim at once."""
        for job in await publish_dependents(self.store, self.events, parent):
            self.meter.job_finished(job.type, job.status.value)
        if parent.status is JobStatus.COMPLETED:
            self.wake.set()

    async def _requeue(self, run: RunState) -> None:
        job = await self.store.requeue(
            run.job, run.owner, now=self._now_iso(), seq=run.next_seq(), refund_attempt=True
        )
        self.events.publish(JobEvent.status_of(job))
