"""The engine's figures over HTTP: the server's own ``/metrics`` (Prometheus), and the models of
``GET lpe/api/metrics`` (the same figures as JSON, for the clients and the OpenAPI document).

Jupyter serves ``/metrics`` from ``prometheus_client``'s default registry, where the extension registers
the process's ``lpe_*`` collector (:func:`lpe_nb.metrics.prometheus.register_prometheus`). Jupyter's
handler is synchronous and runs on the server's loop, where the job counts (a database read) cannot be
awaited, so the extension serves ``/metrics`` with :class:`PrometheusScrapeHandler`: Jupyter's handler,
same authentication (``ServerApp.authenticate_prometheus``, on by default: a token is needed), that
first reads the counts. ``docs/metrics.md`` lists the metrics.
"""

from __future__ import annotations

import logging

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import PrometheusMetricsHandler
from pydantic import BaseModel, ConfigDict, Field
from tornado import web

from lpe_nb.errors import LpeError
from lpe_nb.metrics import refresh_gauges

__all__ = [
    "METRICS_PATH",
    "HistogramBody",
    "JobCountsBody",
    "JobTypeFiguresBody",
    "MetricsBody",
    "ModelFiguresBody",
    "PrometheusScrapeHandler",
]

log = logging.getLogger(__name__)

METRICS_PATH = "metrics"  # under the server's base_url, where Jupyter serves its own


class _Reply(BaseModel):
    model_config = ConfigDict(extra="allow")


class HistogramBody(_Reply):
    """Observations in buckets, as Prometheus counts them."""

    count: int
    sum: float
    buckets: dict[str, int] = Field(
        description="upper bound (seconds, or +Inf) -> how many observations were at most that: cumulative"
    )


class StepFiguresBody(_Reply):
    duration_s: HistogramBody


class JobTypeFiguresBody(_Reply):
    """What happened to the jobs of one type since this engine started."""

    submitted: int
    finished: dict[str, int] = Field(description="final status (completed, failed, cancelled) -> jobs")
    retries: int = Field(description="failed attempts tried again (the job-level retries)")
    cache_hits: int = Field(description="LLM calls of its steps answered from the result cache")
    cost_usd: float = Field(description="what its saved steps' LLM calls cost (those with a price)")
    duration_s: HistogramBody = Field(description="seconds from claim to outcome, per job this engine ran")
    steps: dict[str, StepFiguresBody] = Field(description="step name -> its durations")


class ModelFiguresBody(_Reply):
    """What the LLM requests to one model did since this engine started."""

    requests: dict[str, int] = Field(
        description="outcome -> requests: ok, rate_limited, server_error, timeout, unreachable, stream_cut, "
        "stream_stalled, bad_response, refused, rejected, cancelled, error"
    )
    errors: dict[str, int] = Field(description="error code -> calls that failed after their own retries")
    retries: int = Field(description="requests made again after a transient fault, within a call")
    latency_s: HistogramBody
    input_tokens: int
    output_tokens: int
    cost_usd: float


class JobCountsBody(_Reply):
    """The database's jobs, read when asked (the same for every process on it)."""

    pending: int = Field(description="jobs waiting in the queue (scheduled and blocked ones too)")
    running: int = Field(description="jobs running, whichever process runs them")
    by_status: dict[str, int]
    running_here: int = Field(description="jobs this server is running now")


class MetricsBody(_Reply):
    """This server's engine's figures: what ``/metrics`` serves as ``lpe_*`` metrics (docs/metrics.md)."""

    database: str | None
    jobs: JobCountsBody
    job_types: dict[str, JobTypeFiguresBody]
    llm_models: dict[str, ModelFiguresBody]


class PrometheusScrapeHandler(PrometheusMetricsHandler):
    """Jupyter's ``/metrics``, with the job counts read before the registry is rendered."""

    @allow_unauthenticated
    async def get(self) -> None:  # type: ignore[override]  # Jupyter's is synchronous; Tornado awaits both
        if self.settings["authenticate_prometheus"] and not self.logged_in:
            raise web.HTTPError(403)
        try:
            await refresh_gauges()
        except LpeError as exc:  # the database is unusable now: the counters still go out, the counts stale
            log.debug("lpe_nb: /metrics without fresh job counts: %s", exc)
        super().get()
