"""Operations used by the engine tests (and by the crash child process)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from lpe_nb.jobs import OperationRegistry, StepContext


class CountedInput(BaseModel):
    steps: int = Field(ge=1, le=20)
    counter: str


async def counted_steps(ctx: StepContext, data: CountedInput) -> dict[str, Any]:
    """Each step appends its name to a counter file when it really runs; LPE_TEST_BLOCK_AT blocks there."""
    block_at = int(os.environ.get("LPE_TEST_BLOCK_AT", "0"))
    for index in range(1, data.steps + 1):
        name = f"step{index}"
        ctx.report(name, completed_steps=index - 1, total_steps=data.steps)

        async def work(index: int = index, name: str = name) -> str:
            if index == block_at:
                print("BLOCKED", flush=True)
                await asyncio.Event().wait()
            with open(data.counter, "a") as counter:  # noqa: ASYNC230 - tiny, and must hit disk before the step ends
                counter.write(name + "\n")
                counter.flush()
                os.fsync(counter.fileno())
            return f"output of {name}"

        await ctx.run_step(name, work, input={"index": index})
        ctx.report(name, completed_steps=index, total_steps=data.steps)
    return {"outputs": [step.output for step in ctx.steps]}


@dataclass
class Probe:
    """Shared state between a test and the operations it runs: gates, counters, the order of runs."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    max_in_flight: int = 0
    order: list[str] = field(default_factory=list)
    finally_ran: list[str] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)

    def note(self) -> None:
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], timeout_s: float = 10) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout_s)


def build_registry(probe: Probe) -> OperationRegistry:
    registry = OperationRegistry()

    async def noop(ctx: StepContext, data: Any) -> dict[str, Any]:
        return {"ok": True}

    async def gated(ctx: StepContext, data: Any) -> dict[str, Any]:
        name = (data or {}).get("name", ctx.job_id)
        probe.runs[name] = probe.runs.get(name, 0) + 1
        probe.order.append(name)
        probe.in_flight += 1
        probe.max_in_flight = max(probe.max_in_flight, probe.in_flight)
        probe.note()
        try:
            ctx.report("waiting", completed_steps=0, total_steps=1)
            await probe.release.wait()
            return {"name": name}
        finally:
            probe.in_flight -= 1
            probe.finally_ran.append(name)
            probe.note()

    async def reports(ctx: StepContext, data: Any) -> dict[str, Any]:
        total = int(data["reports"])
        for i in range(1, total + 1):
            ctx.report(f"r{i}", completed_steps=i, total_steps=total, details={"i": i})
            if i % 10 == 0:
                await asyncio.sleep(0)
        return {"reports": total}

    async def burst(ctx: StepContext, data: Any) -> None:
        total = int(data["reports"])
        for i in range(1, total + 1):
            ctx.report(f"r{i}", completed_steps=i, total_steps=total + 1)
        probe.note()
        await probe.release.wait()

    async def streams(ctx: StepContext, data: Any) -> str:
        async def work() -> str:
            text = ""
            for word in data["words"]:
                text += word + " "
                ctx.stream_text(text, final=True)
                await asyncio.sleep(0)
            await probe.release.wait()  # hold here until the test has seen the streamed text
            return text.strip()

        ctx.report("writing", completed_steps=0, total_steps=1)
        return await ctx.run_step("write", work)

    async def watched(ctx: StepContext, data: Any) -> dict[str, bool]:
        return {"streams": ctx.text_streamer() is not None}

    async def fails(ctx: StepContext, data: Any) -> None:
        probe.runs["fails"] = probe.runs.get("fails", 0) + 1
        ctx.report("about to fail", completed_steps=1, total_steps=2)
        raise RuntimeError("the model said no")

    async def bad_result(ctx: StepContext, data: Any) -> Any:
        return {"not json": object()}

    class Strict(BaseModel):
        narrative: str = Field(min_length=1)
        turns: int = Field(default=3, ge=1, le=10)

    async def strict(ctx: StepContext, data: Strict) -> dict[str, Any]:
        return {"turns": data.turns}

    operations: dict[str, Callable[[StepContext, Any], Awaitable[Any]]] = {
        "noop": noop,
        "gated": gated,
        "reports": reports,
        "streams": streams,
        "fails": fails,
        "watched": watched,
        "burst": burst,
        "bad_result": bad_result,
    }
    for name, fn in operations.items():
        registry.register(name, fn)
    registry.register("strict", strict, input_model=Strict)
    registry.register("counted_steps", counted_steps, input_model=CountedInput)
    return registry
