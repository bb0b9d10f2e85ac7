"""A CLI command that only reads or changes rows runs no dispatcher (issue 13): on a shared database it
would claim another process's pending job, and hand it back (or run it) before it exits."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from lpe_nb.jobs.postgres import PgJobStore
from tests.jobs.records import make_job

REPO = Path(__file__).resolve().parents[2]


async def test_listing_and_showing_jobs_never_claim_one(postgres_url: str) -> None:
    job = make_job(type="translation", input_data={"text": "x", "intermediate_language": "french"})
    async with PgJobStore(postgres_url) as store:
        await store.insert_job(job)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LPE_SERVER_", "LPE_DB_"))}
        env["LPE_LLM_PROVIDER"] = "mock"
        for command in (["jobs"], ["show", job.id]):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "lpe_nb", "--db-url", postgres_url, *command,
                cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), 120)
            assert process.returncode == 0, err.decode()
            assert job.id in out.decode()
        after = await store.get_job(job.id)
        transitions = await store.get_transitions(job.id)
    assert (after.status.value, after.attempts) == ("pending", 0)
    assert [t["to_status"] for t in transitions] == ["pending"]  # its submission, nothing else
