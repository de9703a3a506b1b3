"""Reading a paper's current outputs: the newest transcription and video, the scenes in order."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.db.models.fields.files import FieldFile

from media_pipeline.models import Chunk, Image, Transcription, Video
from projects.models import Paper, SourceKind


def narration_file(paper: Paper) -> FieldFile | None:
    """The narration: the uploaded audio for audio papers, the narrate stage's output for text papers."""
    field = paper.source_file if paper.source_kind == SourceKind.AUDIO else paper.narration_audio
    return field if field and field.name else None


def transcription_current(paper: Paper) -> Transcription | None:
    return Transcription.objects.filter(paper=paper).order_by("-created_at", "-id").first()


def video_current(paper: Paper) -> Video | None:
    return Video.objects.filter(paper=paper).order_by("-created_at", "-id").first()


def chunks_with_outputs(paper: Paper) -> QuerySet[Chunk]:
    """Scenes in order with their summary and selected image, in a constant number of queries."""
    return (
        Chunk.objects.filter(paper=paper)
        .select_related("summary")
        .prefetch_related(Prefetch("images", queryset=Image.objects.filter(selected=True), to_attr="selected_images"))
        .order_by("index")
    )
