"""summarize: each scene -> its core idea and a detailed image prompt (Summary), through the LLM backend.

Idempotency: each scene's fingerprint covers its text, its neighbours, the paper's title, the project's
style, the backend, model and prompt version. A summary with that fingerprint is reused. A summary a
person edited is never replaced (regenerating it is an explicit editor action). Each scene is saved as
soon as it is done, so a failure part-way keeps the scenes already summarised.
"""

from __future__ import annotations

import dataclasses
import time

from django.conf import settings
from django.db import transaction

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.llm import SceneRequest, SceneSummary, Summarizer, get_summarizer
from media_pipeline.backends.llm.extractive import key_phrases
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import Chunk, Stage, Summary
from media_pipeline.prompts import render_scene_prompt, template_for
from media_pipeline.runs import fence
from media_pipeline.slots import llm_slot
from media_pipeline.stages import ProgressFn, StageResult
from projects.models import Paper

name = Stage.SUMMARIZE
CONTEXT_CHARS = 600


def _requests(paper: Paper, summarizer: Summarizer) -> list[tuple[Chunk, SceneRequest, str]]:
    chunks = list(Chunk.objects.filter(paper=paper).select_related("summary").order_by("index"))
    if not chunks:
        raise PermanentError("The paper has no scenes yet: run the chunk stage first.")
    model = paper.project.llm_model or settings.PAPERCAST_LLM_MODEL
    template = template_for(paper.project)
    out = []
    for i, chunk in enumerate(chunks):
        previous = chunks[i - 1].text[-CONTEXT_CHARS:] if i > 0 else ""
        following = chunks[i + 1].text[:CONTEXT_CHARS] if i + 1 < len(chunks) else ""
        style = paper.project.image_style
        request = SceneRequest(
            paper_title=paper.title,
            scene_index=i,
            scene_count=len(chunks),
            text=chunk.text,
            previous_text=previous,
            next_text=following,
            style=style,
            model=model,
            system_prompt=template.system_prompt,
            user_prompt=render_scene_prompt(
                template,
                title=paper.title,
                scene_number=i + 1,
                scene_count=len(chunks),
                previous=previous or "(the video starts here)",
                scene=chunk.text,
                next=following or "(the video ends here)",
                style=style,
            ),
            negative_prompt=template.negative_prompt,
            template_version=template.version,
        )
        fp = fingerprint(summarizer.identity(model), dataclasses.asdict(request))
        out.append((chunk, request, fp))
    return out


def _is_current(chunk: Chunk, fp: str) -> bool:
    summary = getattr(chunk, "summary", None)
    return summary is not None and (summary.edited_by_human or summary.input_fingerprint == fp)


def status(paper: Paper) -> tuple[str, bool]:
    items = _requests(paper, get_summarizer())
    fp = fingerprint("summarize", [f for _, _, f in items])
    return fp, all(_is_current(chunk, f) for chunk, _, f in items)


def _call(summarizer: Summarizer, request: SceneRequest) -> SceneSummary:
    """One request, within the server's concurrency limit (shared by every worker)."""
    with llm_slot(getattr(summarizer, "server", "")):
        return summarizer.summarize(request)


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    summarizer = get_summarizer()
    items = _requests(paper, summarizer)
    fp = fingerprint("summarize", [f for _, _, f in items])
    calls = kept_human = tokens_in = tokens_out = 0
    for done, (chunk, request, scene_fp) in enumerate(items, start=1):
        summary = getattr(chunk, "summary", None)
        if summary is not None and summary.edited_by_human:
            kept_human += 1
        elif force or not _is_current(chunk, scene_fp):
            started = time.monotonic()
            result = _call(summarizer, request)
            calls += 1
            tokens_in += result.tokens_in
            tokens_out += result.tokens_out
            fields = {
                "summary": result.summary,
                "image_prompt": result.image_prompt,
                "negative_prompt": result.negative_prompt,
                # A server that proposed none (a custom prompt that does not ask) gets the offline ones.
                "key_phrases": list(result.key_phrases or key_phrases(request.text)),
                "backend": summarizer.name,
                "model": result.model,
                "prompt_version": request.template_version,
                "input_fingerprint": scene_fp,
                "tokens_in": result.tokens_in,
                "tokens_out": result.tokens_out,
                "seconds": round(time.monotonic() - started, 3),
            }
            # A person may have edited this summary while the model was working: never overwrite that.
            with transaction.atomic():
                fence()
                updated = Summary.objects.filter(chunk=chunk, edited_by_human=False).update(**fields)
                if not updated and summary is None:
                    Summary.objects.get_or_create(chunk=chunk, defaults=fields)
        progress(done / len(items))
    return StageResult(
        fp,
        reused=calls == 0,
        metrics={
            "scenes": len(items),
            "calls": calls,
            "kept_human_edits": kept_human,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
        },
    )
