"""A property-based fuzzer (schemathesis) over the served OpenAPI document, against a real ``jupyter server``
with the token and the mock LLM without latency: schema-valid and schema-invalid requests to every
operation, at least 1,000 in all, with no 5xx, every error the JSON ``Error`` body, and every reply the
status and schema the document gives for it. Reproducible: Hypothesis is derandomized (its seed comes
from each test's name) and keeps no example database.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.jupyter_process import JupyterProcess

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

pytestmark = pytest.mark.slow

MIN_REQUESTS = 1_000
EXAMPLES_PER_OPERATION = 45  # per generation mode; operations without inputs run once or twice
ERROR_KEYS = {"error", "message", "fields", "details"}


def error_is_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every answer of 400 or more is the JSON Error body, documented status or not."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == ERROR_KEYS, body
    return True


def _shorten_wait(case: Any) -> None:
    """The fuzz is about answers, not about waiting: a valid ``wait`` is cut to 0.2 s (a job that fails
    and is retried with backoff would otherwise hold its request for up to 60 s)."""
    for part in (case.body, case.query):
        wait = part.get("wait") if isinstance(part, dict) else None
        if isinstance(wait, (int, float)) and not isinstance(wait, bool) and wait > 0.2:
            part["wait"] = 0.2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    args = ["--LpeExtensionApp.llm_provider=mock", "--LpeExtensionApp.mock_latency_s=0"]
    with JupyterProcess(tmp_path_factory.mktemp("fuzz"), args=args) as process:
        yield process


def _fuzz(server: JupyterProcess, mode: Any, checks: list[Callable[..., Any]]) -> Counter[str]:
    """Requests per operation, each reply validated by ``checks``; prints the counts and the time."""
    counts: Counter[str] = Counter()
    started = time.monotonic()
    document = server.request("GET", "lpe/api/openapi.json")
    schema = schemathesis.openapi.from_dict(document)
    base_url = server.url.rstrip("/")
    headers = {"Authorization": f"token {server.token}"}
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            _shorten_wait(case)
            response = case.call(base_url=base_url, headers=headers, timeout=90)
            counts[f"{case.method} {case.path}"] += 1
            case.validate_response(response, checks=checks, headers=headers)

        run()
    print(
        f"{mode.value}: {sum(counts.values())} requests in {time.monotonic() - started:.1f} s: {dict(counts)}"
    )
    return counts


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
    unsupported_method,
    allow_header_conformance,
    error_is_json,
]


def test_valid_requests_get_documented_replies_and_never_a_5xx(server: JupyterProcess) -> None:
    counts = _fuzz(server, GenerationMode.POSITIVE, CHECKS)
    assert sum(counts.values()) >= MIN_REQUESTS // 2, counts
    assert counts["POST /lpe/api/projection/create"] > 10 and counts["GET /lpe/api/jobs/{job_id}"] > 10


def test_invalid_requests_are_json_4xx_and_never_a_5xx(server: JupyterProcess) -> None:
    counts = _fuzz(server, GenerationMode.NEGATIVE, [*CHECKS, negative_data_rejection])
    assert sum(counts.values()) >= MIN_REQUESTS // 2, counts


def test_the_server_logged_no_traceback(server: JupyterProcess) -> None:
    assert "Traceback" not in server.log()
