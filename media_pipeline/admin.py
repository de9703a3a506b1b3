"""Admin for pipeline outputs and runs: readable by members, written only by the pipeline.

Curation (editing summaries, choosing images, approving) comes with its own services; until then every
pipeline-owned field is read-only and outputs cannot be added by hand.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from media_pipeline.models import Chunk, Image, Segment, StageRun, Summary, Transcription, Video, Word
from projects.admin import ProjectScopedAdmin


class ReadOnlyOutputAdmin(ProjectScopedAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StageRun)
class StageRunAdmin(ReadOnlyOutputAdmin):
    project_field = "paper__project"
    list_display = ["paper", "stage", "status", "progress", "attempts", "reused", "created_at", "finished_at"]
    list_filter = ["stage", "status"]
    list_select_related = ["paper"]
    search_fields = ["paper__title", "error"]


@admin.register(Transcription)
class TranscriptionAdmin(ReadOnlyOutputAdmin):
    project_field = "paper__project"
    list_display = ["paper", "engine", "model", "language", "duration", "pieces", "script_wer", "created_at"]
    list_select_related = ["paper"]
    search_fields = ["paper__title", "text"]


class FlaggedFilter(admin.SimpleListFilter):
    title = "looks invented"
    parameter_name = "flagged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes (flagged or dropped)"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Segment]) -> QuerySet[Segment]:
        if self.value() == "yes":
            return queryset.exclude(flag="")
        if self.value() == "no":
            return queryset.filter(flag="")
        return queryset


@admin.register(Segment)
class SegmentAdmin(ReadOnlyOutputAdmin):
    project_field = "transcription__paper__project"
    list_display = ["transcription", "index", "start", "end", "text", "flag", "dropped", "no_speech_prob"]
    list_filter = [FlaggedFilter, "dropped"]
    list_select_related = ["transcription"]
    search_fields = ["text", "flag"]


@admin.register(Word)
class WordAdmin(ReadOnlyOutputAdmin):
    project_field = "transcription__paper__project"
    list_display = ["transcription", "index", "text", "recognized", "start", "end", "confidence"]
    list_select_related = ["transcription"]


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyOutputAdmin):
    project_field = "paper__project"
    list_display = ["paper", "index", "start", "end", "text"]
    list_select_related = ["paper"]
    search_fields = ["paper__title", "text"]


@admin.register(Summary)
class SummaryAdmin(ReadOnlyOutputAdmin):
    project_field = "chunk__paper__project"
    list_display = ["chunk", "summary", "backend", "model", "edited_by_human"]
    list_select_related = ["chunk"]
    search_fields = ["summary", "image_prompt"]


@admin.register(Image)
class ImageAdmin(ReadOnlyOutputAdmin):
    project_field = "chunk__paper__project"
    list_display = ["chunk", "backend", "seed", "width", "height", "selected", "created_at"]
    list_select_related = ["chunk"]


@admin.register(Video)
class VideoAdmin(ReadOnlyOutputAdmin):
    project_field = "paper__project"
    list_display = ["paper", "duration", "width", "height", "created_at"]
    list_select_related = ["paper"]
