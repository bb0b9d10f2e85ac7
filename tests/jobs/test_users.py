"""The manager records who submitted each job and, given a ``username``, acts only on that user's jobs
(issue 13): another user's job is :class:`JobNotFound`, as for an id that does not exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lpe_nb.errors import InvalidInput, JobNotFound
from lpe_nb.jobs import JobManager, JobStatus
from lpe_nb.jobs.manager import local_username
from lpe_nb.jobs.model import new_job_id

LATER = 3600.0  # delay_s: the job stays pending through the test


async def test_a_submit_without_a_username_records_this_processs_user(
    manager: JobManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await manager.submit("noop", {}, delay_s=LATER)
    assert (await manager.get(job_id)).username == manager.local_username == local_username()
    assert await manager.submit("noop", {}, username="alice", delay_s=LATER)
    monkeypatch.setenv("JUPYTERHUB_USER", "hubuser")
    assert local_username() == "hubuser"  # on a Hub, the name the user's server knows them by
    monkeypatch.delenv("JUPYTERHUB_USER")
    monkeypatch.setenv("LOGNAME", "someone")
    monkeypatch.setenv("USER", "someone")
    assert local_username() == "someone"


async def test_another_users_job_is_not_found_for_every_action(manager: JobManager) -> None:
    bobs = await manager.submit("noop", {}, username="bob", delay_s=LATER, priority=3)
    nobody = new_job_id()
    actions: list[Callable[[str], Awaitable[Any]]] = [
        lambda job_id: manager.get(job_id, username="alice"),
        lambda job_id: manager.get_with_steps(job_id, username="alice"),
        lambda job_id: manager.set_priority(job_id, 9, username="alice"),
        lambda job_id: manager.cancel(job_id, username="alice"),
        lambda job_id: manager.delete(job_id, username="alice"),
        lambda job_id: manager.subscribe([job_id], username="alice"),
    ]
    for act in actions:
        with pytest.raises(JobNotFound) as theirs:
            await act(bobs)
        with pytest.raises(JobNotFound) as missing:
            await act(nobody)
        assert str(theirs.value).replace(bobs, "?") == str(missing.value).replace(nobody, "?")
    job = await manager.get(bobs, username="bob")
    assert (job.status, job.priority) == (JobStatus.PENDING, 3)  # untouched
    assert (await manager.set_priority(bobs, 4, username="bob")).priority == 4
    assert (await manager.cancel(bobs)).status is JobStatus.CANCELLED  # None: any job (an admin)
    with pytest.raises(InvalidInput):
        await manager.subscribe(None, username="bob")  # the stream of every job is not a user's


async def test_a_users_listing_and_counts_are_theirs(manager: JobManager) -> None:
    alices = [await manager.submit("noop", {}, username="alice", delay_s=LATER) for _ in range(3)]
    bobs = [await manager.submit("noop", {}, username="bob", delay_s=LATER)]
    page = await manager.list_jobs(username="alice", limit=2)
    assert [job.id for job in page.jobs] == alices[::-1][:2] and page.next_cursor is not None
    rest = await manager.list_jobs(username="alice", limit=2, cursor=page.next_cursor)
    assert [job.id for job in rest.jobs] == alices[:1] and rest.next_cursor is None
    assert [job.id for job in (await manager.list_jobs(username="bob")).jobs] == bobs
    assert (await manager.counts(username="alice"))[JobStatus.PENDING] == 3
    assert (await manager.counts())[JobStatus.PENDING] == 4
