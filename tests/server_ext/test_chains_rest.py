"""Chains through REST on an in-process server: the OpenAPI document describes ``depends_on`` and
``inputs_from`` (in both submit routes' bodies) and the chain fields of a job; bad values are 400s
naming the field; the fields of a type's route that a parent fills may be left out of its body."""

from __future__ import annotations

import pytest

from tests.server_ext.conftest import INPUTS, Api

PROJECTION = INPUTS["projection/create"]


@pytest.fixture
def lpe_dispatch() -> str:
    return "never"  # the jobs stay where the test puts them


def body_schema(doc: dict, path: str) -> dict:  # type: ignore[type-arg]
    ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema: dict = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]  # type: ignore[type-arg]
    return schema


def described(prop: dict) -> str:  # type: ignore[type-arg]
    """A property's description, also when it sits on the non-null branch of an optional field."""
    found = [prop.get("description", "")] + [
        branch.get("description", "") for branch in prop.get("anyOf", [])
    ]
    return " ".join(text for text in found if text)


async def test_the_document_describes_the_chain_fields(api: Api) -> None:
    _code, doc = await api("GET", "openapi.json")
    for path in ("/lpe/api/jobs", "/lpe/api/translation/round-trip"):
        properties = body_schema(doc, path)["properties"]
        depends_on, inputs_from = properties["depends_on"], properties["inputs_from"]
        assert "waits for" in described(depends_on) and "<job id>" in described(inputs_from), path
        assert "depends_on" in doc["paths"][path]["post"]["description"], path
    job = doc["components"]["schemas"]["JobBody"]["properties"]
    assert {"depends_on", "inputs_from", "waiting_on", "dependents"} <= set(job)
    assert all(
        job[name].get("description") for name in ("depends_on", "inputs_from", "waiting_on", "dependents")
    )


async def test_a_type_route_takes_the_chain_in_its_body_and_leaves_out_what_a_parent_fills(api: Api) -> None:
    code, parent = await api("POST", "projection/create", body=PROJECTION)
    assert code == 202, parent
    code, child = await api(
        "POST",
        "translation/round-trip",
        body={"intermediate_language": "french", "depends_on": [parent["job_id"]]},
    )
    assert code == 202, child  # no `text`: the projection's final_projection will be
    code, job = await api("GET", f"jobs/{child['job_id']}")
    assert (job["depends_on"], job["waiting_on"], job["status"]) == ([parent["job_id"]], 1, "pending")
    assert "depends_on" not in job["input_data"] and "text" not in job["input_data"]
    assert job["progress"]["current_step"].startswith("waiting for Projection")
    code, parent_job = await api("GET", f"jobs/{parent['job_id']}")
    assert parent_job["dependents"] == 1


def names(error: dict, field: str) -> bool:  # type: ignore[type-arg]
    """Whether a 400's body names ``field`` (or a part of it: ``inputs_from.text``)."""
    return any(key == field or key.startswith(f"{field}.") for key in error["fields"])


@pytest.mark.parametrize(
    ("chain", "field"),
    [
        ({"depends_on": "not-a-list"}, "depends_on"),
        ({"depends_on": ["x" * 65]}, "depends_on"),
        ({"inputs_from": ["text"]}, "inputs_from"),
        ({"inputs_from": {"text": 3}}, "inputs_from"),
        ({"depends_on": ["no-such-job"]}, "depends_on"),
        ({"inputs_from": {"nope": "no-such-job.x"}}, "inputs_from.nope"),
    ],
)
async def test_a_bad_chain_is_a_400_naming_the_field(api: Api, chain: dict, field: str) -> None:  # type: ignore[type-arg]
    input_ = {"text": "A ferry crossed the strait.", "intermediate_language": "french"}
    code, error = await api("POST", "jobs", body={"type": "translation", "input": input_, **chain})
    assert (code, error["error"]) == (400, "invalid_input"), error
    assert names(error, field), error
    code, error = await api("POST", "translation/round-trip", body={**input_, **chain})
    assert code == 400 and names(error, field), error
    code, page = await api("GET", "jobs")
    assert page["jobs"] == []  # nothing was written
