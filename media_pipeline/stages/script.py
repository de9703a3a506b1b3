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
from media_pipeline.backends.tts.pace import Pace
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import PaperDocument, Script, ScriptSentence, Stage
from media_pipeline.pacing import voice_key, voice_pace
from media_pipeline.runs import fence
from media_pipeline.selectors import document_current, script_current
from media_pipeline.slots import llm_slot
from media_pipeline.stages import ProgressFn, StageResult
from media_pipeline.stages.document import SKIPPED_SECTIONS
from media_pipeline.text import abbreviations, expand_first_uses
from projects.models import Paper

logger = logging.getLogger(__name__)
VERSION = "script-2"  # 2: sized in spoken seconds at the voice's measured pace
name = Stage.SCRIPT


def target_minutes(paper: Paper) -> int:
    return int(paper.script_minutes or paper.project.script_minutes)


def model_for(paper: Paper) -> str:
    return paper.project.llm_model or settings.PAPERCAST_LLM_MODEL


def source_for(paper: Paper, document: PaperDocument, pace: Pace) -> ScriptSource:
    """The paper's narrated sections: its top-level body sections, each with its subsections' paragraphs
    (a chapter is a section, not "4.2 Partitioning Function")."""
    sections: list[SourceSection] = []
    skipping = False
    parent_open = False  # the last top-level section is narrated: its subsections join it
    for raw in document.sections:
        title = str(raw.get("title", ""))
        level = int(raw.get("level", 1))
        # Only the paper's body is narrated: not its references, acknowledgements, appendices, ethics
        # statement or front matter (keywords, CCS concepts).
        if raw.get("kind", "body") != "body" or SKIPPED_SECTIONS.match(title):
            skipping, parent_open = True, False
            continue
        if skipping and level > 1:
            continue  # a subsection of the references or an appendix
        skipping = False
        paragraphs = tuple(
            SourceParagraph(str(p["text"]), tuple(int(n) for n in p.get("pages", [])))
            for p in raw.get("paragraphs", [])
            if str(p.get("text", "")).strip()
        )
        if level > 1 and parent_open and sections:
            sections[-1] = SourceSection(sections[-1].title, sections[-1].paragraphs + paragraphs)
            continue
        if level == 1:
            parent_open = True
        if paragraphs or level == 1:
            sections.append(SourceSection(title, paragraphs))
    sections = [section for section in sections if section.paragraphs]
    if not sections:
        raise PermanentError(
            "No section of the paper has text to narrate (only references or appendices were found). Check "
            "that the PDF is the paper itself, or upload its text."
        )
    return ScriptSource(
        title=paper.title,
        authors=tuple(document.authors),
        abstract=document.abstract,
        sections=tuple(sections),
        seconds=target_minutes(paper) * 60.0,
        pace=pace,
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
        voice_key(paper.project),
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
    pace = voice_pace(paper.project)
    source = source_for(paper, document, pace)
    model = model_for(paper)
    lines: list[ScriptLine] = []
    tokens_in = tokens_out = 0
    used_model = ""
    fallbacks: list[str] = []
    chapters: dict[str, str] = {}
    for index in range(len(source.sections)):
        result = _write_section(writer, source, index, model, fallbacks)
        lines.extend(result.lines)
        if result.chapter and result.lines:
            chapters[result.lines[-1].section] = result.chapter
        tokens_in += result.tokens_in
        tokens_out += result.tokens_out
        used_model = result.model or used_model
        progress((index + 1) / len(source.sections))
    lines = [line for line in lines if line.text.strip()]
    if not lines:
        raise PermanentError("No sentence of the paper could be used for the narration.")
    _expand_abbreviations(lines[1:], source)  # the opening names the paper by its title, as printed
    words = sum(len(line.text.split()) for line in lines)
    # What the narration should come to: each sentence said at the voice's pace, with narrate's pauses.
    seconds = sum(source.cost(line.text) for line in lines) + source.section_break * len(
        {line.section for line in lines}
    )
    metrics: dict[str, object] = {"pace": pace.measured, "words_per_minute": round(pace.words_per_minute)}
    notes = [] if pace.measured.startswith("measured") else [f"Sized at an {pace.measured}"]
    if fallbacks:
        notes.append(
            f"The LLM's text could not be used for {len(fallbacks)} of {len(source.sections)} section(s), which "
            "were extracted offline instead: " + "; ".join(fallbacks)
        )
        metrics["fallback_sections"] = len(fallbacks)
    if notes:
        metrics["note"] = " ".join(notes)[:2000]
    with transaction.atomic():
        fence()
        script = Script.objects.create(
            paper=paper,
            input_fingerprint=fp,
            backend=writer.name,
            model=used_model,
            target_minutes=target_minutes(paper),
            words=words,
            seconds=round(seconds, 2),
            chapter_titles=chapters,
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
            "minutes": round(seconds / 60, 2),
            "target_minutes": target_minutes(paper),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            **metrics,
        },
    )


def _expand_abbreviations(lines: list[ScriptLine], source: ScriptSource) -> None:
    """Each abbreviation the paper defines is said in full the first time the narration uses it."""
    defined = abbreviations([source.abstract, *(p.text for s in source.sections for p in s.paragraphs)])
    for line, text in zip(lines, expand_first_uses([line.text for line in lines], defined), strict=True):
        line.text = text


def _write_section(
    writer: ScriptWriter, source: ScriptSource, index: int, model: str, fallbacks: list[str]
) -> ScriptResult:
    """One section from the writer; when an LLM fails on it for good or answers nonsense, that section is
    extracted offline instead (and the reason kept in `fallbacks`), so one bad answer costs no script."""
    try:
        with llm_slot(writer.server):
            result = writer.write_section(source, index, model)
        if isinstance(writer, ExtractiveScriptWriter):
            return result  # a section it leaves unsaid gave its time to others: that is no failure
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
