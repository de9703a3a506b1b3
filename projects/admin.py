"""Admin for projects, members and papers, scoped by membership through projects.access.

A staff user who is not a superuser sees only their projects and what belongs to them. An object in
another team's project is filtered out of the queryset, so its pages answer 404 exactly as for an id that
does not exist (Django's default, a redirect naming the id, is replaced by a plain 404 for both).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from projects import access, services
from projects.models import Membership, Paper, Project, SourceKind
from projects.paper_page import PaperPageMixin


class ProjectScopedAdmin(admin.ModelAdmin):
    """Membership decides what a staff user sees and may change; Django's model permissions do not.

    `project_field` is the lookup path from the model to its Project ("" for Project itself).
    """

    project_field = "project"

    def _project_id_of(self, obj: Any) -> int:
        if not self.project_field:
            return int(obj.pk)
        target = obj
        for part in self.project_field.split("__"):
            target = getattr(target, part)
        return int(target.pk)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        ids = access.project_ids_visible_to(request.user)
        if ids is None:
            return queryset
        lookup = f"{self.project_field}__in" if self.project_field else "pk__in"
        return queryset.filter(**{lookup: ids})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # Django asks for the delete permission before it looks the object up; look it up first, so an
        # object the user cannot see answers 404 like a missing one rather than 403.
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404(f"No {self.opts.verbose_name} matches the given query.")
        return super().delete_view(request, object_id, extra_context)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> HttpResponseRedirect:
        # The same plain 404 for a missing id and for another team's object; nothing echoes the id.
        raise Http404(f"No {opts.verbose_name} matches the given query.")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.has_module_permission(request):
            return False
        return obj is None or access.can_view(request.user, self._project_id_of(obj))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.has_module_permission(request):
            return False
        if obj is None:
            return request.user.is_superuser or access.projects_editable_by(request.user).exists()
        return access.can_edit(request.user, self._project_id_of(obj))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # Foreign-key choices are scoped too: nobody can attach an object to another team's project.
        if db_field.related_model is Project:
            kwargs["queryset"] = access.projects_editable_by(request.user)
        elif db_field.related_model is Paper:
            kwargs["queryset"] = access.papers_visible_to(request.user).filter(
                project__in=access.projects_editable_by(request.user)
            )
        elif db_field.related_model is get_user_model():
            kwargs["queryset"] = access.users_choosable_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is get_user_model():
            kwargs["queryset"] = access.users_choosable_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _owner(self, request: HttpRequest, obj: Any) -> bool:
        return obj is not None and access.can_manage_members(request.user, obj.pk)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._owner(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._owner(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._owner(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and access.can_view(request.user, obj.pk)


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    project_field = ""
    list_display = ["name", "slug", "video_width", "video_height", "max_scene_seconds", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Creating a project makes its creator the owner; any staff user may start a team.
        return self.has_module_permission(request)

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            Membership.objects.get_or_create(project=obj, user=request.user, defaults={"role": "owner"})  # type: ignore[misc]
            messages.info(request, "You are the owner of the new project.")


@admin.register(Membership)
class MembershipAdmin(ProjectScopedAdmin):
    """Members are managed by their project's owners only; editors and viewers see who is in the team."""

    list_display = ["project", "user", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["project", "user"]
    search_fields = ["user__username", "project__name"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self.has_module_permission(request):
            return False
        if obj is None:
            return access.projects_managed_by(request.user).exists()
        return access.can_manage_members(request.user, obj.project_id)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Project:
            # An editor must not be able to add members (or make themselves owner) of their project.
            kwargs["queryset"] = access.projects_managed_by(request.user)
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)


class PaperForm(forms.ModelForm):
    """What a paper needs for its kind: a text or a file, an audio or PDF file, or an arXiv identifier."""

    class Meta:
        model = Paper
        fields = [
            "project", "title", "description", "source_kind", "source_text", "source_file", "source_filename",
            "arxiv_id", "script_minutes", "thumbnail_scene",
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
            from media_pipeline.backends.arxiv import parse_arxiv_id

            try:
                data["arxiv_id"] = str(parse_arxiv_id(data.get("arxiv_id") or ""))
            except ValueError as exc:
                self.add_error("arxiv_id", str(exc))
        try:
            services.check_upload_size(getattr(data.get("source_file"), "size", None))
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
        "arxiv_id", "script_minutes", "authors", "abstract", "thumbnail_scene",
        "curation_status", "narration_audio", "narration_fingerprint", "created_by", "created_at", "updated_at",
        "pipeline_runs", "llm_usage",
    ]  # fmt: skip

    actions = ["run_pipeline"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        from media_pipeline.models import StageRun

        # The pipeline column is derived from each paper's runs: one query for the whole page, not one per row.
        runs = StageRun.objects.order_by("-created_at", "-id")
        return super().get_queryset(request).prefetch_related(Prefetch("stage_runs", runs, to_attr="runs_newest_first"))

    @admin.action(description="Run the pipeline (resume where it stopped)")
    def run_pipeline(self, request: HttpRequest, queryset: QuerySet[Paper]) -> None:
        from media_pipeline.pipeline import PipelineError, pipeline_start

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

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        if not (request.user.is_superuser or access.projects_editable_by(request.user).exists()):
            actions.pop("run_pipeline", None)
        return actions

    @admin.display(description="pipeline")
    def pipeline_status(self, obj: Paper) -> str:
        from media_pipeline.pipeline import paper_status

        return paper_status(obj)

    @admin.display(description="stage runs")
    def pipeline_runs(self, obj: Paper) -> str:
        from media_pipeline.pipeline import latest_runs

        rows = [
            (stage, run.status, run.progress, run.attempts, run.error or "")
            for stage, run in sorted(latest_runs(obj).items(), key=lambda item: item[1].created_at)
        ]
        if not rows:
            return "not started"
        return format_html_join(mark_safe("<br>"), "<strong>{}</strong>: {} ({} %, attempt {}) {}", rows)

    @admin.display(description="LLM usage")
    def llm_usage(self, obj: Paper) -> str:
        from django.db.models import Count, Sum

        from media_pipeline.models import Summary

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
