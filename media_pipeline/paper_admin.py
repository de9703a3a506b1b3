"""The paper's admin: the form that creates a paper of each kind, the changelist with each paper's pipeline
status, and (through PaperPageMixin) the paper page where a team curates its video.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from media_pipeline.models import StageRun, Summary
from media_pipeline.paper_page import PaperPageMixin
from media_pipeline.pipeline import PipelineError, check_by_listening, pipeline_start
from media_pipeline.runs import latest_runs, paper_status
from projects import access, services
from projects.admin import ProjectScopedAdmin
from projects.identifiers import parse_arxiv_id
from projects.models import Paper, SourceKind
from projects.uploads import stored_upload_name

UPLOAD_KINDS = {SourceKind.TEXT: "text", SourceKind.AUDIO: "audio", SourceKind.PDF: "pdf", SourceKind.ARXIV: "pdf"}


class PaperForm(forms.ModelForm):
    """What a paper needs for its kind: a text or a file, an audio or PDF file, or an arXiv identifier."""

    class Meta:
        model = Paper
        fields = [
            "project", "title", "description", "source_kind", "source_text", "source_file", "source_filename",
            "arxiv_id", "script_minutes", "thumbnail_scene", "publish_at",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("source_kind")
        has_file = bool(data.get("source_file"))
        if kind == SourceKind.TEXT and not (data.get("source_text") or "").strip() and not has_file:
            self.add_error("source_text", "Type the text to narrate, or upload a text or Markdown file.")
        if kind in (SourceKind.AUDIO, SourceKind.PDF) and not has_file:
            self.add_error("source_file", f"Upload the {'narration audio' if kind == SourceKind.AUDIO else 'PDF'}.")
        if kind == SourceKind.ARXIV:
            try:
                data["arxiv_id"] = str(parse_arxiv_id(data.get("arxiv_id") or ""))
            except ValueError as exc:
                self.add_error("arxiv_id", str(exc))
        try:
            services.check_upload_size(getattr(data.get("source_file"), "size", None))
        except ValidationError as exc:
            self.add_error("source_file", exc.messages[0])
        upload = data.get("source_file")
        if isinstance(upload, UploadedFile) and kind in UPLOAD_KINDS:
            # Stored under a suffix from the allowlist for the kind, never the one the user gave.
            try:
                upload.name = stored_upload_name(UPLOAD_KINDS[kind], upload, upload.name or "")
            except ValidationError as exc:
                self.add_error("source_file", exc.messages[0])
        return data


@admin.register(Paper)
class PaperAdmin(PaperPageMixin, ProjectScopedAdmin):
    form = PaperForm
    list_display = ["title", "project", "source_kind", "curation_status", "pipeline_status", "created_at"]
    list_filter = ["source_kind", "curation_status", ("project", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["project"]
    search_fields = ["title"]
    readonly_fields = [
        "curation_status",
        "authors",
        "abstract",
        "narration_audio",
        "narration_fingerprint",
        "created_by",
        "created_at",
        "updated_at",
        "pipeline_runs",
        "llm_usage",
    ]
    fields = [
        "project", "title", "description", "source_kind", "source_text", "source_file", "source_filename",
        "arxiv_id", "script_minutes", "authors", "abstract", "thumbnail_scene", "publish_at",
        "curation_status", "narration_audio", "narration_fingerprint", "created_by", "created_at", "updated_at",
        "pipeline_runs", "llm_usage",
    ]  # fmt: skip

    actions = ["run_pipeline", "check_narration_by_listening"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # The pipeline column is derived from each paper's runs: one query for the whole page, not one per row.
        runs = StageRun.objects.order_by("-created_at", "-id")
        return super().get_queryset(request).prefetch_related(Prefetch("stage_runs", runs, to_attr="runs_newest_first"))

    @admin.action(description="Run the pipeline (resume where it stopped)")
    def run_pipeline(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        started = current = 0
        for paper in queryset.select_related("project"):
            if not access.can_edit(request.user, paper.project_id):
                raise PermissionDenied("Your role does not allow running the pipeline of these papers.")
            try:
                run = pipeline_start(paper, requested_by=request.user)  # type: ignore[arg-type]
            except PipelineError as exc:
                messages.warning(request, f"{paper}: {exc}")
                continue
            if run is None:
                current += 1
            else:
                started += 1
        if started:
            messages.success(request, f"Started the pipeline for {started} paper(s); the workers will pick it up.")
        if current:
            messages.info(request, f"{current} paper(s) were already up to date.")

    @admin.action(description="Check the narration by listening (recognition: finds sentences hard to follow)")
    def check_narration_by_listening(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        started = 0
        for paper in queryset.select_related("project"):
            if not access.can_edit(request.user, paper.project_id):
                raise PermissionDenied("Your role does not allow running the pipeline of these papers.")
            try:
                check_by_listening(paper, requested_by=request.user)  # type: ignore[arg-type]
            except PipelineError as exc:
                messages.warning(request, f"{paper}: {exc}")
                continue
            started += 1
        if started:
            messages.success(
                request,
                f"Started a recognition of the narration of {started} paper(s); the sentences a listener may "
                "mishear show on each paper's page when it is done.",
            )

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        if not (request.user.is_superuser or access.projects_editable_by(request.user).exists()):
            actions.pop("run_pipeline", None)
            actions.pop("check_narration_by_listening", None)
        return actions

    @admin.display(description="pipeline")
    def pipeline_status(self, obj: Paper) -> str:
        return paper_status(obj)

    @admin.display(description="stage runs")
    def pipeline_runs(self, obj: Paper) -> str:
        rows = [
            (stage, run.status, run.progress, run.attempts, run.error or "")
            for stage, run in sorted(latest_runs(obj).items(), key=lambda item: item[1].created_at)
        ]
        if not rows:
            return "not started"
        return format_html_join(mark_safe("<br>"), "<strong>{}</strong>: {} ({} %, attempt {}) {}", rows)

    @admin.display(description="LLM usage")
    def llm_usage(self, obj: Paper) -> str:
        totals = Summary.objects.filter(chunk__paper=obj).aggregate(
            scenes=Count("id"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), seconds=Sum("seconds")
        )
        if not totals["scenes"]:
            return "no summaries yet"
        return (
            f"{totals['scenes']} scenes: {totals['tokens_in'] or 0:,} tokens in, {totals['tokens_out'] or 0:,} out, "
            f"{totals['seconds'] or 0:.1f} s"
        )

    def save_model(self, request: HttpRequest, obj: Paper, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
