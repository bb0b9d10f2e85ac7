"""What reading the user catalog from the job store costs a submit (issue 13: the catalog is in the store).

A job type whose input names catalog entries (projection, maieutic answers) refreshes the catalog before
its input is checked, at submit and when the job starts: a point read of the catalog's revision, and all
the entries only when it moved. This prints, on a SQLite file (and on PostgreSQL too with ``--postgres``
or ``--db-url``), the time of a refresh of an unchanged catalog of ``--entries`` user entries and of
reading them all, and the submit time of a projection against a translation (which reads nothing), alternating,
with the load average. No job runs (the engine does not dispatch)::

    python bench/catalog_refresh.py [--entries 200] [--jobs 400] [--postgres | --db-url postgresql://...]

One line per backend, medians: ``refresh_us`` (an unchanged catalog: the revision's point read),
``read_all_us`` (reading every entry, as a refresh does after a change), ``projection_submit_us`` and
``translation_submit_us``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lpe_nb.embedded import Engine, open_engine
from lpe_nb.llm import MockLLM
from lpe_nb.testing.postgres import ThrowawayPostgres

NARRATIVE = "The lighthouse keeper logged every ship that passed, until the night the lamp went dark."


def _median_us(times: list[float]) -> float:
    return statistics.median(times) * 1e6


async def measure(engine: Engine, entries: int, jobs: int) -> tuple[float, float, float, float]:
    for i in range(entries - len(await engine.manager.store.catalog_entries())):
        await engine.catalog.add("persona", f"bench-{i}", f"a persona for the bench, number {i}", {"i": i})
    refresh: list[float] = []
    read_all: list[float] = []
    for _ in range(jobs):
        started = time.perf_counter()
        await engine.catalog.refresh()  # unchanged: the revision's point read
        refresh.append(time.perf_counter() - started)
        started = time.perf_counter()
        await engine.manager.store.catalog_entries()  # what reading the catalog each time would cost
        read_all.append(time.perf_counter() - started)
    projection: list[float] = []
    translation: list[float] = []
    for i in range(jobs):  # alternating, so both see the same machine load
        started = time.perf_counter()
        await engine.submit("projection", {"narrative": NARRATIVE, "persona": f"bench-{i % max(entries, 1)}"}
                            if entries else {"narrative": NARRATIVE})  # fmt: skip
        projection.append(time.perf_counter() - started)
        started = time.perf_counter()
        await engine.submit("translation", {"text": NARRATIVE, "intermediate_language": "french"})
        translation.append(time.perf_counter() - started)
    return _median_us(refresh), _median_us(read_all), _median_us(projection), _median_us(translation)


async def run(url: str, entries: int, jobs: int) -> str:
    async with open_engine(db_url=url, llm=MockLLM(0.0), dispatch=False) as engine:
        refresh_us, read_all_us, projection_us, translation_us = await measure(engine, entries, jobs)
    return (
        f"refresh_us={refresh_us:.0f} read_all_us={read_all_us:.0f} projection_submit_us={projection_us:.0f} "
        f"translation_submit_us={translation_us:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL")
    parser.add_argument("--db-url", default=None, help="also on this PostgreSQL database (its catalog grows)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        urls = {"sqlite": f"sqlite:///{Path(tmp) / 'jobs.db'}"}
        if args.db_url:
            urls["postgres"] = args.db_url
        elif args.postgres:
            urls["postgres"] = stack.enter_context(ThrowawayPostgres()).url
        for backend, url in urls.items():
            figures = asyncio.run(run(url, args.entries, args.jobs))
            load = os.getloadavg()[0]
            print(f"backend={backend} entries={args.entries} jobs={args.jobs} load={load:.2f} {figures}")


if __name__ == "__main__":
    main()
