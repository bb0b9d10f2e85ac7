"""Listing jobs: the page type, status filters and opaque keyset cursors."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs.model import JobRecord, JobStatus

__all__ = ["JobPage", "decode_cursor", "encode_cursor", "parse_statuses"]


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of jobs, newest first; pass ``next_cursor`` back to get the next page (None at the end)."""

    jobs: list[JobRecord]
    next_cursor: str | None


def parse_statuses(status: str | JobStatus | Iterable[str | JobStatus] | None) -> list[JobStatus]:
    if status is None:
        return []
    values = [status] if isinstance(status, (str, JobStatus)) else list(status)
    try:
        return [JobStatus(value) for value in values]
    except ValueError:
        choices = ", ".join(s.value for s in JobStatus)
        raise InvalidInput.field("status", f"unknown status in {values!r}; choose from: {choices}") from None


def encode_cursor(job: JobRecord) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at}|{job.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput.field("cursor", "is not a cursor this server returned") from None
    return created_at, job_id
