"""kill -9 at random points, again and again: no job lost, stuck, completed twice, or a finished step redone.

The engine runs in a child process over a shared database, against the fake server in this process
(which also injects transient faults); the server's request log says, per job and step, whether a step
was asked again after it was checkpointed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import KillLoop, report
from tests.llm.fake_openai_server import TRANSIENT_FAULTS, FakeOpenAIServer, SeededFaults

pytestmark = pytest.mark.slow

JOBS = 100
KILLS = 10


async def test_kill_9_loses_nothing_and_redoes_no_finished_step(
    db_path: Path, server: FakeOpenAIServer
) -> None:
    server.faults = SeededFaults(0.1, TRANSIENT_FAULTS, seed=5)
    loop = KillLoop(db_path, server, kills=KILLS, seed=3, between=(15, 40))
    # A job interrupted by several kills in a row before it finished a step would use up its attempts
    # (correctly); a few more than the default keep this test about losing jobs, not about that.
    ids = await loop.submit(JOBS, steps=3, max_attempts=10)

    await loop.run()

    result = await report(db_path, ids, server.requests)
    result.kills = loop.killed
    print(result.line())
    assert loop.killed >= KILLS
    assert result.ok, result.problems[:10]
    assert (result.lost, result.stuck, result.duplicated, result.redone) == (0, 0, 0, 0)
    assert result.completed == JOBS
