"""``lpe-nb metrics``: the engine's figures as tables, JSON or Prometheus's text format."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["format_metrics", "metrics_json"]


def format_metrics(figures: Mapping[str, Any]) -> str:
    """The figures of ``client.metrics()`` as a few readable lines: the queue, then a row per job type and
    per LLM model (mean durations are sum / count of their histograms)."""
    jobs = figures["jobs"]
    others = ", ".join(
        f"{status} {n}" for status, n in jobs["by_status"].items() if status not in ("pending", "running")
    )
    lines = [
        f"database: {figures.get('database') or '?'}",
        f"jobs: {jobs['pending']} pending, {jobs['running']} running ({jobs['running_here']} here)"
        + (f"; {others}" if others else ""),
    ]
    types: Mapping[str, Any] = figures["job_types"]
    if types:
        lines.append("")
        lines.append(
            f"{'job type':<20} {'submitted':>9} {'completed':>9} {'failed':>6} {'cancelled':>9} "
            f"{'retries':>7} {'cache hits':>10} {'cost $':>9} {'mean s':>8}"
        )
        for name, f in sorted(types.items()):
            done = f["finished"]
            lines.append(
                f"{name:<20} {f['submitted']:>9} {done.get('completed', 0):>9} {done.get('failed', 0):>6} "
                f"{done.get('cancelled', 0):>9} {f['retries']:>7} {f['cache_hits']:>10} "
                f"{f['cost_usd']:>9.4f} {_mean(f['duration_s']):>8}"
            )
    models: Mapping[str, Any] = figures["llm_models"]
    if models:
        lines.append("")
        lines.append(
            f"{'model':<20} {'requests':>8} {'ok':>6} {'failed calls':>12} {'retries':>7} "
            f"{'tokens in':>10} {'tokens out':>10} {'cost $':>9} {'mean s':>8}"
        )
        for name, m in sorted(models.items()):
            lines.append(
                f"{name:<20} {sum(m['requests'].values()):>8} {m['requests'].get('ok', 0):>6} "
                f"{sum(m['errors'].values()):>12} {m['retries']:>7} {m['input_tokens']:>10} "
                f"{m['output_tokens']:>10} {m['cost_usd']:>9.4f} {_mean(m['latency_s']):>8}"
            )
    return "\n".join(lines)


def _mean(histogram: Mapping[str, Any]) -> str:
    count = histogram["count"]
    return f"{histogram['sum'] / count:.2f}" if count else "-"


def metrics_json(figures: Mapping[str, Any]) -> str:
    return json.dumps(figures, indent=2)
