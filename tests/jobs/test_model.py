from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from lpe_nb.errors import InvalidInput, InvalidTransition
from lpe_nb.jobs import JobRecord, JobStatus, Progress, check_transition
from lpe_nb.jobs.model import dump_json, new_job_id

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
