"""Admin for pipeline outputs and runs: readable by members, written only by the pipeline.

Every pipeline-owned field is read-only here and outputs cannot be added by hand; curation (editing a
summary or prompt, choosing a candidate, approving) happens on the paper page (media_pipeline.paper_page)
through media_pipeline.curation. Importing this module also registers the paper's admin (paper_admin).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from media_pipeline import paper_admin  # noqa: F401  (registers Paper's admin with the site)
from media_pipeline.backends.errors import PermanentError
from media_pipeline.models import (
    Chunk,
    Image,
    PromptTemplate,
    Segment,
    StageRun,
    Summary,
    Transcription,
    UploadEvent,
    Video,
    Word,
)
from media_pipeline.prompts import (
    NEGATIVE_PROMPT,
    SCENE_PROMPT,
    SYSTEM_PROMPT,
    check_scene_prompt,
    prompt_template_revise,
    template_for,
)
from projects import access
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
    list_display = ["paper", "index", "start", "end", "text", "image_error"]
    list_select_related = ["paper"]
    search_fields = ["paper__title", "text"]
    actions = ["regenerate_images"]

    @admin.action(description="Regenerate the image (a new candidate with a fresh seed; earlier ones are kept)")
    def regenerate_images(self, request: HttpRequest, queryset: QuerySet[Chunk]) -> None:
        from media_pipeline.pipeline import PipelineError, regenerate_images

        by_paper: dict[int, list[Chunk]] = {}
        for chunk in queryset.select_related("paper"):
            if not access.can_edit(request.user, chunk.paper.project_id):
                raise PermissionDenied("Your role does not allow regenerating images in this project.")
            by_paper.setdefault(chunk.paper_id, []).append(chunk)
        for chunks in by_paper.values():
            paper = chunks[0].paper
            try:
                regenerate_images(paper, [c.index for c in chunks], requested_by=request.user)  # type: ignore[arg-type]
            except PipelineError as exc:
                messages.warning(request, f"{paper}: {exc}")
                continue
            scenes = ", ".join(str(c.index + 1) for c in chunks)
            messages.success(request, f"{paper}: new images for scene(s) {scenes} are being made.")

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        if not (request.user.is_superuser or access.projects_editable_by(request.user).exists()):
            actions.pop("regenerate_images", None)
        return actions


@admin.register(Summary)
class SummaryAdmin(ReadOnlyOutputAdmin):
    project_field = "chunk__paper__project"
    list_display = ["chunk", "summary", "backend", "model", "edited_by_human"]
    list_select_related = ["chunk"]
    search_fields = ["summary", "image_prompt"]


@admin.register(Image)
class ImageAdmin(ReadOnlyOutputAdmin):
    project_field = "chunk__paper__project"
    list_display = [
        "chunk",
        "backend",
        "model",
        "seed",
        "width",
        "height",
        "selected",
        "selected_by_human",
        "created_at",
    ]
    list_filter = ["backend", "selected"]
    list_select_related = ["chunk__paper"]


class UploadEventInline(admin.TabularInline):
    model = UploadEvent
    extra = 0
    fields = ["created_at", "kind", "user", "detail"]
    readonly_fields = ["created_at", "kind", "user", "detail"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and access.can_view(request.user, obj.paper.project_id)


class PublishedFilter(admin.SimpleListFilter):
    title = "publishing"
    parameter_name = "publishing"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("approved", "Approved, not published"), ("published", "Published"), ("failed", "Upload failed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "approved":
            return queryset.filter(approved_at__isnull=False, youtube_id="")
        if self.value() == "published":
            return queryset.exclude(youtube_id="")
        if self.value() == "failed":
            return queryset.filter(upload_failures__gt=0, youtube_id="")
        return queryset


@admin.register(Video)
class VideoAdmin(ReadOnlyOutputAdmin):
    project_field = "paper__project"
    list_display = [
        "paper",
        "duration",
        "width",
        "height",
        "approved_at",
        "youtube_id",
        "upload_failures",
        "created_at",
    ]
    list_filter = [PublishedFilter]
    list_select_related = ["paper"]
    search_fields = ["paper__title", "youtube_id"]
    inlines = [UploadEventInline]


class PromptTemplateForm(forms.ModelForm):
    class Meta:
        model = PromptTemplate
        fields = ["project", "system_prompt", "scene_prompt", "negative_prompt"]

    def clean_scene_prompt(self) -> str:
        scene_prompt = str(self.cleaned_data["scene_prompt"])
        try:
            check_scene_prompt(scene_prompt)
        except PermanentError as exc:
            raise ValidationError(str(exc)) from exc
        return scene_prompt


@admin.register(PromptTemplate)
class PromptTemplateAdmin(ProjectScopedAdmin):
    """Templates are versioned: editors add a new version (pre-filled with the current one); none is edited."""

    form = PromptTemplateForm
    list_display = ["project", "version", "created_by", "created_at"]
    list_select_related = ["project", "created_by"]
    fields = ["project", "system_prompt", "scene_prompt", "negative_prompt"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "system_prompt": SYSTEM_PROMPT,
            "scene_prompt": SCENE_PROMPT,
            "negative_prompt": NEGATIVE_PROMPT,
        }
        project_id = request.GET.get("project")
        project = access.projects_editable_by(request.user).filter(pk=project_id).first() if project_id else None
        if project is not None:
            current = template_for(project)
            initial.update(
                project=project.pk,
                system_prompt=current.system_prompt,
                scene_prompt=current.scene_prompt,
                negative_prompt=current.negative_prompt,
            )
        return initial

    def save_model(self, request: HttpRequest, obj: PromptTemplate, form: Any, change: bool) -> None:
        saved = prompt_template_revise(
            project=obj.project,
            system_prompt=obj.system_prompt,
            scene_prompt=obj.scene_prompt,
            negative_prompt=obj.negative_prompt,
            created_by=request.user,  # type: ignore[arg-type]
        )
        obj.pk, obj.version = saved.pk, saved.version
