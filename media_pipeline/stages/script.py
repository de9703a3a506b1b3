"""script: a paper's document -> the narration Script, sentence by sentence, each with the pages it came from.

The length is the paper's (or its project's) script_minutes at the project's speaking rate. With an LLM
backend the script is written section by section; offline it is extracted (title, abstract, each section's
key sentences). References, acknowledgements and appendices are left out.

Idempotency: the fingerprint covers the document, the target length and the writer's identity; a Script
with that fingerprint is reused and no model is called. A script a person edited is kept on every re-run
that is not forced. When the project asks for review, narration waits for an editor's approval (the gate is
in media_pipeline.pipeline).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.llm.script import (
    ExtractiveScriptWriter,
    ScriptLine,
    ScriptResult,
    ScriptSource,
    ScriptWriter,
    SourceParagraph,
    SourceSection,
    get_script_writer,
    section_name,
)
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import PaperDocument, Script, ScriptSentence, Stage
from media_pipeline.selectors import document_current, script_current
from media_pipeline.slots import llm_slot
from media_pipeline.stages import ProgressFn, StageResult
from media_pipeline.stages.document import SKIPPED_SECTIONS
from projects.models import Paper

logger = logging.getLogger(__name__)
VERSION = "script-1"
name = Stage.SCRIPT


def target_minutes(paper: Paper) -> int:
    return int(paper.script_minutes or paper.project.script_minutes)


def model_for(paper: Paper) -> str:
    return paper.project.llm_model or settings.PAPERCAST_LLM_MODEL


def source_for(paper: Paper, document: PaperDocument) -> ScriptSource:
    sections: list[SourceSection] = []
    skipping = False
    for raw in document.sections:
        title = str(raw.get("title", ""))
        # Only the paper's body is narrated: not its references, acknowledgements, appendices, ethics
        # statement or front matter (keywords, CCS concepts).
        if raw.get("kind", "body") != "body" or SKIPPED_SECTIONS.match(title):
            skipping = True
            continue
        if skipping and int(raw.get("level", 1)) > 1:
            continue  # a subsection of the references or an appendix
        skipping = False
        paragraphs = tuple(
            SourceParagraph(str(p["text"]), tuple(int(n) for n in p.get("pages", [])))
            for p in raw.get("paragraphs", [])
            if str(p.get("text", "")).strip()
        )
        if paragraphs:
            sections.append(SourceSection(title, paragraphs))
    if not sections:
        raise PermanentError(
            "No section of the paper has text to narrate (only references or appendices were found). Check "
            "that the PDF is the paper itself, or upload its text."
        )
    words = round(target_minutes(paper) * paper.project.words_per_minute)
    return ScriptSource(
        title=paper.title,
        authors=tuple(document.authors),
        abstract=document.abstract,
        sections=tuple(sections),
        words=words,
    )


def _inputs(paper: Paper) -> tuple[PaperDocument, ScriptWriter, str]:
    document = document_current(paper)
    if document is None:
        raise PermanentError("The paper has not been read yet: run the extract stage first.")
    writer = get_script_writer()
    fp = fingerprint(
        VERSION,
        document.input_fingerprint,
        target_minutes(paper),
        paper.project.tts_rate,
        writer.identity(model_for(paper)),
    )
    return document, writer, fp


def _kept(paper: Paper, fp: str) -> Script | None:
    """The paper's script when it stands: made from these inputs, or edited by a person."""
    newest = script_current(paper)
    if newest is not None and (newest.input_fingerprint == fp or newest.edited_by_id is not None):
        return newest
    return None


def status(paper: Paper) -> tuple[str, bool]:
    _, _, fp = _inputs(paper)
    return fp, _kept(paper, fp) is not None


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    document, writer, fp = _inputs(paper)
    kept = _kept(paper, fp)
    if kept is not None and not force:
        return StageResult(fp, reused=True, metrics={"kept_human_edits": kept.edited_by_id is not None})
    source = source_for(paper, document)
    model = model_for(paper)
    lines: list[ScriptLine] = []
    tokens_in = tokens_out = 0
    used_model = ""
    fallbacks: list[str] = []
    for index in range(len(source.sections)):
        result = _write_section(writer, source, index, model, fallbacks)
        lines.extend(result.lines)
        tokens_in += result.tokens_in
        tokens_out += result.tokens_out
        used_model = result.model or used_model
        progress((index + 1) / len(source.sections))
    lines = [line for line in lines if line.text.strip()]
    if not lines:
        raise PermanentError("No sentence of the paper could be used for the narration.")
    words = sum(len(line.text.split()) for line in lines)
    metrics: dict[str, object] = {}
    if fallbacks:
        metrics["note"] = (
            f"The LLM's text could not be used for {len(fallbacks)} of {len(source.sections)} section(s), which "
            "were extracted offline instead: " + "; ".join(fallbacks)
        )[:2000]
        metrics["fallback_sections"] = len(fallbacks)
    with transaction.atomic():
        script = Script.objects.create(
            paper=paper,
            input_fingerprint=fp,
            backend=writer.name,
            model=used_model,
            target_minutes=target_minutes(paper),
            words=words,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )
        ScriptSentence.objects.bulk_create(
            ScriptSentence(
                script=script,
                index=i,
                section=line.section[:300],
                text=line.text,
                pages=line.pages,
                figures=line.figures,
            )
            for i, line in enumerate(lines)
        )
    return StageResult(
        fp,
        reused=False,
        metrics={
            "sentences": len(lines),
            "words": words,
            "minutes": round(words / paper.project.words_per_minute, 1),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            **metrics,
        },
    )


def _write_section(
    writer: ScriptWriter, source: ScriptSource, index: int, model: str, fallbacks: list[str]
) -> ScriptResult:
    """One section from the writer; when an LLM fails on it for good or answers nonsense, that section is
    extracted offline instead (and the reason kept in `fallbacks`), so one bad answer costs no script."""
    try:
        with llm_slot(writer.server):
            result = writer.write_section(source, index, model)
        problem = _nonsense(result)
    except PermanentError as exc:
        if isinstance(writer, ExtractiveScriptWriter):
            raise
        problem = str(exc)
    if problem is None:
        return result
    name = section_name(source.sections[index].title) or f"section {index + 1}"
    logger.warning("Script section %r extracted offline: %s", name, problem)
    fallbacks.append(f"{name}: {problem[:300]}")
    return ExtractiveScriptWriter().write_section(source, index, model)


def _nonsense(result: ScriptResult) -> str | None:
    """Why a written section cannot be narrated, or None: no sentence, run-on text, markup or JSON."""
    texts = [line.text for line in result.lines if line.text.strip()]
    if not texts:
        return "it answered no sentence"
    words = [len(text.split()) for text in texts]
    if max(words) > 80:
        return "it answered a run-on sentence of more than 80 words"
    if any(mark in text for text in texts for mark in ('{"', "```", "\\", "<s>", "[/INST]")):
        return "its sentences hold markup or JSON"
    return None
