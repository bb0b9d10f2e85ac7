"""What the engine counts about its jobs and LLM calls, for Prometheus and for the clients.

Each engine (each :class:`~lpe_nb.jobs.JobManager`) keeps a :class:`Meter`; the job engine and the LLM
providers feed the meter of the job running in their context (:func:`current_meter`). A snapshot is
JSON-ready data; :mod:`lpe_nb.metrics.prometheus` (imported on demand: it loads ``prometheus_client``)
turns snapshots into ``lpe_*`` metric families and serves the process's figures. A leaf of the package:
it imports nothing of lpe_nb's. See ``docs/metrics.md``.
"""

from lpe_nb.metrics._meter import (
    DURATION_BUCKETS_S,
    LLM_LATENCY_BUCKETS_S,
    Histogram,
    JobTypeFigures,
    Meter,
    ModelFigures,
    current_meter,
    metered_by,
)
from lpe_nb.metrics._process import live_meters, process_snapshot, refresh_gauges, retire, track

__all__ = [
    "DURATION_BUCKETS_S",
    "LLM_LATENCY_BUCKETS_S",
    "Histogram",
    "JobTypeFigures",
    "Meter",
    "ModelFigures",
    "current_meter",
    "live_meters",
    "metered_by",
    "process_snapshot",
    "refresh_gauges",
    "retire",
    "track",
]
