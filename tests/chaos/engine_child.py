"""The engine in a process of its own: ``python -m tests.chaos.engine_child DB BASE_URL [CONCURRENCY]``.

Dispatches the chaos jobs of ``DB`` against the OpenAI-compatible server at ``BASE_URL`` with the default
retry policy (backoffs scaled down), prints ``READY`` once it dispatches, and exits 0 once no job is
pending or running. The kill -9 loop kills it at random points before that.
"""

from __future__ import annotations

import asyncio
import sys

from lpe_nb.jobs import JobManager, JobStatus, OperationRegistry
from lpe_nb.llm import OpenAICompatibleLLM
from tests.chaos.harness import chaos_llm_settings, chaos_manager_settings, register_chaos


async def main(db: str, base_url: str, concurrency: int) -> None:
    llm = OpenAICompatibleLLM(chaos_llm_settings(base_url))
    registry = OperationRegistry()
    register_chaos(registry, llm)
    try:
        settings = chaos_manager_settings(concurrency=concurrency)
        async with JobManager.open(db, registry=registry, settings=settings) as manager:
            print("READY", flush=True)
            while True:
                counts = await manager.counts()
                if counts[JobStatus.PENDING] + counts[JobStatus.RUNNING] == 0:
                    return
                await asyncio.sleep(0.1)  # polling the queue's counts: the condition this process ends on
    finally:
        await llm.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 8))
