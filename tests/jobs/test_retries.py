"""Job-level retries: transient errors are tried again from the last finished step, visibly and cancellably."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from lpe_nb.errors import InvalidInput, LlmError, LlmUnavailable
from lpe_nb.jobs import JobEvent, JobManager, JobStatus, OperationRegistry, RetryPolicy, StepContext
from lpe_nb.jobs.retry import attempts_used
from tests.jobs.conftest import FAST

QUICK = RetryPolicy(backoff_s=0.01, jitter=0.0)
SETTINGS = replace(FAST, retry=QUICK, max_attempts=3)
ENDPOINT = "http://llm.test/v1"


def unavailable(status: int = 503, retry_after_s: float | None = None) -> LlmUnavailable:
    return LlmUnavailable(
        f"LLM endpoint {ENDPOINT} (model 'm') failed (HTTP {status} Overloaded, after 3 requests)",
        endpoint=ENDPOINT, model="m", requests=3, status=status, retry_after_s=retry_after_s,
    )  # fmt: skip


@dataclass
class Script:
    """What the ``steps`` operation does: ``failures[step]`` errors raised before that step succeeds."""

    failures: dict[str, list[BaseException]] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)  # every step body that ran, in order
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def registry_for(script: Script, **register: Any) -> OperationRegistry:
    registry = OperationRegistry()

    async def steps(ctx: StepContext, data: Any) -> dict[str, Any]:
        names = [f"s{i}" for i in range(1, int(data["steps"]) + 1)]
        for index, name in enumerate(names):
            ctx.report(name, completed_steps=index, total_steps=len(names))

            async def work(name: str = name) -> str:
                script.runs.append(name)
                script.changed.set()
                pending = script.failures.get(name)
                if pending:
                    raise pending.pop(0)
                return f"{name} done"

            await ctx.run_step(name, work)
        return {"attempt": ctx.attempt, "outputs": [s.output for s in ctx.steps]}

    registry.register("steps", steps, **register)
    return registry


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
async def manager(db_path: Path, script: Script) -> AsyncIterator[JobManager]:
    async with JobManager.open(db_path, registry=registry_for(script), settings=SETTINGS) as manager:
        yield manager


async def run_job(manager: JobManager, steps: int = 3, **submit: Any) -> Any:
    job_id = await manager.submit("steps", {"steps": steps}, **submit)
    return await manager.wait(job_id, timeout_s=10)


# -- transient errors ----------------------------------------------------------------------------------------


async def test_a_transient_error_is_retried_from_the_last_finished_step(
    manager: JobManager, script: Script
) -> None:
    script.failures["s2"] = [unavailable(), unavailable()]

    job = await run_job(manager)

    assert job.status is JobStatus.COMPLETED
    assert script.runs == ["s1", "s2", "s2", "s2", "s3"]  # s1 never ran again
    assert job.attempts == 3
    assert job.result_data["outputs"] == ["s1 done", "s2 done", "s3 done"]
    steps = await manager.store.get_steps(job.id)
    assert [(s.name, s.attempt) for s in steps] == [("s1", 1), ("s2", 3), ("s3", 3)]


async def test_the_audit_trail_has_every_failed_attempt_its_error_and_wait(
    manager: JobManager, script: Script
) -> None:
    script.failures["s2"] = [unavailable()]

    job = await run_job(manager)

    transitions = await manager.store.get_transitions(job.id)
    moves = [(t["from_status"], t["to_status"]) for t in transitions]
    assert moves == [
        (None, "pending"),
        ("pending", "running"),
        ("running", "running"),
        ("running", "completed"),
    ]
    reason = transitions[2]["reason"]
    assert reason.startswith(
        "attempt 1 of 3 failed: LLM endpoint http://llm.test/v1 (model 'm') failed (HTTP 503"
    )
    assert reason.endswith("retrying in 0.0 s as attempt 2")


async def test_a_permanent_error_fails_the_job_at_the_first_attempt(
    manager: JobManager, script: Script
) -> None:
    error = LlmError(
        f"LLM endpoint {ENDPOINT} rejected the API key (HTTP 401); set OPENAI_API_KEY", status=401
    )
    script.failures["s2"] = [error]

    job = await run_job(manager)

    assert job.status is JobStatus.FAILED
    assert job.error_message == str(error)
    assert (job.attempts, script.runs) == (1, ["s1", "s2"])


async def test_an_unknown_exception_is_permanent(manager: JobManager, script: Script) -> None:
    script.failures["s1"] = [ValueError("a bug")]

    job = await run_job(manager)

    assert (job.status, job.error_message, job.attempts) == (JobStatus.FAILED, "ValueError: a bug", 1)


async def test_the_job_fails_when_its_attempts_are_used_up(manager: JobManager, script: Script) -> None:
    script.failures["s2"] = [unavailable() for _ in range(5)]

    job = await run_job(manager)

    assert job.status is JobStatus.FAILED
    assert script.runs == ["s1", "s2", "s2", "s2"]
    assert job.error_message is not None
    assert job.error_message.endswith("[attempt 3 of 3: no attempts left]")
    assert "HTTP 503" in job.error_message


async def test_an_attempt_that_finished_a_step_starts_the_count_again(
    manager: JobManager, script: Script
) -> None:
    # two tries per step, three steps: six attempts in all, never three in a row on one step
    for name in ("s1", "s2", "s3"):
        script.failures[name] = [unavailable()]

    job = await run_job(manager)

    assert job.status is JobStatus.COMPLETED
    assert job.attempts == 4  # s1 fails; then each later attempt finishes a step and fails at the next
    assert script.runs == ["s1", "s1", "s2", "s2", "s3", "s3"]


async def test_max_attempts_given_at_submit_wins(manager: JobManager, script: Script) -> None:
    script.failures["s1"] = [unavailable() for _ in range(5)]

    job = await run_job(manager, max_attempts=1)

    assert (job.status, job.attempts, script.runs) == (JobStatus.FAILED, 1, ["s1"])
    assert job.error_message is not None and job.error_message.endswith("[attempt 1 of 1: no attempts left]")


# -- waits ---------------------------------------------------------------------------------------------------


async def test_the_wait_honours_retry_after(manager: JobManager, script: Script) -> None:
    script.failures["s1"] = [unavailable(429, retry_after_s=0.3)]
    loop = asyncio.get_running_loop()
    started = loop.time()

    job = await run_job(manager)

    assert job.status is JobStatus.COMPLETED
    assert loop.time() - started >= 0.3
    transitions = await manager.store.get_transitions(job.id)
    assert "retrying in 0.3 s" in transitions[2]["reason"]


async def test_a_retry_after_longer_than_the_policy_allows_fails_the_job(
    manager: JobManager, script: Script
) -> None:
    script.failures["s1"] = [unavailable(429, retry_after_s=3600)]

    job = await run_job(manager)

    assert job.status is JobStatus.FAILED
    assert job.error_message is not None
    assert "asks to wait 3600 s before trying again" in job.error_message
    assert "retry_after_max_s of 300 s" in job.error_message


async def test_the_wait_is_visible_in_the_progress_and_cancel_ends_it(db_path: Path, script: Script) -> None:
    slow = replace(SETTINGS, retry=RetryPolicy(backoff_s=30, jitter=0.0))
    script.failures["s2"] = [unavailable()]
    async with JobManager.open(db_path, registry=registry_for(script), settings=slow) as manager:
        job_id = await manager.submit("steps", {"steps": 3})
        with await manager.subscribe([job_id]) as sub:
            waiting = await next_event(sub, lambda e: e.kind == "progress" and "retry" in (details(e) or {}))
            cancelled_at = asyncio.get_running_loop().time()
            await manager.cancel(job_id)
            job = await manager.wait(job_id, timeout_s=5)
        ended_in = asyncio.get_running_loop().time() - cancelled_at

    assert waiting.progress is not None
    retry = details(waiting)["retry"]
    expected = f"retrying step 2 of 3 (attempt 2 of 3) in 30 s: HTTP 503 from {ENDPOINT}"
    assert waiting.progress.current_step == retry["message"] == expected
    assert (retry["attempt"], retry["max_attempts"], retry["delay_s"]) == (2, 3, 30.0)
    assert retry["error"].startswith(f"LLM endpoint {ENDPOINT}")
    assert job.status is JobStatus.CANCELLED
    assert ended_in < 2


async def test_a_stop_during_the_wait_requeues_the_job_at_once(db_path: Path, script: Script) -> None:
    slow = replace(SETTINGS, retry=RetryPolicy(backoff_s=30, jitter=0.0), shutdown_grace_s=10)
    script.failures["s2"] = [unavailable()]
    async with JobManager.open(db_path, registry=registry_for(script), settings=slow) as manager:
        job_id = await manager.submit("steps", {"steps": 3})
        with await manager.subscribe([job_id]) as sub:
            await next_event(sub, lambda e: e.kind == "progress" and "retry" in (details(e) or {}))
        loop = asyncio.get_running_loop()
        stopping_at = loop.time()
        await manager.stop()
        stopped_in = loop.time() - stopping_at
        job = await manager.store.get_job(job_id)

    assert stopped_in < 2  # not the 10 s grace: there was no step to finish
    assert (job.status, job.attempts) == (JobStatus.PENDING, 1)  # the attempt it waited for is refunded


# -- policy --------------------------------------------------------------------------------------------------


async def test_a_job_types_own_policy_decides_what_is_transient(db_path: Path, script: Script) -> None:
    policy = RetryPolicy(backoff_s=0.01, jitter=0.0, retry_on=(KeyError,), give_up_on=(LlmUnavailable,))
    registry = registry_for(script, retry=policy, max_attempts=4)
    script.failures["s1"] = [KeyError("flaky"), KeyError("flaky")]
    script.failures["s2"] = [unavailable()]
    async with JobManager.open(db_path, registry=registry, settings=SETTINGS) as manager:
        job = await run_job(manager)

    assert job.status is JobStatus.FAILED
    assert (job.max_attempts, job.attempts) == (4, 3)
    assert script.runs == ["s1", "s1", "s1", "s2"]
    assert "HTTP 503" in (job.error_message or "")


def test_the_default_policy_backs_off_exponentially_within_bounds() -> None:
    policy = RetryPolicy()
    assert [policy.delay_s(k, rand=lambda: 0.0) for k in (1, 2, 3, 4, 5, 6, 7)] == [2, 4, 8, 16, 32, 60, 60]
    assert policy.delay_s(1, rand=lambda: 1.0) == 1.5  # jitter shortens by up to a quarter
    assert policy.delay_s(1, retry_after_s=7.5, rand=lambda: 0.0) == 7.5  # never sooner than Retry-After


def test_a_policy_checks_its_values() -> None:
    with pytest.raises(InvalidInput) as caught:
        RetryPolicy(backoff_s=-1, backoff_factor=0.5, jitter=2)
    assert set(caught.value.fields) == {"backoff_s", "backoff_factor", "jitter"}


@pytest.mark.parametrize(
    ("attempts", "step_attempts", "failed", "used"),
    [
        (1, [], True, 1),  # the first attempt failed
        (3, [], True, 3),
        (2, [2], True, 1),  # finished a step, then failed at the next: its first try there
        (4, [1, 2], True, 3),
        (2, [2], False, 0),  # interrupted after finishing a step: does not count
        (4, [2], False, 2),
        (1, [], False, 1),
    ],
)
def test_attempts_used_count_the_tries_since_the_last_finished_step(
    attempts: int, step_attempts: list[int], failed: bool, used: int
) -> None:
    assert attempts_used(attempts, step_attempts, failed=failed) == used


def details(event: JobEvent) -> dict[str, Any]:
    assert event.progress is not None
    value = event.progress.details
    return value if isinstance(value, dict) else {}


async def next_event(sub: Any, predicate: Any, timeout_s: float = 10) -> JobEvent:
    while True:
        event: JobEvent = await sub.get(timeout_s=timeout_s)
        if predicate(event):
            return event


async def test_a_policy_can_make_a_timeout_of_the_operations_own_transient(
    db_path: Path, script: Script
) -> None:
    policy = RetryPolicy(backoff_s=0.01, jitter=0.0, retry_on=(TimeoutError,))
    script.failures["s2"] = [TimeoutError("the tool timed out")]
    async with JobManager.open(
        db_path, registry=registry_for(script, retry=policy), settings=SETTINGS
    ) as manager:
        job = await run_job(manager)

    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    assert script.runs == ["s1", "s2", "s2", "s3"]


async def test_an_operations_own_timeout_is_not_the_types_time_limit(db_path: Path, script: Script) -> None:
    script.failures["s1"] = [TimeoutError("the tool timed out")]  # not transient by default
    registry = registry_for(script, timeout_s=30)
    async with JobManager.open(db_path, registry=registry, settings=SETTINGS) as manager:
        job = await run_job(manager)

    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert job.error_message == "TimeoutError: the tool timed out"


async def test_an_attempt_over_the_types_time_limit_fails_the_job_without_retry(db_path: Path) -> None:
    registry = OperationRegistry()

    async def hangs(ctx: StepContext, data: Any) -> None:
        await asyncio.Event().wait()  # never set: only the time limit ends this attempt

    registry.register("hangs", hangs, timeout_s=0.2, retry=RetryPolicy(retry_on=(TimeoutError,)))
    async with JobManager.open(db_path, registry=registry, settings=SETTINGS) as manager:
        job = await manager.wait(await manager.submit("hangs"), timeout_s=10)

    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert job.error_message == "timed out: one attempt may take 0.2 s"
