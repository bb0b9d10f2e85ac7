"""The proving ground's parts: a job type whose LLM calls name their job and step, the engine child, the
kill -9 loop, and the report that counts what was lost, stuck, duplicated or redone.

Shared by ``tests/chaos`` (CI-sized) and ``bench/chaos.py`` (bigger). Every request the fake server sees
carries ``[chaos job=<id> step=<name>]``, so its request log tells, per job and step, how many requests
were made and whether any came after the step was checkpointed (a finished step redone).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lpe_nb.jobs import JobManager, JobStatus, ManagerSettings, OperationRegistry, RetryPolicy, StepContext
from lpe_nb.jobs.store import open_store
from lpe_nb.llm import LLM, LlmSettings
from lpe_nb.operations._steps import json_step, messages, text_step
from tests.llm.fake_openai_server import FakeOpenAIServer, RecordedRequest

__all__ = [
    "CHAOS_TYPE",
    "ChaosInput",
    "ChaosReport",
    "KillLoop",
    "chaos_llm_settings",
    "chaos_manager_settings",
    "register_chaos",
    "report",
    "step_of",
    "until_all_done",
]

REPO = Path(__file__).resolve().parents[2]
CHAOS_TYPE = "chaos"
_MARK = re.compile(r"\[chaos job=([\w-]+) step=(\w+)\]")


class ChaosInput(BaseModel):
    """``steps`` LLM steps; with ``structured``, the last one asks for JSON (a :class:`Verdict`)."""

    steps: int = Field(default=3, ge=1, le=10)
    structured: bool = True


class Verdict(BaseModel):
    score: float
    reason: str = Field(min_length=1)


def register_chaos(registry: OperationRegistry, llm: LLM) -> None:
    """Add the ``chaos`` job type, whose steps call ``llm`` through the operations' own step helpers."""

    async def run(ctx: StepContext, data: ChaosInput) -> dict[str, Any]:
        names = [f"s{i}" for i in range(1, data.steps + 1)]
        texts: list[str] = []
        verdict: Verdict | None = None
        for index, name in enumerate(names):
            ctx.report(name, completed_steps=index, total_steps=len(names))
            before = texts[-1][:80] if texts else "begin"
            prompt = messages("You test fault tolerance.", f"[chaos job={ctx.job_id} step={name}] {before}")
            context = {"step": name}
            if data.structured and index == len(names) - 1:
                verdict = await json_step(
                    ctx, llm, name, prompt, Verdict, task=f"chaos.{name}", context=context
                )
            else:
                texts.append(await text_step(ctx, llm, name, prompt, task=f"chaos.{name}", context=context))
        ctx.report("done", completed_steps=len(names), total_steps=len(names))
        return {"texts": texts, "verdict": verdict.model_dump() if verdict is not None else None}

    registry.register(CHAOS_TYPE, run, input_model=ChaosInput, replace=True)


def step_of(request: RecordedRequest) -> tuple[str, str] | None:
    """The (job id, step name) a request was made for, or None for one that is not a chaos step's."""
    match = _MARK.search(request.text)
    return (match.group(1), match.group(2)) if match else None


def chaos_llm_settings(base_url: str, **overrides: Any) -> LlmSettings:
    """The defaults but for time: a short timeout (the ``slow`` and ``stall`` faults wait it out) and
    short backoffs."""
    values: dict[str, Any] = {
        "provider": "openai", "model": "fake-model", "base_url": base_url, "api_key": "sk-chaos",
        "timeout_s": 0.4, "retry_backoff_s": 0.01,
    }  # fmt: skip
    return LlmSettings(**{**values, **overrides})


def chaos_manager_settings(**overrides: Any) -> ManagerSettings:
    """The defaults (attempts, retry classification) with backoffs and polls scaled down for tests."""
    values: dict[str, Any] = {
        "concurrency": 8, "lease_s": 5.0, "poll_interval_s": 0.1, "progress_persist_interval_s": 0.5,
        "shutdown_grace_s": 0.0, "retry": RetryPolicy(backoff_s=0.02, backoff_max_s=0.5),
    }  # fmt: skip
    return ManagerSettings(**{**values, **overrides})


async def until_all_done(manager: JobManager, timeout_s: float) -> None:
    """Wait until no job of ``manager``'s database is pending or running (polled: jobs of any number, and
    without watching any, so that they make plain, unstreamed requests)."""

    async def poll() -> None:
        while True:
            counts = await manager.counts()
            if counts[JobStatus.PENDING] + counts[JobStatus.RUNNING] == 0:
                return
            await asyncio.sleep(0.05)  # polling the queue's counts: the condition itself

    await asyncio.wait_for(poll(), timeout_s)


# -- the report --------------------------------------------------------------------------------------------


@dataclass
class ChaosReport:
    """What became of the submitted jobs, counted from the database and the fake server's request log."""

    submitted: int = 0
    completed: int = 0
    lost: int = 0  # missing, failed or cancelled
    stuck: int = 0  # still pending or running
    duplicated: int = 0  # completed more than once, or a step checkpointed twice
    redone: int = 0  # requests for a step that came after it was checkpointed
    malformed: int = 0  # a completed job whose result or a step's output is empty or not what it should be
    requests: int = 0  # chaos requests the server saw
    calls: int = 0  # steps checkpointed: LLM calls that succeeded
    kills: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def requests_per_call(self) -> float:
        return self.requests / self.calls if self.calls else 0.0

    def line(self) -> str:
        return (
            f"lost={self.lost} stuck={self.stuck} duplicated={self.duplicated} redone={self.redone} "
            f"completed={self.completed} malformed={self.malformed} submitted={self.submitted} "
            f"kills={self.kills} requests={self.requests} calls={self.calls} "
            f"requests/call={self.requests_per_call:.2f}"
        )

    @property
    def ok(self) -> bool:
        return not (self.lost or self.stuck or self.duplicated or self.redone or self.malformed) and (
            self.completed == self.submitted
        )


