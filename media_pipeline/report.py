"""A paper's outputs as one JSON-ready dict (makevideo --json; see README.md for the schema)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.db.models.fields.files import FieldFile

from media_pipeline.pipeline import latest_runs, stages_for
from media_pipeline.selectors import chunks_with_outputs, narration_file, transcription_current, video_current
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
    transcription = transcription_current(paper)
    words = (
        [[w[0], w[1], w[2]] for w in transcription.words.order_by("index").values_list("start", "end", "text")]
        if transcription
        else []
    )
    scenes = []
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
            }
        )
    video = video_current(paper)
    return {
        "paper": paper.pk,
        "title": paper.title,
        "project": paper.project.slug,
        "stages": stages,
        "audio": files.path(narration_file(paper)),
        "duration": transcription.duration if transcription else None,
        "transcript": {"text": transcription.text if transcription else "", "words": words},
        "scenes": scenes,
        "video": files.path(video.file) if video else None,
        "captions": {
            "srt": files.path(video.srt) if video else None,
            "vtt": files.path(video.vtt) if video else None,
        },
        "thumbnail": files.path(video.thumbnail) if video else None,
        "chapters": video.chapters if video else [],
    }
