"""The meter's arithmetic and the process's figures: buckets, snapshots, engines that come and go."""

from __future__ import annotations

from lpe_nb.metrics import DURATION_BUCKETS_S, Histogram, Meter, process_snapshot, retire, track
from lpe_nb.metrics.prometheus import families, to_text


def test_a_histogram_counts_each_value_in_the_first_bucket_that_holds_it_and_reports_them_cumulatively() -> (
    None
):
    histogram = Histogram((1.0, 5.0))
    for value in (0.5, 1.0, 3.0, 7.0):
        histogram.observe(value)
    assert histogram.to_dict() == {
        "count": 4,
        "sum": 11.5,
        "buckets": {"1.0": 2, "5.0": 3, "+Inf": 4},  # a value equal to a bound is in that bucket
    }


def test_a_snapshot_holds_every_figure_by_type_and_by_model() -> None:
    meter = Meter(database="db")
    meter.job_submitted("projection")
    meter.job_submitted("projection")
    meter.job_finished("projection", "completed", 2.0)
    meter.job_finished("projection", "cancelled")  # cancelled while pending: no run, no duration
    meter.job_retried("projection")
    meter.step_finished("projection", "map", 0.2, {"prompt_tokens": 5, "cache_hits": 1}, cost_usd=0.5)
    meter.llm_request("gpt-x", "ok", 0.3)
    meter.llm_request("gpt-x", "rate_limited", 0.01)
    meter.llm_retry("gpt-x")
    meter.llm_tokens("gpt-x", 10, 4, 0.25)
    meter.llm_error("gpt-x", "llm_unavailable")

    snapshot = meter.snapshot()
    projection = snapshot["job_types"]["projection"]
    assert (projection["submitted"], projection["finished"]) == (2, {"completed": 1, "cancelled": 1})
    assert (projection["retries"], projection["cache_hits"], projection["cost_usd"]) == (1, 1, 0.5)
    assert projection["duration_s"]["count"] == 1
    assert projection["steps"]["map"]["duration_s"]["count"] == 1
    model = snapshot["llm_models"]["gpt-x"]
    assert model["requests"] == {"ok": 1, "rate_limited": 1}
    assert (model["retries"], model["errors"]) == (1, {"llm_unavailable": 1})
    assert (model["input_tokens"], model["output_tokens"], model["cost_usd"]) == (10, 4, 0.25)
    assert model["latency_s"]["count"] == 2


def test_every_metric_is_named_lpe_and_the_text_format_has_the_figures() -> None:
    meter = Meter()
    meter.job_submitted("translation")
    meter.llm_tokens("m", 3, 2, None)
    names = [family.name for family in families(meter.snapshot())]
    assert names and all(name.startswith("lpe_") for name in names)
    text = to_text(meter.snapshot())
    assert 'lpe_jobs_submitted_total{job_type="translation"} 1.0' in text
    assert 'lpe_llm_input_tokens_total{model="m"} 3.0' in text
    assert (
        f'lpe_job_duration_seconds_bucket{{job_type="translation",le="{DURATION_BUCKETS_S[0]}"}} 0.0' in text
    )


def test_the_process_counters_never_go_down_when_an_engine_stops() -> None:
    def submitted() -> int:
        figures = process_snapshot(refresh=False)["job_types"].get("metrics-test-type")
        return 0 if figures is None else int(figures["submitted"])

    before = submitted()
    first, second = Meter(), Meter()
    track(first)
    track(second)
    first.job_submitted("metrics-test-type")
    second.job_submitted("metrics-test-type")
    assert submitted() == before + 2
    retire(first)
    assert submitted() == before + 2  # folded into the retired total, not lost
    assert first.snapshot()["job_types"] == {}  # the engine's own figures start again
    retire(second)
    retire(second)  # twice: counted once
    assert submitted() == before + 2
