"""Run the engine on one multi-step job until killed: ``python -m tests.jobs.crash_child DB COUNTER MAX [JOB]``.

Submits the job (or, given ``JOB``, resumes that one), prints its id, then ``BLOCKED`` once the job is
inside the step named by LPE_TEST_BLOCK_AT.
"""

from __future__ import annotations

import asyncio
import sys

from lpe_nb.jobs import JobManager, ManagerSettings
from tests.jobs.ops import Probe, build_registry


async def main(db: str, counter: str, max_attempts: int, job_id: str | None) -> None:
    settings = ManagerSettings(lease_s=2.0, shutdown_grace_s=0.0)
    async with JobManager.open(db, registry=build_registry(Probe()), settings=settings) as manager:
        if job_id is None:
            job_id = await manager.submit(
                "counted_steps", {"steps": 4, "counter": counter}, max_attempts=max_attempts
            )
        print(job_id, flush=True)
        await manager.wait(job_id)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None))
