"""lpe_nb.errors: one tree, and every error survives the trip through its wire form as the same class."""

from __future__ import annotations

import json

import pytest

import lpe_nb.errors as errors_module
from lpe_nb.errors import (
    AdminOnly,
    BodyTooLarge,
    DispatcherBusy,
    InvalidInput,
    InvalidTransition,
    JobFailed,
    JobInterrupted,
    JobNotFound,
    LeaseLost,
    LlmBadResponse,
    LlmError,
    LlmRefused,
    LlmUnavailable,
    LpeError,
    QuotaExceeded,
    ScheduleNotFound,
    ServerUnreachable,
    StoreError,
    SubscriptionClosed,
    TokenRefused,
    UnknownJobType,
)

# One instance of every class, built as the code raises it.
SAMPLES: list[LpeError] = [
    LpeError("something went wrong"),
    InvalidInput({"persona": "unknown persona 'poet'", "max_turns": "must be at most 10"}),
    InvalidInput({"(body)": "is empty"}, "the body is empty; send a JSON object"),
    UnknownJobType("poem", ["projection", "translation"]),
    JobNotFound("j-123"),
    ScheduleNotFound("s-123"),
    AdminOnly("lpe/api/analytics"),
    InvalidTransition("j-123", "running", "deleted (cancel it first)"),
    BodyTooLarge(2_000_000, 1_000_000),
    QuotaExceeded("ana", "max_pending_jobs_per_user", 1000, 5.0),
    QuotaExceeded("ana", "max_submits_per_minute_per_user", 600, 12.5),
    DispatcherBusy("/tmp/lpe/jobs.db"),
    StoreError("cannot open the job database /tmp/x.db: disk I/O error"),
    LeaseLost("job j-1 is no longer running under lease owner-1"),
    JobFailed("j-123", "failed", "the LLM timed out"),
    JobFailed("j-124", "cancelled", None),
    JobInterrupted("job j-1 interrupted before step 'map': the manager is stopping"),
    SubscriptionClosed(overflowed=True),
    TokenRefused("http://localhost:8888/"),
    ServerUnreachable("http://localhost:8888/", "connection refused"),
    LlmError("http://llm/v1 rejected the request (400)"),
    LlmUnavailable("http://llm/v1 is rate limiting requests; try again later"),
    LlmBadResponse("the reply is not JSON; the reply starts: 'Sure!'"),
    LlmUnavailable(
        "LLM endpoint http://llm/v1 (model 'm') failed after 3 requests (HTTP 503 Overloaded)",
        endpoint="http://llm/v1",
        model="m",
        requests=3,
        status=503,
        retry_after_s=2.5,
    ),
    LlmRefused("LLM endpoint http://llm/v1 (model 'm') declined to answer: 'I can't help with that.'"),
]


def over_the_wire(error: LpeError) -> LpeError:
    return LpeError.from_dict(json.loads(json.dumps(error.to_dict())), status=error.http_status)


def test_every_exported_name_is_an_lpe_error_with_its_own_code() -> None:
    classes = [getattr(errors_module, name) for name in errors_module.__all__]
    assert all(issubclass(cls, LpeError) for cls in classes)
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes), codes


def test_every_class_has_a_sample() -> None:
    exported = {getattr(errors_module, name) for name in errors_module.__all__}
    assert {type(sample) for sample in SAMPLES} == exported


def test_the_tree_in_the_docstring_is_the_real_tree() -> None:
    rows = {}
    for line in (errors_module.__doc__ or "").splitlines():
        words = line.replace("├──", "").replace("└──", "").replace("│", "").split()
        if len(words) >= 3 and words[0] in errors_module.__all__:
            rows[words[0]] = (words[1], int(words[2]), len(line) - len(line.lstrip(" │├└─")))
    assert set(rows) == set(errors_module.__all__)
    for name, (code, status, indent) in rows.items():
        cls = getattr(errors_module, name)
        assert (code, status) == (cls.code, cls.http_status), name
        parent = cls.__mro__[1]
        if parent is not Exception:
            assert indent == rows[parent.__name__][2] + 4, name  # drawn under its base class


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: f"{type(e).__name__}")
def test_every_error_round_trips_as_the_same_class_with_the_same_data(error: LpeError) -> None:
    rebuilt = over_the_wire(error)
    assert type(rebuilt) is type(error)
    assert rebuilt.code == error.code
    assert rebuilt.http_status == error.http_status
    assert dict(rebuilt.fields) == dict(error.fields)
    assert rebuilt.details == error.details
    assert str(rebuilt) == str(error)
    assert rebuilt.to_dict() == error.to_dict()
    for name, value in error.details.items():
        assert getattr(rebuilt, name) == value


