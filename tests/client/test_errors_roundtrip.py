"""Every error the API returns reaches the remote client as the exception the server raised: same class,
code, fields and details, rebuilt from the body's code (a real Jupyter server with the extension).

The server's exceptions are recorded where they become a response (``LpeApiHandler.write_error``) or an
error frame (``JobsWebSocket._send_error``), so each test compares the client's error with the very object
the server serialised.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from lpe_nb.client import AsyncClient
from lpe_nb.errors import (
    BodyTooLarge,
    DispatcherBusy,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    LpeError,
    StoreError,
    UnknownJobType,
)
from lpe_nb.llm.mock import MockLLM
from lpe_nb.server_ext.handlers import LpeApiHandler
from lpe_nb.server_ext.ws import JobsWebSocket
from tests.client.contract import NARRATIVE, VERY_SLOW, WAIT_S

Sent = list[LpeError]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """The LpeErrors the server turns into error bodies and error frames, in order."""
    recorded: Sent = []
    write_error, send_error = LpeApiHandler.write_error, JobsWebSocket._send_error

    def record_body(handler: LpeApiHandler, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, LpeError):
            recorded.append(error)
        write_error(handler, status_code, **kwargs)

    def record_frame(socket: JobsWebSocket, job_id: str | None, error: LpeError) -> None:
        recorded.append(error)
        send_error(socket, job_id, error)

    monkeypatch.setattr(LpeApiHandler, "write_error", record_body)
    monkeypatch.setattr(JobsWebSocket, "_send_error", record_frame)
    return recorded


async def raised_by(call: Callable[[], Awaitable[Any]], sent: Sent, expected: type[LpeError]) -> LpeError:
    """Run ``call``; check the client raised the same error as the last one the server sent."""
    with pytest.raises(LpeError) as caught:
        await asyncio.wait_for(call(), WAIT_S)
    got = caught.value
    assert sent, f"the server sent no error, yet the client raised {got!r}"
    server = sent[-1]
    assert type(server) is expected, server
    assert type(got) is type(server)
    assert got.code == server.code
    assert got.http_status == server.http_status
    assert dict(got.fields) == dict(server.fields)
    assert got.details == server.details
    assert str(got) == str(server)
    return got


async def test_invalid_input_keeps_every_field(remote_client: AsyncClient, sent: Sent) -> None:
    got = await raised_by(
        lambda: remote_client.projection(NARRATIVE, persona="no-such-persona"),
        sent,
        InvalidInput,
    )
    assert "persona" in got.fields


async def test_invalid_input_of_several_fields_keeps_them_all(remote_client: AsyncClient, sent: Sent) -> None:
    got = await raised_by(
        lambda: remote_client.maieutic_answer("s", []),
        sent,
        InvalidInput,
    )
    assert "answers" in got.fields


async def test_unknown_job_type_keeps_the_known_types(remote_client: AsyncClient, sent: Sent) -> None:
    got = await raised_by(lambda: remote_client.submit("no_such_type", {}), sent, UnknownJobType)
    assert isinstance(got, UnknownJobType)
    assert got.job_type == "no_such_type" and "projection" in got.known


@pytest.mark.parametrize("verb", ["job", "cancel", "delete"])
async def test_an_unknown_job_is_job_not_found(remote_client: AsyncClient, sent: Sent, verb: str) -> None:
    got = await raised_by(lambda: getattr(remote_client, verb)("no-such-job"), sent, JobNotFound)
    assert isinstance(got, JobNotFound) and got.job_id == "no-such-job"


async def test_watching_an_unknown_job_is_job_not_found(remote_client: AsyncClient, sent: Sent) -> None:
    got = await raised_by(lambda: remote_client.events("no-such-job").__anext__(), sent, JobNotFound)
    assert isinstance(got, JobNotFound) and got.job_id == "no-such-job"


@pytest.mark.parametrize("mock_latency_s", [VERY_SLOW])
async def test_deleting_a_running_job_is_an_invalid_transition(
    remote_client: AsyncClient, sent: Sent
) -> None:
    job = await remote_client.projection(NARRATIVE)
    got = await raised_by(lambda: remote_client.delete(job.id), sent, InvalidTransition)
    assert isinstance(got, InvalidTransition)
    assert (
        got.job_id == job.id and got.current in ("pending", "running") and got.requested.startswith("deleted")
    )
    await remote_client.cancel(job.id)


async def test_cancelling_a_finished_job_is_an_invalid_transition(
    remote_client: AsyncClient, sent: Sent
) -> None:
    job = await remote_client.projection(NARRATIVE)
    await job.wait(timeout=WAIT_S)
    got = await raised_by(lambda: remote_client.cancel(job.id), sent, InvalidTransition)
    assert isinstance(got, InvalidTransition)
    assert (got.job_id, got.current, got.requested) == (job.id, "completed", "cancelled")


async def test_a_body_over_the_limit_is_body_too_large(remote_client: AsyncClient, sent: Sent) -> None:
    got = await raised_by(lambda: remote_client.projection(NARRATIVE * 2000), sent, BodyTooLarge)
    assert isinstance(got, BodyTooLarge)
    assert got.limit == 100_000 < got.size  # the test server's max_body_bytes


@pytest_asyncio.fixture
async def other_dispatcher(lpe_db: Path) -> AsyncIterator[AsyncClient]:
    """An embedded engine dispatching the server's database before the server starts."""
    async with await AsyncClient.embedded(lpe_db, llm=MockLLM(0.0)) as holder:
        yield holder


@pytest.mark.parametrize("lpe_dispatch", ["always"])
async def test_a_database_another_manager_dispatches_is_dispatcher_busy_to_a_server_that_must_dispatch(
    other_dispatcher: AsyncClient, server_url: str, server_token: str, lpe_db: Path, sent: Sent
) -> None:
    async with AsyncClient.remote(server_url, server_token) as client:
        got = await raised_by(lambda: client.jobs(), sent, DispatcherBusy)
    assert isinstance(got, DispatcherBusy) and got.db_path == str(lpe_db)


async def test_a_server_on_a_database_another_manager_dispatches_serves_it_as_a_peer(
    other_dispatcher: AsyncClient, server_url: str, server_token: str
) -> None:
    async with AsyncClient.remote(server_url, server_token) as client:
        job = await client.projection(NARRATIVE)  # run by the other manager, watched through the server
        assert (await job.wait(timeout=WAIT_S)).status == "completed"


@pytest.fixture
def unusable_db(lpe_db: Path) -> Path:
    lpe_db.mkdir(parents=True)  # a directory where the database file should be
    return lpe_db


async def test_a_database_that_cannot_be_opened_is_a_store_error(
    unusable_db: Path, server_url: str, server_token: str, sent: Sent
) -> None:
    async with AsyncClient.remote(server_url, server_token) as client:
        got = await raised_by(lambda: client.jobs(), sent, StoreError)
    assert str(unusable_db) in str(got)
