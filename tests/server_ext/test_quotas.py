"""Per-user quotas on submissions: 429 with ``Retry-After`` past a limit, nothing queued, usage in ``api/status``.

The server tests run a real server with the mock LLM; its jobs are slow (``mock_latency_s``) and one runs at a
time, so what is submitted after the first stays pending. The counting itself (the minute sliding by, the
events that free a pending slot, several users) is tested on :class:`Quotas` with an injected clock.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from traitlets.config import Config

from lpe_nb.errors import InvalidInput, QuotaExceeded
from lpe_nb.jobs import JobEvent, JobStatus, Progress
from lpe_nb.server_ext.engine import ServerEngine
from lpe_nb.server_ext.quotas import SHARED_TOKEN_IDENTITY, Quotas, QuotaSettings
from tests.server_ext.conftest import INPUTS, Api
from tests.waiting import eventually

PROJECTION = INPUTS["projection/create"]
DEADLINE_S = 10.0


@pytest.fixture
def mock_latency_s() -> float:
    return 30.0  # the first job holds the only slot for the whole test; shutdown requeues it


@pytest.fixture
def quota_config() -> dict[str, int]:
    return {}


@pytest.fixture
def jp_server_config(jp_server_config: Config, quota_config: dict[str, int]) -> Config:
    jp_server_config.LpeExtensionApp.concurrency = 1
    for name, value in quota_config.items():
        setattr(jp_server_config.LpeExtensionApp, name, value)
    return jp_server_config


async def submit(api: Api) -> tuple[int, Any]:
    return await api("POST", "projection/create", body=PROJECTION)


async def status_quotas(api: Api) -> dict[str, Any]:
    code, status = await api("GET", "status")
    assert code == 200, status
    quotas: dict[str, Any] = status["quotas"]
    return quotas


# -- against a real server --------------------------------------------------------------------------------


@pytest.mark.parametrize("quota_config", [{"max_pending_jobs_per_user": 2}])
async def test_a_user_with_too_many_pending_jobs_gets_429_with_retry_after_and_nothing_is_queued(
    api: Api, engine: ServerEngine, jp_fetch: Any
) -> None:
    code, first = await submit(api)
    assert code == 202, first
    await eventually(lambda: first["job_id"] in engine.running_job_ids, "the first job to run")
    identity = (await status_quotas(api))["identity"]
    await eventually(lambda: engine.quotas.pending_jobs(identity) == 0, "the running job to leave the count")
    accepted = [await submit(api) for _ in range(2)]
    assert [code for code, _ in accepted] == [202, 202], accepted

    response = await jp_fetch(
        "lpe", "api", "projection", "create", method="POST", body=b'{"narrative": "x"}', raise_error=False
    )
    assert response.code == 429
    assert response.headers["Retry-After"] == "5"
    body = QuotaExceeded.from_dict(json.loads(response.body), status=429)
    assert isinstance(body, QuotaExceeded)
    assert (body.identity, body.quota, body.limit) == (identity, "max_pending_jobs_per_user", 2)
    code, refused = await api("POST", "jobs", body={"type": "projection", "input": PROJECTION})
    assert code == 429 and refused["error"] == "quota_exceeded", refused

    code, listing = await api("GET", "jobs")
    assert code == 200 and len(listing["jobs"]) == 3  # the refused ones were never queued
    quotas = await status_quotas(api)
    assert quotas["pending_jobs"] == 2 and quotas["max_pending_jobs_per_user"] == 2

    # Cancelling a pending job frees its slot.
    code, _ = await api("POST", f"jobs/{accepted[0][1]['job_id']}/cancel")
    assert code == 200
    await eventually(
        lambda: engine.quotas.pending_jobs(identity) == 1, "the cancelled job to leave the count"
    )
    code, again = await submit(api)
    assert code == 202, again


@pytest.mark.parametrize(
    "quota_config", [{"max_submits_per_minute_per_user": 3, "max_pending_jobs_per_user": 0}]
)
async def test_a_user_submitting_too_fast_gets_429_until_the_minute_has_passed(
    api: Api, jp_fetch: Any
) -> None:
    for _ in range(3):
        code, body = await submit(api)
        assert code == 202, body
    response = await jp_fetch(
        "lpe", "api", "projection", "create", method="POST", body=b'{"narrative": "x"}', raise_error=False
    )
    assert response.code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    code, body = await submit(api)
    assert code == 429 and body["details"]["quota"] == "max_submits_per_minute_per_user", body
    assert "in the last minute" in body["message"] and "retry in" in body["message"]
    quotas = await status_quotas(api)
    assert quotas["submits_last_minute"] == 3  # the refused ones do not count
    assert quotas["max_submits_per_minute_per_user"] == 3 and quotas["max_pending_jobs_per_user"] == 0


async def test_the_status_shows_the_default_quotas_and_the_callers_use_of_them(api: Api) -> None:
    before = await status_quotas(api)
    assert before["max_pending_jobs_per_user"] == 10_000
    assert before["max_submits_per_minute_per_user"] == 30_000
    assert before["submits_last_minute"] == 0 and before["identity"]
    code, _ = await submit(api)
    assert code == 202
    assert (await status_quotas(api))["submits_last_minute"] == 1


# -- the counting -----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def started(job_id: str) -> JobEvent:
    return JobEvent("status", job_id, 2, status=JobStatus.RUNNING)


async def test_the_minute_slides_and_retry_after_is_when_the_oldest_leaves_it() -> None:
    clock = Clock()
    quotas = Quotas(QuotaSettings(max_pending_jobs=0, max_submits_per_minute=2), clock=clock)
    ids = iter(range(100))

    async def new_job() -> str:
        return f"job-{next(ids)}"

    await quotas.submit("ana", new_job)
    clock.now += 20
    await quotas.submit("ana", new_job)
    clock.now += 10
    with pytest.raises(QuotaExceeded) as refused:
        await quotas.submit("ana", new_job)
    assert refused.value.retry_after_s == 30  # the first leaves the minute 60 s after it came
    await quotas.submit("bo", new_job)  # another user has a quota of their own
    clock.now += 30
    await quotas.submit("ana", new_job)
    assert quotas.usage("ana")["submits_last_minute"] == 2


async def test_the_minute_is_counted_in_whole_seconds_whatever_the_rate() -> None:
    clock = Clock()
    quotas = Quotas(QuotaSettings(max_pending_jobs=0, max_submits_per_minute=100_000), clock=clock)
    ids = iter(range(1_000_000))

    async def new_job() -> str:
        return f"job-{next(ids)}"

    for _ in range(90):  # 90 s at 500 submissions a second
        for _ in range(500):
            await quotas.submit("ana", new_job)
            clock.now += 0.002
    submits = quotas._submits["ana"]
    assert len(submits.seconds) <= 61  # one count per second of the window, not one entry per submission
    assert 59 * 500 <= quotas.usage("ana")["submits_last_minute"] <= 60 * 500
    clock.now += 61
    assert quotas.usage("ana")["submits_last_minute"] == 0
    assert "ana" not in quotas._submits  # an identity that went quiet holds nothing


async def test_a_second_leaves_the_minute_at_most_a_second_early_never_late() -> None:
    clock = Clock()
    quotas = Quotas(QuotaSettings(max_pending_jobs=0, max_submits_per_minute=1), clock=clock)

    async def new_job() -> str:
        return "job"

    clock.now = 1000.75
    await quotas.submit("ana", new_job)
    clock.now = 1059.5  # 58.75 s later: still in the minute
    with pytest.raises(QuotaExceeded) as refused:
        await quotas.submit("ana", new_job)
    assert refused.value.retry_after_s == 1  # its second (1000) leaves the minute at 1060
    clock.now = 1060.0  # 59.25 s after it: the whole second 1000 has left
    await quotas.submit("ana", new_job)


async def test_a_job_counts_as_pending_until_an_event_says_it_left_the_queue() -> None:
    quotas = Quotas(QuotaSettings(max_pending_jobs=2, max_submits_per_minute=0))
    for job_id in ("a", "b"):
        await quotas.submit("ana", lambda job_id=job_id: asyncio.sleep(0, job_id))
    with pytest.raises(QuotaExceeded, match="2 jobs waiting to start"):
        await quotas.submit("ana", lambda: asyncio.sleep(0, "c"))
    quotas.observe(JobEvent("status", "a", 1, status=JobStatus.PENDING))  # a requeue: still waiting
    quotas.observe(JobEvent.progress_of("a", Progress(seq=2)))
    assert quotas.pending_jobs("ana") == 2
    quotas.observe(started("a"))
    assert quotas.pending_jobs("ana") == 1
    await quotas.submit("ana", lambda: asyncio.sleep(0, "c"))
    quotas.events_lost()  # when events were missed, the count is forgotten, never left too high
    assert quotas.pending_jobs("ana") == 0


async def test_a_failed_submission_frees_its_pending_slot_but_counts_as_a_submission() -> None:
    quotas = Quotas(QuotaSettings(max_pending_jobs=1, max_submits_per_minute=5))

    async def refused() -> str:
        raise InvalidInput.field("narrative", "is required")

    for _ in range(3):
        with pytest.raises(InvalidInput):
            await quotas.submit("ana", refused)
    assert quotas.usage("ana") | {"identity": "ana"} == {
        "identity": "ana",
        "max_pending_jobs_per_user": 1,
        "max_submits_per_minute_per_user": 5,
        "pending_jobs": 0,
        "submits_last_minute": 3,
    }


def test_negative_limits_are_refused() -> None:
    with pytest.raises(InvalidInput, match="max_pending_jobs"):
        QuotaSettings(max_pending_jobs=-1)


async def test_every_holder_of_the_servers_token_is_one_identity(api: Api, jp_fetch: Any) -> None:
    """jupyter_server makes up a new anonymous user for each token request: that must not be a fresh quota."""
    assert (await status_quotas(api))["identity"] == SHARED_TOKEN_IDENTITY
    code, _ = await submit(api)
    assert code == 202
    assert (await status_quotas(api))["submits_last_minute"] == 1
