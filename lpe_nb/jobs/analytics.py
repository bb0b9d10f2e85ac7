"""Analytics over the job history as pure data: the query's rules and the report's shape, no I/O.

A report covers the jobs *created* in ``[since, until)``, grouped by any of :data:`ANALYTICS_GROUPS`
(none: one group, the totals). Each group has counts per status, a success rate, duration percentiles,
tokens, cost and the LLM result cache's hit rate; :class:`AnalyticsGroup` says how each is computed. The
store computes the figures (:meth:`lpe_nb.jobs.store.JobStore.analytics`); this module checks the query
and carries the answer to every front door (REST, both clients, the CLI, the widget).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs.model import to_iso

__all__ = [
    "ANALYTICS_GROUPS",
    "DEFAULT_ANALYTICS_DAYS",
    "Analytics",
    "AnalyticsGroup",
    "AnalyticsRange",
    "check_analytics_query",
]

ANALYTICS_GROUPS = ("day", "type", "model", "status")
"""What a report can be grouped by: the UTC day a job was created, its type, the model of its steps, its
status."""

DEFAULT_ANALYTICS_DAYS = 30  # the range when no ``since`` is given: the last 30 days up to ``until``


@dataclass(frozen=True, slots=True)
class AnalyticsRange:
    """A checked query: ``since``/``until`` as fixed-width UTC ISO strings, ``group_by`` in order, and
    ``username``: only that user's jobs (None: everyone's)."""

    since: str
    until: str
    group_by: tuple[str, ...]
    username: str | None = None


def check_analytics_query(
    now: datetime,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    group_by: str | Iterable[str] = (),
    username: str | None = None,
) -> AnalyticsRange:
    """The query checked and normalised; :class:`InvalidInput` naming ``since``, ``until`` or
    ``group_by`` otherwise. ``since`` and ``until`` are timezone-aware datetimes or ISO 8601 strings with
    an offset (``Z`` accepted); ``until`` defaults to ``now`` and ``since`` to :data:`DEFAULT_ANALYTICS_DAYS`
    days before it. ``group_by`` is one name, comma-separated names or a sequence of them."""
    end = _moment("until", until) if until is not None else now
    if since is not None:
        start = _moment("since", since)
    else:
        try:
            start = end - timedelta(days=DEFAULT_ANALYTICS_DAYS)
        except OverflowError:
            raise InvalidInput.field("until", "is too early to count 30 days back from; give since") from None
    if start >= end:
        raise InvalidInput.field("since", f"must be before until ({to_iso(end)}), not {to_iso(start)}")
    names = [group_by] if isinstance(group_by, str) else list(group_by)
    groups = [part.strip() for name in names for part in str(name).split(",") if part.strip()]
    unknown = [name for name in groups if name not in ANALYTICS_GROUPS]
    if unknown:
        raise InvalidInput.field(
            "group_by", f"cannot group by {unknown[0]!r}; choose from {', '.join(ANALYTICS_GROUPS)}"
        )
    if len(set(groups)) != len(groups):
        raise InvalidInput.field("group_by", f"names a group twice: {', '.join(groups)}")
    return AnalyticsRange(to_iso(start), to_iso(end), tuple(groups), username)


def _moment(name: str, value: datetime | str) -> datetime:
    if isinstance(value, str):
        text = value.strip()
        try:
            # Python 3.10's fromisoformat does not read a trailing Z
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise InvalidInput.field(
                name, f"must be an ISO 8601 time such as 2026-11-01T00:00:00Z, not {text[:40]!r}"
            ) from None
    if not isinstance(value, datetime):
        raise InvalidInput.field(
            name, f"must be a datetime or an ISO 8601 string, not {type(value).__name__}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput.field(name, "must have a timezone (e.g. 2026-11-01T00:00:00Z)")
    try:
        return value.astimezone(timezone.utc)  # stored times are UTC; year 1 at +14:00 has no UTC form
    except OverflowError:
        raise InvalidInput.field(name, "is out of range once in UTC") from None


@dataclass(frozen=True, slots=True)
class AnalyticsGroup:
    """The figures of one group of jobs; ``key`` maps each grouped-by name to its value (``{}`` for the
    totals; ``model`` is None for jobs with no LLM step).

    - ``jobs`` and the count per status; ``success_rate`` is completed / (completed + failed), None when
      none has finished that way (a cancelled job is neither a success nor a failure);
    - ``duration_p50_s`` / ``duration_p95_s``: nearest-rank percentiles of ``completed_at - started_at``
      over the jobs that started and ended (retries and waits between attempts included), None if none;
    - tokens, ``cost_usd`` (None when no step had a price) and LLM calls summed over the jobs' steps;
      grouped by model, over the steps of that model only, and a job that used two models is in both;
    - ``cache_hit_rate``: ``cache_hits / (cache_hits + llm_calls)``, 0 when the steps counted neither.
    """

    key: dict[str, str | None]
    jobs: int = 0
    pending: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    success_rate: float | None = None
    duration_p50_s: float | None = None
    duration_p95_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = None
    llm_calls: int = 0
    cache_hits: int = 0
    cache_hit_rate: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalyticsGroup:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["key"] = dict(data.get("key") or {})
        return cls(**known)

    @classmethod
    def from_sums(
        cls,
        row: Mapping[str, Any],
        key: dict[str, Any],
        *,
        duration_p50_s: float | None,
        duration_p95_s: float | None,
    ) -> AnalyticsGroup:
        """The group from a backend's aggregate row: ``jobs``, a count per status, the usage sums and
        ``cost_usd`` (each None when SQL summed nothing); the rates are derived here."""
        completed, failed = row["completed"] or 0, row["failed"] or 0
        hits, calls = row["cache_hits"] or 0, row["llm_calls"] or 0
        return cls(
            key=key,
            jobs=row["jobs"] or 0,
            pending=row["pending"] or 0,
            running=row["running"] or 0,
            completed=completed,
            failed=failed,
            cancelled=row["cancelled"] or 0,
            success_rate=completed / (completed + failed) if completed + failed else None,
            duration_p50_s=duration_p50_s,
            duration_p95_s=duration_p95_s,
            prompt_tokens=row["prompt_tokens"] or 0,
            completion_tokens=row["completion_tokens"] or 0,
            total_tokens=row["total_tokens"] or 0,
            cost_usd=row["cost_usd"],
            llm_calls=calls,
            cache_hits=hits,
            cache_hit_rate=hits / (hits + calls) if hits + calls else 0.0,
        )


@dataclass(frozen=True, slots=True)
class Analytics:
    """A report: its range, how it is grouped, one :class:`AnalyticsGroup` per group (ordered by key),
    and the totals over the whole range."""

    since: str
    until: str
    group_by: tuple[str, ...]
    groups: list[AnalyticsGroup] = field(default_factory=list)
    totals: AnalyticsGroup = field(default_factory=lambda: AnalyticsGroup(key={}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "group_by": list(self.group_by),
            "groups": [g.to_dict() for g in self.groups],
            "totals": self.totals.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Analytics:
        return cls(
            since=data["since"],
            until=data["until"],
            group_by=tuple(data.get("group_by") or ()),
            groups=[AnalyticsGroup.from_dict(g) for g in data.get("groups") or ()],
            totals=AnalyticsGroup.from_dict(data.get("totals") or {"key": {}}),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per group (its key's names first, then the figures), e.g. for a table or
        ``pandas.DataFrame(report.rows())``."""
        return [{**g.key, **{k: v for k, v in g.to_dict().items() if k != "key"}} for g in self.groups]
