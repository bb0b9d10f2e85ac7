"""ManagerSettings: how a JobManager runs; every duration is in seconds. CacheSettings: its result cache."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs.retry import RetryPolicy

__all__ = ["CACHE_ENV", "CacheSettings", "ManagerSettings"]

_MIB = 1024 * 1024
_NONE_WORDS = frozenset({"none", "unlimited", "off"})

# setting, environment variable, parser (documented in README.md and docs/caching.md)
CACHE_ENV: tuple[tuple[str, str], ...] = (
    ("enabled", "LPE_LLM_CACHE"),
    ("max_age_days", "LPE_LLM_CACHE_MAX_AGE_DAYS"),
    ("max_entries", "LPE_LLM_CACHE_MAX_ENTRIES"),
    ("max_bytes", "LPE_LLM_CACHE_MAX_MB"),
)


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """The engine's cache of LLM results (``docs/caching.md``): on or off, and its bounds.

    An entry older than ``max_age_days`` is never served and is deleted at the next retention purge;
    beyond ``max_entries`` or ``max_bytes`` (the stored values' size) the least recently used entries
    are deleted then. None means no bound. Raises :class:`InvalidInput` naming the setting.
    """

    enabled: bool = True
    max_age_days: float | None = 30.0
    max_entries: int | None = 10_000
    max_bytes: int | None = 64 * _MIB

    def __post_init__(self) -> None:
        problems = {}
        if not isinstance(self.enabled, bool):
            problems["enabled"] = "must be true or false"
        if self.max_age_days is not None and not self.max_age_days > 0:
            problems["max_age_days"] = "must be a positive number of days, or None for no limit"
        for name in ("max_entries", "max_bytes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                problems[name] = "must be an integer of at least 1, or None for no limit"
        if problems:
            raise InvalidInput(problems)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> CacheSettings:
        """Read ``LPE_LLM_CACHE`` (1/0), ``LPE_LLM_CACHE_MAX_AGE_DAYS``, ``LPE_LLM_CACHE_MAX_ENTRIES`` and
        ``LPE_LLM_CACHE_MAX_MB`` (``none`` for no bound); ``overrides`` that are not None win. A bad value
        raises :class:`InvalidInput` naming its variable."""
        env = os.environ if environ is None else environ
        parsers: dict[str, Callable[[str], Any]] = {
            "enabled": _parse_switch,
            "max_age_days": _optional(float),
            "max_entries": _optional(int),
            "max_bytes": _optional(lambda raw: round(float(raw) * _MIB)),
        }
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name, variable in CACHE_ENV:
            raw = env.get(variable, "").strip()
            if raw:
                try:
                    values[name] = parsers[name](raw)
                except ValueError:
                    raise InvalidInput.field(variable, f"cannot read {raw!r}") from None
                sources[name] = variable
        for name, value in overrides.items():
            if value is not None:
                values[name] = value
                sources.pop(name, None)
        try:
            return cls(**values)
        except InvalidInput as exc:
            raise InvalidInput({sources.get(k, k): v for k, v in exc.fields.items()}) from None
        except TypeError as exc:  # an unknown override
            raise InvalidInput.field("cache", str(exc)) from None


def _parse_switch(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda raw: None if raw.lower() in _NONE_WORDS else parse(raw)


@dataclass(frozen=True, slots=True)
class ManagerSettings:
    """Tuning of a :class:`JobManager`; every duration is in seconds.

    ``max_attempts`` is the default of a job's attempts in a row without progress (see
    :mod:`lpe_nb.jobs.retry`), ``retry`` the default retry policy; a job type's declaration can override
    both, and a job its ``max_attempts`` at submit. ``claim_types``: the job types this manager claims
    (None: every type); jobs of other types wait for a manager that runs them.
    """

    concurrency: int = 8
    lease_s: float = 30.0
    heartbeat_s: float | None = None  # default: a third of the lease
    poll_interval_s: float = 1.0  # how often to look for jobs, and for a free dispatch role ("auto")
    change_poll_interval_s: float = 0.15  # how often to look for changes other processes committed
    max_attempts: int = 5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    progress_persist_interval_s: float = 1.0
    stream_interval_s: float = 0.1
    retention_days: float | None = 30.0  # None keeps finished jobs forever
    retention_check_interval_s: float = 3600.0
    purge_batch: int = 200
    shutdown_grace_s: float = 3.0
    subscriber_max_pending: int = 256
    wait_for_dispatcher_s: float = 0.0
    cache: CacheSettings = field(default_factory=CacheSettings)  # purged with the retention check
    claim_types: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        problems = {}
        for name in ("concurrency", "max_attempts", "purge_batch", "subscriber_max_pending"):
            if getattr(self, name) < 1:
                problems[name] = "must be at least 1"
        for name in (
            "lease_s",
            "poll_interval_s",
            "change_poll_interval_s",
            "progress_persist_interval_s",
            "retention_check_interval_s",
        ):
            if getattr(self, name) <= 0:
                problems[name] = "must be a positive number of seconds"
        if self.heartbeat_s is not None and not 0 < self.heartbeat_s < self.lease_s:
            problems["heartbeat_s"] = "must be positive and shorter than lease_s"
        if self.claim_types is not None and not all(isinstance(t, str) and t for t in self.claim_types):
            problems["claim_types"] = "must be job type names, or None for every type"
        if self.retention_days is not None and self.retention_days <= 0:
            problems["retention_days"] = "must be positive, or None to keep jobs forever"
        if problems:
            raise InvalidInput(problems)

    @property
    def heartbeat_interval_s(self) -> float:
        return self.heartbeat_s if self.heartbeat_s is not None else self.lease_s / 3