async def report(db_path: Path, job_ids: Sequence[str], requests: Sequence[RecordedRequest]) -> ChaosReport:
    """Count, for ``job_ids``, what the database holds against what the server was asked."""
    result = ChaosReport(submitted=len(job_ids))
    asked: dict[tuple[str, str], list[float]] = defaultdict(list)
    for request in requests:
        key = step_of(request)
        if key is not None:
            asked[key].append(request.at)
            result.requests += 1
    async with open_store(db_path) as store:
        for job_id in job_ids:
            try:
                job, steps = await store.get_job_with_steps(job_id)
            except LookupError:
                result.lost += 1
                result.problems.append(f"{job_id}: missing")
                continue
            if job.status is JobStatus.COMPLETED:
                result.completed += 1
            elif job.status.is_terminal:
                result.lost += 1
                result.problems.append(f"{job_id}: {job.status.value}: {job.error_message}")
            else:
                result.stuck += 1
                result.problems.append(f"{job_id}: still {job.status.value}")
            transitions = await store.get_transitions(job_id)
            if sum(1 for t in transitions if t["to_status"] == "completed") > 1:
                result.duplicated += 1
                result.problems.append(f"{job_id}: completed twice")
            names = Counter(step.name for step in steps)
            if any(n > 1 for n in names.values()):
                result.duplicated += 1
            result.calls += len(steps)
            for step in steps:
                done_at = datetime.fromisoformat(step.completed_at).timestamp()
                late = [at for at in asked[(job_id, step.name)] if at > done_at]
                if late:
                    result.redone += len(late)
                    result.problems.append(f"{job_id}/{step.name}: asked again after its checkpoint")
                if not _well_formed_output(step.output):
                    result.malformed += 1
                    result.problems.append(f"{job_id}/{step.name}: empty or malformed output {step.output!r}")
            if job.status is JobStatus.COMPLETED and not _well_formed_result(job.result_data):
                result.malformed += 1
                result.problems.append(f"{job_id}: malformed result {job.result_data!r}")
    return result


def _well_formed_output(output: Any) -> bool:
    if not isinstance(output, dict):
        return False
    if "text" in output:
        return isinstance(output["text"], str) and bool(output["text"].strip())
    data = output.get("data")
    return isinstance(data, dict) and bool(str(data.get("reason", "")).strip())


def _well_formed_result(result: Any) -> bool:
    if not isinstance(result, dict):
        return False
    texts, verdict = result.get("texts"), result.get("verdict")
    return (
        isinstance(texts, list)
        and all(isinstance(t, str) and t.strip() for t in texts)
        and (verdict is None or (isinstance(verdict, dict) and str(verdict.get("reason", "")).strip()))
    )


# -- the kill -9 loop --------------------------------------------------------------------------------------


@dataclass
class KillLoop:
    """Run the engine in a child process over ``db_path`` against ``server``, SIGKILL it ``kills`` times
    after a random number of requests (``between``, seeded), then let a last child finish every job."""

    db_path: Path
    server: FakeOpenAIServer
    kills: int
    seed: int = 0
    between: tuple[int, int] = (10, 40)
    child_timeout_s: float = 60.0
    finish_timeout_s: float = 120.0
    concurrency: int = 8
    killed: int = 0

    async def submit(self, jobs: int, *, steps: int = 3, max_attempts: int | None = None) -> list[str]:
        """Submit ``jobs`` chaos jobs through a manager that does not dispatch; returns their ids."""
        registry = OperationRegistry()
        register_chaos(registry, llm=_NoLLM())
        async with JobManager.open(self.db_path, registry=registry, dispatch=False) as manager:
            return [
                await manager.submit(CHAOS_TYPE, {"steps": steps}, max_attempts=max_attempts)
                for _ in range(jobs)
            ]

    async def run(self) -> None:
        rng = random.Random(self.seed)
        for _ in range(self.kills):
            child = await self._spawn()
            try:
                target = self.server.call_count + rng.randint(*self.between)
                await self.server.wait_until(
                    lambda s, target=target: s.call_count >= target, timeout_s=self.child_timeout_s
                )
            finally:
                if child.returncode is None:
                    child.send_signal(signal.SIGKILL)
                await child.wait()
            if child.returncode == -signal.SIGKILL:
                self.killed += 1
        child = await self._spawn()
        try:
            await asyncio.wait_for(child.wait(), self.finish_timeout_s)
        finally:
            if child.returncode is None:
                child.send_signal(signal.SIGKILL)
                await child.wait()

    async def _spawn(self) -> asyncio.subprocess.Process:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.chaos.engine_child", str(self.db_path), self.server.base_url,
            str(self.concurrency), stdout=asyncio.subprocess.PIPE, cwd=REPO, env=env,
        )  # fmt: skip
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), self.child_timeout_s)
        if line.strip() != b"READY":
            child.kill()
            await child.wait()
            raise RuntimeError(f"the engine child did not start: {line!r}")
        return child


class _NoLLM:
    """Submitting needs the job type, not an LLM."""

    provider = "none"
    model = "none"

    async def complete(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a non-dispatching manager runs no job")

    async def aclose(self) -> None:
        return None
