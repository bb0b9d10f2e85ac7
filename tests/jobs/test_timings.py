"""Expected step durations: the weighted percentage, the time left, and the cache in front of the store."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from lpe_nb.jobs import JobStatus, JobStore, Progress, open_store
from lpe_nb.jobs._timings import StepPlan, StepTimings, step_kind
from tests.jobs.records import at, make_job, make_step

LEASE = at(60)


class TestStepPlan:
    def test_each_step_weighs_what_it_took_before_and_set_up_weighs_nothing(self) -> None:
        plan = StepPlan(["a", "b", "c"], {"a": 1.0, "b": 1.0, "c": 8.0})
        assert plan.percentage([]) == 0.0  # before the first step ends: nothing done, whatever set-up did
        assert plan.percentage(["a"]) == 10.0
        assert plan.percentage(["a", "b"]) == 20.0
        assert plan.percentage(["a", "b", "c"]) == 100.0
        assert plan.percentage(["setup", "a"]) == 10.0  # a step that is not planned weighs nothing

    def test_without_history_the_steps_weigh_the_same(self) -> None:
        plan = StepPlan(["a", "b", "c", "d"])
        assert [plan.percentage(["a", "b", "c", "d"][:n]) for n in range(5)] == [0, 25, 50, 75, 100]

    def test_a_step_never_seen_is_expected_to_take_what_its_kind_took(self) -> None:
        history = {"german.forward_translation": 2.0, "german.element_analysis": 6.0, "question_0": 3.0}
        plan = StepPlan(["korean.forward_translation", "korean.element_analysis", "question_4"], history)
        assert [plan.expected_from_history(name) for name in plan.steps] == [2.0, 6.0, 3.0]
        assert step_kind("japanese.backward_translation") == "backward_translation"
        assert step_kind("projection_map") == "projection_map"

    def test_the_time_left_is_the_steps_still_to_run_less_the_running_ones_progress(self) -> None:
        plan = StepPlan(["a", "b", "c"], {"a": 2.0, "b": 3.0, "c": 5.0})
        start = plan.estimate({})
        assert (start.eta_s, start.rest_s, start.total_s) == (10.0, 8.0, 10.0)
        during_b = plan.estimate({"a": 2.5}, running=("b", 1.0))
        assert (during_b.eta_s, during_b.rest_s, during_b.total_s) == (7.0, 5.0, 10.5)
        overdue = plan.estimate({"a": 2.5}, running=("b", 9.0))
        assert (overdue.eta_s, overdue.rest_s) == (5.0, 5.0)  # the steps after it still take their time
        done = plan.estimate({"a": 2.0, "b": 3.0, "c": 4.0})
        assert (done.eta_s, done.rest_s, done.total_s) == (0.0, 0.0, 9.0)

    def test_with_no_history_it_estimates_from_the_jobs_own_steps_once_one_finished(self) -> None:
        plan = StepPlan(["a", "b", "c"])
        assert plan.estimate({}).as_details() == {
            "eta_s": None,
            "eta_rest_s": None,
            "estimated_total_s": None,
        }
        after_a = plan.estimate({"a": 4.04})
        assert after_a.as_details() == {"eta_s": 8.1, "eta_rest_s": 4.0, "estimated_total_s": 12.1}


async def _finished_job(store: JobStore, job_type: str, seconds: dict[str, float], model: str) -> None:
    await store.insert_job(job := make_job(type=job_type))
    [(claimed, _)] = await store.claim_pending("me", at(1), LEASE, 1)
    assert claimed.id == job.id
    for index, (name, duration_s) in enumerate(seconds.items()):
        step = make_step(job.id, index, name=name, output={"text": "t", "llm": {"model": model}})
        await store.save_step(replace(step, duration_ms=round(duration_s * 1000)), "me")
    await store.finish(claimed, "me", JobStatus.COMPLETED, now=at(2), seq=5, progress=Progress())


class TestStepTimings:
    async def test_timings_are_read_once_and_again_only_after_a_step_of_the_type_finished(
        self, sqlite_store: JobStore
    ) -> None:
        timings = StepTimings(sqlite_store)
        assert await timings.expected("projection", "m") == {}
        await _finished_job(sqlite_store, "projection", {"map": 2.0}, "m")
        assert await timings.expected("projection", "m") == {}  # cached: no step was reported finished
        assert timings.reads == 1
        timings.step_finished("translation")
        assert await timings.expected("projection", "m") == {}
        timings.step_finished("projection")
        assert await timings.expected("projection", "m") == {"map": 2.0}
        assert await timings.expected("projection", "m") == {"map": 2.0}
        assert timings.reads == 2

    async def test_timings_are_read_again_after_the_refresh_period(self, sqlite_store: JobStore) -> None:
        now = [0.0]
        timings = StepTimings(sqlite_store, refresh_s=60, clock=lambda: now[0])
        assert await timings.expected("projection", None) == {}
        await _finished_job(sqlite_store, "projection", {"map": 2.0}, "m")  # by another process, say
        now[0] = 59.0
        assert await timings.expected("projection", None) == {}
        now[0] = 61.0
        assert await timings.expected("projection", None) == {"map": 2.0}

    async def test_jobs_starting_together_share_one_read(self, sqlite_store: JobStore) -> None:
        timings = StepTimings(sqlite_store)
        results = await asyncio.gather(*(timings.expected("projection", "m") for _ in range(10)))
        assert results == [{}] * 10 and timings.reads == 1

    async def test_a_store_that_fails_gives_no_estimate_rather_than_failing_the_job(
        self, db_path: object
    ) -> None:
        store = open_store(str(db_path))
        timings = StepTimings(store)  # never opened: every read raises StoreError
        assert await timings.expected("projection", "m") == {}
