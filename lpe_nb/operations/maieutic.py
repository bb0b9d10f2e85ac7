"""The maieutic dialogue: Socratic questions by depth (``maieutic``), then the answers (``maieutic_answer``).

The start job asks one open question per depth level; the question at depth k sees the questions before
it. Its job id is the session id. In both jobs the progress bar is the LLM calls' share of the expected
time (from earlier jobs of the type on the same model); loading, preparing and saving weigh nothing. The answer job reads that session, extracts insights, synthesizes an
understanding, suggests a persona/namespace/style from the catalog, and with ``project: true`` projects
the enriched narrative (narrative + answers + synthesis) in the same job as further steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lpe_nb.errors import InvalidInput, LlmBadResponse
from lpe_nb.jobs import JobRecord, JobStatus, StepContext
from lpe_nb.llm import LLM
from lpe_nb.operations._steps import audit, json_step, messages, opening, text_step
from lpe_nb.operations.catalog import Catalog
from lpe_nb.operations.inputs import MaieuticAnswerInput, MaieuticInput
from lpe_nb.operations.projection import PROJECTION_STEPS, project_narrative
from lpe_nb.operations.spec import JobSpec

__all__ = [
    "ANSWER_SPEC",
    "DEPTH_MEANINGS",
    "START_SPEC",
    "Insights",
    "SuggestedConfig",
    "make_answer_run",
    "make_start_run",
]

DEPTH_MEANINGS = (
    "surface facts: what happened, who was involved",
    "motivations and conflicts",
    "root causes and tensions",
    "assumptions and worldview",
    "universal or archetypal patterns",
)
GOAL_AIMS = {
    "understand": "help the narrator understand the narrative more deeply",
    "clarify": "help the narrator clarify what is vague or ambiguous in it",
    "discover": "help the narrator discover what is hidden or unnoticed in it",
    "question": "help the narrator question what it takes for granted",
}
JobReader = Callable[[str], Awaitable[JobRecord]]
_SYSTEM = (
    "You are a Socratic questioner. You ask exactly one open question about one aspect at a time. "
    "You never answer, suggest answers or lecture."
)


class Insights(BaseModel):
    model_config = ConfigDict(extra="ignore")
    insights: list[str] = Field(min_length=1)


class SuggestedConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")
    persona: str
    namespace: str
    style: str
    rationale: str = ""


def depth_meaning(depth: int) -> str:
    return DEPTH_MEANINGS[min(depth, len(DEPTH_MEANINGS) - 1)] + (" (deeper still)" if depth >= 5 else "")


def start_title(data: MaieuticInput) -> str:
    return f"Maieutic ({data.goal}): {opening(data.narrative, 5)}"


def make_start_run(llm: LLM) -> Callable[[StepContext, MaieuticInput], Any]:
    async def run(ctx: StepContext, data: MaieuticInput) -> dict[str, Any]:
        aim = GOAL_AIMS[data.goal]
        await ctx.plan([f"question_{depth}" for depth in range(data.max_turns)], model=llm.model)
        ctx.report("session initialization", details={"goal": data.goal})
        questions: list[dict[str, Any]] = []
        for depth in range(data.max_turns):
            meaning = depth_meaning(depth)
            earlier = "\n".join(f"- (depth {q['depth']}) {q['question']}" for q in questions) or "(none yet)"
            if ctx.finished_step(f"question_{depth}") is None:
                ctx.report(f"question at depth {depth}: running", details={"index": depth + 1})
            text = await text_step(
                ctx, llm, f"question_{depth}",
                messages(_SYSTEM, f"Goal of this dialogue: {data.goal}, to {aim}.\n"
                         f"Ask one open question at depth {depth}: {meaning}. Do not repeat the earlier "
                         f"questions:\n{earlier}\n\nNarrative:\n{data.narrative}"),
                task="maieutic.question",
                context={"narrative": data.narrative, "goal": data.goal, "depth": depth,
                         "depth_meaning": meaning, "previous_questions": [q["question"] for q in questions]},
            )  # fmt: skip
            questions.append({"index": depth, "depth": depth, "focus": meaning, "question": text.strip()})
            ctx.report(f"question at depth {depth}: done", details={"index": depth + 1})
        ctx.report("dialogue structure preparation")
        ctx.report("interactive session setup")
        return {
            "session_id": ctx.job_id,
            "narrative": data.narrative,
            "goal": data.goal,
            "max_turns": data.max_turns,
            "questions": questions,
            "status": "awaiting_answers",
            **audit(ctx, llm),
        }

    return run


def answer_title(data: MaieuticAnswerInput) -> str:
    return f"Maieutic answers: session {data.session_id[:8]}" + (" + projection" if data.project else "")


async def _load_session(read_job: JobReader, session_id: str) -> dict[str, Any]:
    try:
        job = await read_job(session_id)
    except LookupError:
        raise InvalidInput.field("session_id", f"no maieutic session {session_id!r}") from None
    if (
        job.type != "maieutic"
        or job.status is not JobStatus.COMPLETED
        or not isinstance(job.result_data, dict)
    ):
        raise InvalidInput.field(
            "session_id",
            f"job {session_id} is a {job.status.value} {job.type} job, not a completed maieutic session",
        )
    return job.result_data


def make_answer_check(read_job: JobReader) -> Callable[[MaieuticAnswerInput], Awaitable[None]]:
    """The submit-time check of an answer job: its session exists, is finished, and has enough questions
    (the run checks again: the session may be deleted while the answer waits in the queue)."""

    async def check(data: MaieuticAnswerInput) -> None:
        _check_answers(data, await _load_session(read_job, data.session_id))

    return check


def _check_answers(data: MaieuticAnswerInput, session: dict[str, Any]) -> None:
    questions = session["questions"]
    if len(data.answers) > len(questions):
        raise InvalidInput.field("answers", f"{len(data.answers)} answers for {len(questions)} questions")


def make_answer_run(
    llm: LLM, catalog: Catalog, read_job: JobReader
) -> Callable[[StepContext, MaieuticAnswerInput], Any]:
    async def run(ctx: StepContext, data: MaieuticAnswerInput) -> dict[str, Any]:
        projected = [f"projection_{name}" for name in PROJECTION_STEPS] if data.project else []
        await ctx.plan(["insights", "synthesis", "suggestion", *projected], model=llm.model)
        ctx.report("loading session")
        session = await _load_session(read_job, data.session_id)
        _check_answers(data, session)
        questions = session["questions"]
        dialogue = [
            {"depth": q["depth"], "question": q["question"], "answer": answer}
            for q, answer in zip(questions, data.answers, strict=False)
            if answer
        ]
        narrative = str(session["narrative"])
        qa_text = "\n".join(f"Q (depth {d['depth']}): {d['question']}\nA: {d['answer']}" for d in dialogue)
        ctx.report("extracting insights", details={"index": 1})
        insights = await json_step(
            ctx, llm, "insights",
            messages(_SYSTEM.split(".")[0] + ".", f"Goal: {session['goal']}. From the narrator's answers, extract "
                     'the insights they reveal. Reply with JSON {"insights": ["..."]}.'
                     f"\n\nNarrative:\n{narrative}\n\nDialogue:\n{qa_text}"),
            Insights,
            task="maieutic.insights",
            context={"narrative": narrative, "goal": session["goal"], "dialogue": dialogue},
        )  # fmt: skip
        ctx.report("synthesizing understanding", details={"index": 2})
        synthesis = await text_step(
            ctx, llm, "synthesis",
            messages("You synthesize what a Socratic dialogue revealed.", f"Goal: {session['goal']}. Write a short "
                     "synthesis of the understanding reached.\n\nNarrative:\n" + narrative + "\n\nInsights:\n"
                     + "\n".join(f"- {i}" for i in insights.insights)),
            task="maieutic.synthesis",
            context={"narrative": narrative, "insights": insights.insights},
        )  # fmt: skip
        ctx.report("suggesting configuration", details={"index": 3})
        choices = {kind: catalog.names(kind) for kind in ("persona", "namespace", "style")}
        options = "\n".join(
            f"{kind}: " + "; ".join(catalog.get(kind, n).prompt_text() for n in names)  # type: ignore[arg-type]
            for kind, names in choices.items()
        )
        suggested = await json_step(
            ctx, llm, "suggestion",
            messages("You configure the Lamish Projection Engine.", "Suggest the persona, namespace and style "
                     "that would best project this narrative, choosing names from the lists only. Reply with JSON "
                     '{"persona": ..., "namespace": ..., "style": ..., "rationale": ...}.'
                     f"\n\n{options}\n\nSynthesis:\n{synthesis}"),
            SuggestedConfig,
            task="maieutic.suggest",
            context={"synthesis": synthesis, "choices": choices},
        )  # fmt: skip
        try:
            config = {kind: catalog.check_name(kind, getattr(suggested, kind)) for kind in choices}  # type: ignore[arg-type]
        except ValueError as exc:
            raise LlmBadResponse(
                f"maieutic.suggest: the suggested configuration is not in the catalog: {exc}"
            ) from exc
        enriched = (
            narrative
            + "\n\nWhat the narrator added:\n"
            + "\n".join(f"- {d['answer']}" for d in dialogue)
            + "\n\nUnderstanding reached:\n"
            + synthesis
        )
        result: dict[str, Any] = {
            "session_id": data.session_id,
            "goal": session["goal"],
            "dialogue": dialogue,
            "insights": insights.insights,
            "synthesis": synthesis,
            "suggested_config": {**config, "rationale": suggested.rationale},
            "enriched_narrative": enriched,
        }
        ctx.report("configuration suggested", details={**config, "index": 3})
        if data.project:
            chosen = {kind: getattr(data, kind) or config[kind] for kind in choices}

            def hook(index: int, name: str, done: bool) -> None:
                ctx.report(
                    f"projection {name}: {'done' if done else 'running'}", details={"index": 4 + index}
                )

            outputs = await project_narrative(
                ctx, llm, enriched,
                catalog.get("persona", chosen["persona"]), catalog.get("namespace", chosen["namespace"]),
                catalog.get("style", chosen["style"]), step_prefix="projection_", hook=hook,
            )  # fmt: skip
            result["projection"] = {
                "final_projection": outputs["stylize"], "reflection": outputs["reflect"], **chosen,
            }  # fmt: skip
        ctx.report("finalizing")
        return {**result, **audit(ctx, llm)}

    return run


START_SPEC = JobSpec(
    "maieutic",
    input_model=MaieuticInput,
    make_run=lambda services: make_start_run(services.llm),
    title=start_title,
    description="Socratic questions about a narrative, one per depth level.",
    path="maieutic/start",
    summary="Start a maieutic (Socratic) session",
)
ANSWER_SPEC = JobSpec(
    "maieutic_answer",
    input_model=MaieuticAnswerInput,
    make_run=lambda services: make_answer_run(services.llm, services.catalog, services.read_job),
    make_check=lambda services: make_answer_check(services.read_job),
    title=answer_title,
    description="Answers to a maieutic session: insights, synthesis, suggested configuration, projection.",
    path="maieutic/answer",
    summary="Answer a maieutic session's questions",
)
