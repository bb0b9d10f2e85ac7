"""A recurring schedule across a restart of a real ``jupyter server`` subprocess: every slot fires at most
once (the fires table and the jobs say so), and after the downtime the catch-up policy holds: ``skip``
fires only slots on time, ``once`` fires one run for all the slots missed, at most.

The exact choice of slot at each moment is proven on the engine with an injected clock
(``tests/jobs/test_schedules.py``); here the clock is the real one, so the test lets real slots pass.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.jupyter_process import JupyterProcess
from tests.server_ext.conftest import INPUTS

pytestmark = pytest.mark.slow

INTERVAL_S = 1.0
ON_TIME_S = INTERVAL_S / 2  # later than this a slot counts as missed (lpe_nb.jobs.recurrence.on_time_s)
DOWNTIME_S = 3.5


def schedule_when(server: JupyterProcess, schedule_id: str, predicate: Any, timeout_s: float = 30) -> Any:
    """The schedule once ``predicate(schedule)`` holds, polled through the API (a real condition, bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        schedule = server.request("GET", f"lpe/api/schedules/{schedule_id}")
        if predicate(schedule):
            return schedule
        assert time.monotonic() < deadline, f"the schedule never got there: {schedule}"
        time.sleep(0.05)  # polling a real condition over HTTP


def fires_and_jobs(db_path: Path, schedule_id: str) -> tuple[list[tuple[datetime, datetime, str]], list[str]]:
    """From the database itself, once the server has stopped: each fire (slot, fired_at, job id) in slot
    order, and the descriptions of the jobs the schedule created."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        fires = [
            (datetime.fromisoformat(slot), datetime.fromisoformat(fired_at), job_id)
            for slot, fired_at, job_id in conn.execute(
                "SELECT slot, fired_at, job_id FROM schedule_fires WHERE schedule_id = ? ORDER BY slot",
                (schedule_id,),
            )
        ]
        descriptions = [
            row[0]
            for row in conn.execute(
                "SELECT description FROM jobs WHERE description LIKE ?", (f"schedule {schedule_id},%",)
            )
        ]
    return fires, descriptions


@pytest.mark.parametrize("catch_up", ["skip", "once"])
def test_each_slot_fires_at_most_once_across_a_restart_and_the_catch_up_policy_holds(
    tmp_path: Path, catch_up: str
) -> None:
    body = {"job_type": "projection", "input": INPUTS["projection/create"], "interval_s": INTERVAL_S}
    with JupyterProcess(tmp_path) as first:
        made = first.request("POST", "lpe/api/schedules", {**body, "catch_up": catch_up})
        schedule_when(first, made["id"], lambda s: s["fire_count"] >= 2)
    stopped_at = datetime.now(timezone.utc)
    # Slots must pass while no server runs: this waits for the wall clock itself, not for another process.
    time.sleep(DOWNTIME_S)
    with JupyterProcess(tmp_path) as second:
        assert second.db_path == first.db_path
        before = second.request("GET", f"lpe/api/schedules/{made['id']}")["fire_count"]
        schedule_when(second, made["id"], lambda s: s["fire_count"] >= before + 2)
        second.request("PATCH", f"lpe/api/schedules/{made['id']}", {"paused": True})
    fires, descriptions = fires_and_jobs(first.db_path, made["id"])

    slots = [slot for slot, _, _ in fires]
    assert len(set(slots)) == len(slots)  # no slot twice
    assert sorted(descriptions) == sorted(
        f"schedule {made['id']}, slot {slot.isoformat()}" for slot, _, _ in fires
    )
    anchor = datetime.fromisoformat(made["created_at"])
    for slot in slots:  # every slot is on the schedule's grid, and none fired before its time
        assert (slot - anchor) / timedelta(seconds=INTERVAL_S) == round(
            (slot - anchor) / timedelta(seconds=INTERVAL_S)
        )
    assert all(fired_at >= slot for slot, fired_at, _ in fires)

    # the first fire after the downtime, and the slots the downtime covered
    gap_end = next(index for index, slot in enumerate(slots) if slot > stopped_at)
    last_before, first_after = slots[gap_end - 1], slots[gap_end]
    missed = round((first_after - last_before) / timedelta(seconds=INTERVAL_S)) - 1
    assert missed >= DOWNTIME_S - 1, (last_before, first_after)  # slots passed with no dispatcher
    late_s = [(fired_at - slot).total_seconds() for slot, fired_at, _ in fires]
    if catch_up == "skip":
        assert max(late_s) <= ON_TIME_S, late_s  # no missed slot was fired late
    else:
        # one run for everything missed, at restart, however late: the latest slot missed when it fired
        assert max(late_s) < INTERVAL_S, late_s
