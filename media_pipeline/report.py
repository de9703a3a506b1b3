"""A paper's outputs as one JSON-ready dict (makevideo --json; see README.md for the schema)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.db.models.fields.files import FieldFile

from media_pipeline.models import Figure, FigureKind, ScriptSentence, Transcription
from media_pipeline.runs import latest_runs, stages_for
from media_pipeline.selectors import (
    chunks_with_outputs,
    document_current,
    narration_file,
    scene_sources,
    script_current,
    sentence_hearing,
    sentence_spans,
    transcription_current,
    video_current,
)
from projects.models import Paper


class LocalFiles:
    """Local paths for stored files: the file itself on local storage, else a copy in one temp dir."""

    def __init__(self) -> None:
        self._dir: Path | None = None

    def path(self, field: FieldFile | None) -> str | None:
        if not field or not field.name:
            return None
        try:
            return field.storage.path(field.name)
        except NotImplementedError:
            pass
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="papercast-export-"))
        target = self._dir / field.name.replace("/", "_")
        with field.storage.open(field.name, "rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)
        return str(target)


def paper_report(paper: Paper, files: LocalFiles | None = None) -> dict[str, Any]:
    files = files or LocalFiles()
    transcription = transcription_current(paper)
    video = video_current(paper)
    return {
        "paper": paper.pk,
        "title": paper.title,
        "project": paper.project.slug,
        "source": _source(paper, files),
        "script": _script(paper),
        "stages": _stages(paper),
        "audio": files.path(narration_file(paper)),
        "duration": transcription.duration if transcription else None,
        "transcript": _transcript(transcription),
        "scenes": _scenes(paper, files),
        "video": files.path(video.file) if video else None,
        "captions": {
            "srt": files.path(video.srt) if video else None,
            "vtt": files.path(video.vtt) if video else None,
        },
        "thumbnail": files.path(video.thumbnail) if video else None,
        "chapters": video.chapters if video else [],
    }


def _stages(paper: Paper) -> dict[str, dict[str, Any]]:
    runs = latest_runs(paper)
    stages = {}
    for stage in stages_for(paper):
        run = runs.get(stage)
        stages[str(stage)] = {
            "status": str(run.status) if run else "not_started",
            "seconds": round(run.seconds, 3) if run and run.seconds is not None else None,
            "reused": run.reused if run else False,
            "error": run.error if run and run.error else None,
        }
    return stages


def _transcript(transcription: Transcription | None) -> dict[str, Any]:
    if transcription is None:
        return {"text": "", "words": [], "timing": None}
    words = transcription.words.order_by("index").values_list("start", "end", "text")
    return {"text": transcription.text, "words": [[w[0], w[1], w[2]] for w in words], "timing": transcription.method}


def _scenes(paper: Paper, files: LocalFiles) -> list[dict[str, Any]]:
    scenes = []
    sources = scene_sources(paper)
    for chunk in chunks_with_outputs(paper):
        summary = getattr(chunk, "summary", None)
        selected_images = getattr(chunk, "selected_images", [])  # set by the Prefetch in chunks_with_outputs
        selected = selected_images[0] if selected_images else None
        scenes.append(
            {
                "index": chunk.index,
                "start": chunk.start,
                "end": chunk.end,
                "text": chunk.text,
                "summary": summary.summary if summary else None,
                "image_prompt": summary.image_prompt if summary else None,
                "image": files.path(selected.file) if selected else None,
                "image_seed": selected.seed if selected else None,
                "image_backend": selected.backend if selected else None,
                "image_model": selected.model if selected else None,
                "image_error": chunk.image_error or None,
                "pages": sources[chunk.index].pages if chunk.index in sources else [],
                "figures": sources[chunk.index].figures if chunk.index in sources else [],
            }
        )
    return scenes


def _source(paper: Paper, files: LocalFiles) -> dict[str, Any]:
    document = document_current(paper)
    figures = list(document.figures.order_by("page", "id")) if document else []
    return {
        "kind": paper.source_kind,
        "arxiv_id": (document.arxiv_id if document and document.arxiv_id else paper.arxiv_id) or None,
        "authors": list(paper.authors),
        "abstract": paper.abstract or None,
        "pages": document.page_count if document else None,
        "sections": [
            {
                "title": s.get("title", ""),
                "level": s.get("level", 1),
                "number": s.get("number", ""),
                "kind": s.get("kind", "body"),
                "pages": sorted({int(n) for p in s.get("paragraphs", []) for n in p.get("pages", [])}),
            }
            for s in (document.sections if document else [])
        ],
        "figures": [_figure(f, files) for f in figures if f.kind != FigureKind.TABLE],
        "tables": [_figure(f, files) for f in figures if f.kind == FigureKind.TABLE],
        "warnings": list(document.warnings) if document else [],
    }


def _figure(figure: Figure, files: LocalFiles) -> dict[str, Any]:
    return {
        "number": figure.number,
        "caption": figure.caption,
        "page": figure.page,
        "kind": figure.kind,
        "box": figure.box,
        "image": files.path(figure.file),
    }


def _script(paper: Paper) -> list[dict[str, Any]]:
    """The narration's sentences with their pages, where they are spoken and how the recogniser heard them
    (papers from a PDF or arXiv)."""
    spans = {int(s["sentence"]): s for s in sentence_spans(paper)}
    script = script_current(paper)
    if script is None:
        return []
    hearing = sentence_hearing(paper)
    out = []
    for sentence in ScriptSentence.objects.filter(script=script).order_by("index"):
        heard = hearing.get(sentence.pk)
        out.append(
            {
                "text": sentence.text,
                "section": sentence.section,
                "pages": sentence.pages,
                "figures": sentence.figures,
                "start": spans[sentence.pk]["start"] if sentence.pk in spans else None,
                "end": spans[sentence.pk]["end"] if sentence.pk in spans else None,
                "flags": ["hard_to_follow"] if heard and heard.hard_to_follow else [],
                "error_rate": round(heard.error_rate, 4) if heard else None,
                "misheard": [{"said": said, "heard": text} for said, text in heard.misheard] if heard else [],
            }
        )
    return out
