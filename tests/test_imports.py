"""The heavy optional imports (the openai SDK, sacrebleu) load only when a job needs them.

Each check runs in a fresh interpreter: this test process has long since imported both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

HEAVY = ("openai", "sacrebleu")
REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, **env: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints a JSON object, returned here."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LPE_", "OPENAI_"))}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**environ, **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_public_packages_loads_neither_openai_nor_sacrebleu() -> None:
    loaded = run_python(
        """
        import json, sys
        import lpe_nb, lpe_nb.client, lpe_nb.widgets, lpe_nb.operations
        print(json.dumps({name: name in sys.modules for name in ("openai", "sacrebleu")}))
        """
    )
    assert loaded == dict.fromkeys(HEAVY, False)


def test_a_mock_projection_loads_neither_and_only_a_translation_loads_sacrebleu(tmp_path: Path) -> None:
    loaded = run_python(
        """
        import asyncio, json, sys

        from lpe_nb.embedded import open_engine

        def heavy():
            return {name: name in sys.modules for name in ("openai", "sacrebleu")}

        async def main():
            seen = {}
            async with open_engine() as engine:  # LPE_DB_PATH, and the LLM from LPE_LLM_PROVIDER
                job_id = await engine.projection("Ada wrote a program.")
                job = await engine.manager.wait(job_id, timeout_s=30)
                seen["projection"] = {"status": str(job.status), "provider": engine.llm.provider, **heavy()}
                job_id = await engine.translation("Ada wrote a program.", "french")
                job = await engine.manager.wait(job_id, timeout_s=30)
                seen["translation"] = {"status": str(job.status), **heavy()}
            return seen

        print(json.dumps(asyncio.run(main())))
        """,
        LPE_DB_PATH=str(tmp_path / "jobs.db"),
        LPE_LLM_PROVIDER="mock",
    )
    assert loaded == {
        "projection": {"status": "completed", "provider": "mock", "openai": False, "sacrebleu": False},
        "translation": {"status": "completed", "openai": False, "sacrebleu": True},  # chrF needs it
    }
