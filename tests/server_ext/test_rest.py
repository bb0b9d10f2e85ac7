"""The REST API against a real server: create, read, list, cancel, delete, catalog and status."""

from __future__ import annotations

from typing import Any

import pytest

from lpe_nb.server_ext.engine import ServerEngine
from tests.server_ext.conftest import INPUTS, NARRATIVE, Api


async def finished(engine: ServerEngine, job_id: str) -> None:
    manager = (await engine.ready()).manager
    await manager.wait(job_id, timeout_s=20)


@pytest.mark.parametrize("path", sorted(INPUTS))
async def test_create_answers_202_persists_and_runs_to_completed(
    api: Api, engine: ServerEngine, path: str
) -> None:
    code, body = await api("POST", path, body=INPUTS[path])
    assert code == 202, body
    assert set(body) == {"job_id", "status"}
    assert body["status"] in ("pending", "running", "completed")
    code, job = await api("GET", f"jobs/{body['job_id']}")
    assert code == 200  # persisted before the 202
    await finished(engine, body["job_id"])
    code, job = await api("GET", f"jobs/{body['job_id']}")
    assert code == 200
    assert job["status"] == "completed", job["error_message"]
    assert job["result_data"]
    assert job["steps"] and all(step["job_id"] == job["id"] for step in job["steps"])
    assert job["progress"]["percentage"] == 100


@pytest.mark.parametrize("where", ["query", "body"])
async def test_wait_returns_the_finished_job(api: Api, where: str) -> None:
    body = dict(INPUTS["projection/create"])
    params = None
    if where == "body":
        body["wait"] = 30
    else:
        params = {"wait": "30"}
    code, job = await api("POST", "projection/create", body=body, params=params)
    assert code == 200, job
    assert job["status"] == "completed"
    assert job["type"] == "projection"
    assert len(job["steps"]) >= 3


async def test_maieutic_answer_continues_a_finished_session(api: Api) -> None:
    code, session = await api("POST", "maieutic/start", body=INPUTS["maieutic/start"], params={"wait": "30"})
    assert code == 200 and session["status"] == "completed"
    answers = {"session_id": session["id"], "answers": ["She wants to be free of it.", "Her father."]}
    code, job = await api("POST", "maieutic/answer", body=answers, params={"wait": "30"})
    assert code == 200, job
    assert job["status"] == "completed", job["error_message"]
    assert job["type"] == "maieutic_answer"
    assert job["steps"]


@pytest.mark.parametrize("mock_latency_s", [0.3])
async def test_wait_that_runs_out_answers_202(api: Api) -> None:
    code, body = await api(
        "POST", "projection/create", body=INPUTS["projection/create"], params={"wait": "0.05"}
    )
    assert code == 202
    assert body["status"] in ("pending", "running")


async def test_list_is_newest_first_filtered_and_paged(api: Api) -> None:
    ids = []
    for i in range(3):
        code, job = await api(
            "POST", "projection/create", body={"narrative": f"{NARRATIVE} ({i})", "wait": 30}
        )
        assert code == 200
        ids.append(job["id"])
    code, page = await api("GET", "jobs", params={"limit": "2", "status": "completed,failed"})
    assert code == 200
    assert [job["id"] for job in page["jobs"]] == ids[::-1][:2]
    assert page["next_cursor"]
    code, rest = await api("GET", "jobs", params={"limit": "2", "cursor": page["next_cursor"]})
    assert [job["id"] for job in rest["jobs"]] == ids[:1]
    assert rest["next_cursor"] is None
    code, none = await api("GET", "jobs", params={"type": "translation"})
    assert code == 200 and none["jobs"] == []
    code, pending = await api("GET", "jobs", params={"status": "pending"})
    assert pending["jobs"] == []


async def test_delete_removes_a_finished_job_and_unknown_jobs_are_404(api: Api) -> None:
    code, job = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    assert (await api("DELETE", f"jobs/{job['id']}"))[0] == 204
    for method, path in [("GET", "jobs/{}"), ("DELETE", "jobs/{}"), ("POST", "jobs/{}/cancel")]:
        code, error = await api(method, path.format(job["id"]))
        assert code == 404, (method, path)
        assert error["error"] == "job_not_found"
        assert job["id"] in error["message"]


async def test_cancel_of_a_finished_job_is_409(api: Api) -> None:
    code, job = await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    code, error = await api("POST", f"jobs/{job['id']}/cancel")
    assert code == 409
    assert error["error"] == "invalid_transition"


@pytest.mark.parametrize("mock_latency_s", [0.5])
async def test_delete_of_a_running_job_is_409_and_cancel_works(api: Api, engine: ServerEngine) -> None:
    code, body = await api("POST", "projection/create", body=INPUTS["projection/create"])
    code, error = await api("DELETE", f"jobs/{body['job_id']}")
    assert code == 409, error
    code, job = await api("POST", f"jobs/{body['job_id']}/cancel")
    assert code == 200
    await finished(engine, body["job_id"])
    code, job = await api("GET", f"jobs/{body['job_id']}")
    assert job["status"] == "cancelled"


async def test_status_names_the_mock_llm_and_counts_jobs(api: Api) -> None:
    await api("POST", "projection/create", body={**INPUTS["projection/create"], "wait": 30})
    code, status = await api("GET", "status")
    assert code == 200
    assert status["llm"] == {"provider": "mock", "model": "lpe-mock-1", "is_mock": True}
    assert status["counts"]["completed"] == 1
    assert set(status["counts"]) == {"pending", "running", "completed", "failed", "cancelled"}
    assert "projection" in status["job_types"]
    assert status["version"]


async def test_catalog_lists_builtins(api: Api) -> None:
    code, catalog = await api("GET", "catalog")
    assert code == 200
    names = [entry["name"] for entry in catalog["personas"]]
    assert "critic" in names
    assert "french" in catalog["languages"]


async def test_configuration_entry_is_then_usable_by_projection(api: Api) -> None:
    code, job = await api(
        "POST", "configuration/generate", body={**INPUTS["configuration/generate"], "wait": 30}
    )
    assert code == 200 and job["status"] == "completed", job
    code, catalog = await api("GET", "catalog")
    user: list[dict[str, Any]] = [e for e in catalog["personas"] if not e["builtin"]]
    assert user, catalog["personas"]
    code, projection = await api(
        "POST", "projection/create", body={"narrative": NARRATIVE, "persona": user[0]["name"], "wait": 30}
    )
    assert code == 200 and projection["status"] == "completed"
