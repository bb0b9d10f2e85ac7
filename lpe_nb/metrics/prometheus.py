"""The figures in Prometheus's terms: metric families named ``lpe_*``, a collector, and the text format.

:func:`register_prometheus` adds one collector of the whole process (every live engine, see
:mod:`lpe_nb.metrics._process`) to a registry, by default ``prometheus_client.REGISTRY``, the one a
Jupyter server serves at ``/metrics``; registering again is a no-op. :func:`to_text` renders any
snapshot (an engine's, or one a client fetched) in the exposition format. ``docs/metrics.md`` lists every
metric with its labels.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from lpe_nb.metrics._process import process_snapshot

__all__ = ["ProcessCollector", "families", "register_prometheus", "to_text"]

_REGISTERED: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()  # the registries our collector is in


def families(snapshot: Mapping[str, Any]) -> list[Metric]:
    """The metric families of a snapshot (``Meter.snapshot()`` or ``GET lpe/api/metrics``)."""
    jobs = snapshot.get("jobs", {})
    types: Mapping[str, Any] = snapshot.get("job_types", {})
    models: Mapping[str, Any] = snapshot.get("llm_models", {})

    pending = GaugeMetricFamily("lpe_jobs_pending", "Jobs waiting in the database's queue (queue depth)")
    pending.add_metric([], jobs.get("pending", 0))
    running = GaugeMetricFamily(
        "lpe_jobs_running", "Jobs running in the database, whichever process runs them"
    )
    running.add_metric([], jobs.get("running", 0))
    here = GaugeMetricFamily("lpe_jobs_running_here", "Jobs this process is running now")
    here.add_metric([], jobs.get("running_here", 0))

    submitted = CounterMetricFamily("lpe_jobs_submitted", "Jobs submitted", labels=["job_type"])
    finished = CounterMetricFamily(
        "lpe_jobs_finished", "Jobs that reached a final status", labels=["job_type", "status"]
    )
    retries = CounterMetricFamily(
        "lpe_job_retries", "Failed attempts tried again (job-level retries)", labels=["job_type"]
    )
    cache_hits = CounterMetricFamily(
        "lpe_cache_hits", "LLM calls answered from the result cache", labels=["job_type"]
    )
    job_cost = CounterMetricFamily(
        "lpe_job_cost_usd", "What the saved steps' LLM calls cost, in USD", labels=["job_type"]
    )
    job_duration = HistogramMetricFamily(
        "lpe_job_duration_seconds", "Seconds from claim to outcome, per job run", labels=["job_type"]
    )
    step_duration = HistogramMetricFamily(
        "lpe_step_duration_seconds", "Seconds per finished step", labels=["job_type", "step"]
    )
    for name, figures in types.items():
        submitted.add_metric([name], figures["submitted"])
        for status, n in figures["finished"].items():
            finished.add_metric([name, status], n)
        retries.add_metric([name], figures["retries"])
        cache_hits.add_metric([name], figures["cache_hits"])
        job_cost.add_metric([name], figures.get("cost_usd", 0.0))
        _histogram(job_duration, [name], figures["duration_s"])
        for step, step_figures in figures["steps"].items():
            _histogram(step_duration, [name, step], step_figures["duration_s"])

    requests = CounterMetricFamily(
        "lpe_llm_requests", "LLM requests by outcome (ok, or what went wrong)", labels=["model", "outcome"]
    )
    errors = CounterMetricFamily(
        "lpe_llm_errors", "LLM calls that failed after their own retries", labels=["model", "error"]
    )
    llm_retries = CounterMetricFamily(
        "lpe_llm_retries", "LLM requests made again after a transient fault", labels=["model"]
    )
    latency = HistogramMetricFamily(
        "lpe_llm_request_duration_seconds", "Seconds per LLM request", labels=["model"]
    )
    tokens_in = CounterMetricFamily("lpe_llm_input_tokens", "Prompt tokens sent", labels=["model"])
    tokens_out = CounterMetricFamily("lpe_llm_output_tokens", "Completion tokens received", labels=["model"])
    cost = CounterMetricFamily("lpe_llm_cost_usd", "What the LLM calls cost, in USD", labels=["model"])
    for model, figures in models.items():
        for outcome, n in figures["requests"].items():
            requests.add_metric([model, outcome], n)
        for code, n in figures["errors"].items():
            errors.add_metric([model, code], n)
        llm_retries.add_metric([model], figures["retries"])
        _histogram(latency, [model], figures["latency_s"])
        tokens_in.add_metric([model], figures["input_tokens"])
        tokens_out.add_metric([model], figures["output_tokens"])
        cost.add_metric([model], figures["cost_usd"])

    return [
        pending, running, here, submitted, finished, retries, cache_hits, job_cost, job_duration,
        step_duration, requests, errors, llm_retries, latency, tokens_in, tokens_out, cost,
    ]  # fmt: skip


def _histogram(family: HistogramMetricFamily, labels: list[str], data: Mapping[str, Any]) -> None:
    family.add_metric(labels, list(data["buckets"].items()), sum_value=data["sum"])


class ProcessCollector(Collector):
    """Every live engine of this process, and what stopped ones counted, read at each scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from families(process_snapshot())


def register_prometheus(registry: CollectorRegistry = REGISTRY) -> None:
    """Serve the process's ``lpe_*`` metrics from ``registry`` (idempotent)."""
    if registry in _REGISTERED:
        return
    registry.register(ProcessCollector())
    _REGISTERED.add(registry)


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Mapping[str, Any]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from families(self.snapshot)


def to_text(snapshot: Mapping[str, Any]) -> str:
    """``snapshot`` in Prometheus's text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry).decode()