def test_the_wire_form_is_code_message_fields_details() -> None:
    assert InvalidTransition("j-1", "completed", "cancelled").to_dict() == {
        "error": "invalid_transition",
        "message": "job j-1 is completed; it cannot become cancelled",
        "fields": {},
        "details": {"job_id": "j-1", "current": "completed", "requested": "cancelled"},
    }
    assert InvalidInput.field("persona", "unknown").to_dict() == {
        "error": "invalid_input",
        "message": "persona: unknown",
        "fields": {"persona": "unknown"},
        "details": {},
    }


def test_details_are_the_constructor_arguments() -> None:
    assert JobNotFound("j-1").details == {"job_id": "j-1"}
    assert UnknownJobType("x", ["b", "a"]).details == {"job_type": "x", "known": ["a", "b"]}
    assert BodyTooLarge(10, 5).details == {"size": 10, "limit": 5}
    assert JobFailed("j", "failed", "boom").details == {
        "job_id": "j",
        "status": "failed",
        "error_message": "boom",
    }
    assert StoreError("disk full").details == {}


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (InvalidInput, 400),
        (UnknownJobType, 400),
        (JobNotFound, 404),
        (InvalidTransition, 409),
        (BodyTooLarge, 413),
        (DispatcherBusy, 503),
        (StoreError, 503),
        (LeaseLost, 503),
        (JobFailed, 500),
        (LlmError, 500),
        (LpeError, 500),
    ],
)
def test_each_class_carries_its_http_status(cls: type[LpeError], status: int) -> None:
    assert cls.http_status == status


def test_an_unknown_code_gives_a_plain_lpe_error_keeping_code_message_and_status() -> None:
    body = {"error": "method_not_allowed", "message": "Method Not Allowed", "fields": {}, "details": {}}
    error = LpeError.from_dict(body, status=405)
    assert type(error) is LpeError
    assert (error.code, str(error), error.http_status) == ("method_not_allowed", "Method Not Allowed", 405)
    assert LpeError.code == "lpe_error"  # the instance's code did not leak into the class


def test_details_that_do_not_fit_the_class_give_a_plain_lpe_error_with_its_code() -> None:
    body = {"error": "job_not_found", "message": "no job with id 'x'", "fields": {}, "details": {}}
    error = LpeError.from_dict(body, status=404)
    assert type(error) is LpeError
    assert (error.code, str(error), error.http_status) == ("job_not_found", "no job with id 'x'", 404)


def test_the_message_is_the_senders_even_when_this_version_words_it_otherwise() -> None:
    body = {**JobNotFound("j-1").to_dict(), "message": "no such job: j-1"}
    error = LpeError.from_dict(body, status=404)
    assert isinstance(error, JobNotFound) and error.job_id == "j-1"
    assert str(error) == "no such job: j-1"


def test_a_body_of_the_old_shape_still_rebuilds_invalid_input() -> None:
    body = {"error": "invalid_input", "message": "persona: unknown", "fields": {"persona": "unknown"}}
    error = LpeError.from_dict(body, status=400)
    assert isinstance(error, InvalidInput) and error.fields == {"persona": "unknown"}


def test_a_subclass_must_name_its_own_unique_code() -> None:
    with pytest.raises(TypeError, match="must set its own `code`"):

        class NoCode(LpeError):
            pass

    with pytest.raises(TypeError, match="already JobNotFound's"):

        class Clash(LpeError):
            code = "job_not_found"


def test_a_subclass_is_rebuilt_by_its_code() -> None:
    class QuotaExceeded(LpeError):
        code = "test_quota_exceeded"
        http_status = 429
        detail_names = ("user", "limit")

        def __init__(self, user: str, limit: int) -> None:
            self.user, self.limit = user, limit
            super().__init__(f"{user} used all {limit} jobs")

    rebuilt = over_the_wire(QuotaExceeded("ana", 3))
    assert isinstance(rebuilt, QuotaExceeded)
    assert (rebuilt.user, rebuilt.limit, rebuilt.http_status) == ("ana", 3, 429)


def test_redefining_the_same_class_takes_its_code_over() -> None:
    def define() -> type[LpeError]:
        class Redefined(LpeError):  # as a notebook cell run twice defines it
            code = "test_redefined"

        return Redefined

    define()
    second = define()
    rebuilt = LpeError.from_dict({"error": "test_redefined", "message": "m"}, status=500)
    assert type(rebuilt) is second


def test_moved_classes_are_still_importable_from_their_old_modules() -> None:
    from lpe_nb.jobs import SubscriptionClosed as jobs_subscription_closed
    from lpe_nb.jobs.context import JobInterrupted as context_interrupted
    from lpe_nb.jobs.events import SubscriptionClosed as events_subscription_closed
    from lpe_nb.jobs.store import LeaseLost as store_lease_lost
    from lpe_nb.server_ext.handlers import BodyTooLarge as handlers_body_too_large

    assert store_lease_lost is LeaseLost
    assert jobs_subscription_closed is events_subscription_closed is SubscriptionClosed
    assert context_interrupted is JobInterrupted
    assert handlers_body_too_large is BodyTooLarge
