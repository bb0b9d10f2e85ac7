"""``GET lpe/api/jobs`` sends its page from the records' own wire form, without validating what the engine
made: the JSON must be the one the OpenAPI document's model (``JobPageBody``) would send."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lpe_nb.jobs import JobRecord, JobStatus
from lpe_nb.jobs.model import Progress
from lpe_nb.server_ext.schemas import JobBody, JobPageBody

# What the engine stores: JSON values (the strict encoder: no NaN or infinity, any text).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
moments = st.none() | st.just("2026-11-30T01:02:03.456789+00:00")

progress = st.builds(
    Progress,
    current_step=st.text(),
    total_steps=st.integers(0, 10),
    completed_steps=st.integers(0, 10),
    percentage=st.floats(0, 100),
    details=json_values,
    timestamp=st.just("2026-11-30T01:02:03.456789+00:00"),
    seq=st.integers(0, 10**6),
)

records = st.builds(
    JobRecord,
    id=st.uuids().map(str),
    type=st.sampled_from(["projection", "translation", "maieutic", "configuration"]),
    status=st.sampled_from(list(JobStatus)),
    title=st.text(),
    description=st.none() | st.text(),
    input_data=json_values,
    result_data=json_values,
    error_message=st.none() | st.text(),
    progress=progress,
    created_at=st.just("2026-11-30T01:02:03.456789+00:00"),
    started_at=moments,
    completed_at=moments,
    updated_at=st.just("2026-11-30T01:02:03.456789+00:00"),
    priority=st.integers(-1000, 1000),
    attempts=st.integers(0, 5),
    lease_owner=st.none() | st.text(),
    lease_expires_at=moments,
    cancel_requested=st.booleans(),
    seq=st.integers(0, 10**6),
    scheduled_at=moments,
    username=st.none() | st.text(),
    depends_on=st.lists(st.uuids().map(str), max_size=3).map(tuple),
    inputs_from=st.dictionaries(st.text(), st.text(), max_size=2),
    waiting_on=st.none() | st.integers(0, 3),
    dependents=st.integers(0, 3),
    cost_usd=st.none() | st.floats(0, 100),
    cache=st.booleans(),
)


def sent(body: Any) -> Any:
    return json.loads(json.dumps(body, allow_nan=False))  # what the handler's send_json puts on the wire


@settings(max_examples=200, deadline=None)
@given(st.lists(records, max_size=4), st.none() | st.text(min_size=1))
def test_a_page_sent_from_the_records_is_the_json_its_model_sends(
    jobs: list[JobRecord], next_cursor: str | None
) -> None:
    validated = JobPageBody(jobs=[JobBody.of(job) for job in jobs], next_cursor=next_cursor)
    assert sent(JobPageBody.wire(jobs, next_cursor)) == validated.model_dump(mode="json")
