from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lpe_nb.errors import InvalidInput, InvalidTransition
from lpe_nb.jobs import JobRecord, JobStatus, Progress, check_transition
from lpe_nb.jobs._rows import progress_json
from lpe_nb.jobs.model import dump_json, new_job_id, replace_job, to_iso

LEGAL = {
    ("pending", "running"), ("pending", "cancelled"), ("running", "completed"), ("running", "failed"),
    ("running", "cancelled"), ("running", "pending"),
}  # fmt: skip


@pytest.mark.parametrize("old", list(JobStatus))
@pytest.mark.parametrize("new", list(JobStatus))
def test_transition_table(old: JobStatus, new: JobStatus) -> None:
    if (old.value, new.value) in LEGAL:
        check_transition("j", old, new)
    else:
        with pytest.raises(InvalidTransition):
            check_transition("j", old, new)


def test_terminal_statuses_have_no_way_out() -> None:
    job = JobRecord(id="j", type="t", status=JobStatus.COMPLETED, title="t")
    assert job.is_terminal
    with pytest.raises(InvalidTransition, match="job j is completed; it cannot become running"):
        job.moved_to(JobStatus.RUNNING)


def test_percentage_is_clamped_to_0_100() -> None:
    assert Progress.percent_of(7, 6) == 100.0
    assert Progress.percent_of(-1, 6) == 0.0
    assert Progress.percent_of(1, 3) == 33.3
    assert Progress.percent_of(1, 0) == 0.0


def test_progress_round_trips_and_ignores_unknown_fields() -> None:
    p = Progress(
        current_step="map", total_steps=6, completed_steps=3, percentage=50.0, details={"a": 1}, seq=9
    )
    assert Progress.from_dict({**p.to_dict(), "extra": True}) == p


def test_dump_json_names_the_field() -> None:
    with pytest.raises(InvalidInput) as info:
        dump_json({"x": {1, 2}}, field_name="input_data")
    assert list(info.value.fields) == ["input_data"]


def test_dump_json_is_compact_keeps_text_as_it_is_and_refuses_what_json_cannot_hold() -> None:
    assert dump_json({"a": [1, 2.5, None], "é": "日本"}, field_name="x") == '{"a":[1,2.5,null],"é":"日本"}'
    for value in (float("nan"), {"x": float("inf")}):
        with pytest.raises(InvalidInput) as info:
            dump_json(value, field_name="result_data")
        assert list(info.value.fields) == ["result_data"]
    circular: list[object] = []
    circular.append(circular)
    with pytest.raises(InvalidInput):
        dump_json(circular, field_name="output")


def test_job_ids_are_distinct_in_their_first_eight_characters() -> None:
    # Views show a job by its id's first 8 characters: ids made together must differ there (a time-ordered
    # UUID 7 would not: its first 8 characters are the same for a minute).
    ids = [new_job_id() for _ in range(200)]
    assert all(uuid.UUID(i).version == 4 for i in ids)
    assert len({i[:8] for i in ids}) == len(ids)


def test_a_jobs_wire_form_has_every_field_and_shares_its_values_rather_than_copying_them() -> None:
    # GET lpe/api/jobs builds this for every job of a page: a deep copy (dataclasses.asdict) was two thirds
    # of what a page of 50 jobs cost (issue 15).
    job = JobRecord(
        id="j",
        type="projection",
        status=JobStatus.RUNNING,
        title="t",
        input_data={"narrative": "n", "nested": [{"a": 1}]},
        progress=Progress(current_step="map", total_steps=2, details={"partial_text": "x"}, seq=3),
        depends_on=("p",),
        inputs_from={"narrative": "p.text"},
        cost_usd=0.1 + 0.2,
    )
    wire = job.to_dict()
    assert set(wire) == {field.name for field in dataclasses.fields(JobRecord)}
    assert wire["status"] == "running"
    assert wire["progress"] == job.progress.to_dict()
    assert wire["input_data"] is job.input_data and wire["inputs_from"] is job.inputs_from
    assert json.loads(json.dumps(wire)) == {
        **dataclasses.asdict(job),
        "status": "running",
        "progress": job.progress.to_dict(),
        "depends_on": ["p"],
    }


def test_job_ids_are_random_uuids_in_their_usual_text_form() -> None:
    for job_id in (new_job_id() for _ in range(2000)):
        parsed = uuid.UUID(job_id)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, job_id)
    assert len({new_job_id()[19] for _ in range(2000)}) == 4  # the variant's 2 random bits both vary


@pytest.mark.parametrize(
    "progress",
    [
        Progress(current_step="queued", timestamp="2026-11-30T00:00:00.000000+00:00", seq=1),
        Progress("completed", 3, 3, 100.0, None, "2026-11-30T00:00:01.000000+00:00", 7),
        Progress('quotes " and \\ and \n and \x01 and é and 🦉', 10, 3, 33.3, None, "t", 2**40),
        Progress("tiny", 1, 0, 1e-7, None, "", 0),
        Progress("with details", 2, 1, 50.0, {"plan": [1, 2]}, "t", 3),  # the encoder's way
        Progress("an int percentage", 2, 2, 100, None, "t", 3),  # (not a float)
    ],
)
def test_progress_is_stored_as_the_strict_encoder_writes_it(progress: Progress) -> None:
    assert progress_json(progress) == dump_json(progress.to_dict(), field_name="progress")


def test_progress_that_json_cannot_hold_is_refused_as_before() -> None:
    with pytest.raises(InvalidInput, match="progress"):
        progress_json(Progress("nan", 1, 0, float("nan"), None, "t", 1))


def test_replace_job_is_dataclasses_replace() -> None:
    job = JobRecord(
        id=new_job_id(), type="noop", status=JobStatus.RUNNING, title="t", input_data={"a": 1}, seq=2
    )
    changes: dict[str, Any] = {
        "status": JobStatus.COMPLETED,
        "result_data": [1],
        "seq": 3,
        "lease_owner": None,
    }
    assert replace_job(job, **changes) == dataclasses.replace(job, **changes)
    assert replace_job(job, **changes).input_data is job.input_data
    with pytest.raises(TypeError, match="no field 'colour'"):
        replace_job(job, colour="red")


def test_to_iso_is_utc_with_a_fixed_width_whatever_the_zone() -> None:
    moment = datetime(2026, 11, 30, 1, 2, 3, tzinfo=timezone.utc)
    assert to_iso(moment) == "2026-11-30T01:02:03.000000+00:00"
    assert to_iso(moment.astimezone(timezone(timedelta(hours=5)))) == "2026-11-30T01:02:03.000000+00:00"
