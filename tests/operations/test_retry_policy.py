"""A job type declares its retry policy; the engine applies it to that type's jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lpe_nb.embedded import open_engine
from lpe_nb.errors import LlmUnavailable
from lpe_nb.jobs import JobStatus, RetryPolicy, StepContext
from lpe_nb.llm import MockLLM
from lpe_nb.operations import JobSpec, JobTypes
from lpe_nb.operations.spec import Services
from tests.operations.conftest import FAST

POLICY = RetryPolicy(backoff_s=0.01, jitter=0.0, give_up_on=(LlmUnavailable,))


async def flaky(ctx: StepContext, data: Any) -> dict[str, int]:
    async def work() -> int:
        raise LlmUnavailable("LLM endpoint http://llm/v1 is down", endpoint="http://llm/v1", status=503)

    await ctx.run_step("only", work)
    return {"never": 1}


def test_the_declared_policy_reaches_the_engines_operation() -> None:
    types = JobTypes([JobSpec("flaky", run=flaky, retry=POLICY, max_attempts=9)])
    services = Services(llm=MockLLM(), catalog=None, read_job=None)  # type: ignore[arg-type]  # unused here
    operation = types.bind(services).get("flaky")
    assert (operation.retry, operation.max_attempts) == (POLICY, 9)


async def test_a_type_that_gives_up_on_unavailable_fails_at_once(db_path: Path) -> None:
    types = JobTypes([JobSpec("flaky", run=flaky, retry=POLICY)])
    async with open_engine(db_path, llm=MockLLM(), settings=FAST, job_types=types) as engine:
        job = await engine.manager.wait(await engine.manager.submit("flaky", {}), timeout_s=10)
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert job.error_message == "LLM endpoint http://llm/v1 is down"
