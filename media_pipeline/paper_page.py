"""The paper page in the admin: the pipeline's state per stage, the scene timeline and the curation buttons.

Every button posts to a URL below the paper's change page. Each view looks the paper up through
projects.access (a non-member gets 404, a viewer 403), calls one service (media_pipeline.pipeline or
media_pipeline.curation), records the change in the admin log under the person's name, and redirects back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_POST

from media_pipeline import curation, selectors
from media_pipeline.models import ACTIVE_STATUSES, Chunk, FigureKind, Image, Script, ScriptSentence, StageRun, Video
from media_pipeline.pipeline import PipelineError, pipeline_start, regenerate_images
from media_pipeline.runs import gate_closed, stages_for
from projects import access
from projects.models import DOCUMENT_KINDS, CurationStatus, Paper

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _Base = ModelAdmin[Paper]
else:
    _Base = object


class PaperPageMixin(_Base):
    change_form_template = "admin/projects/paper/change_form.html"

    # --- The page ------------------------------------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        paper = self.get_object(request, object_id)
        if paper is not None:
            extra_context = {**(extra_context or {}), **self._page_context(request, paper)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _page_context(self, request: HttpRequest, paper: Paper) -> dict[str, Any]:
        video = selectors.video_current(paper)
        approved = (
            Video.objects.filter(paper=paper, approved_at__isnull=False)
            .select_related("approved_by", "lease_holder")
            .first()
        )
        published = Video.objects.filter(paper=paper).exclude(youtube_id="").select_related("published_by").first()
        can_edit = access.can_edit(request.user, paper.project_id)
        status = paper.curation_status
        return {
            "paper_obj": paper,
            "can_edit": can_edit,
            "stage_rows": selectors.stage_rows(paper),
            "scene_rows": selectors.scene_rows(paper),
            "video": video,
            "approved_video": approved,
            "published_video": published,
            "now": timezone.now(),
            "pipeline_active": StageRun.objects.filter(paper=paper, status__in=ACTIVE_STATUSES).exists(),
            "rerun_stages": [(str(s), s.label) for s in stages_for(paper)],
            "can_submit": can_edit and status == CurationStatus.DRAFT,
            "can_approve": can_edit and status in (CurationStatus.DRAFT, CurationStatus.IN_REVIEW),
            "can_return": can_edit and status == CurationStatus.APPROVED,
            **self._script_context(paper),
        }

    @staticmethod
    def _script_context(paper: Paper) -> dict[str, Any]:
        if paper.source_kind not in DOCUMENT_KINDS:
            return {"is_document": False}
        document = selectors.document_current(paper)
        script = selectors.script_current(paper)
        hearing = selectors.sentence_hearing(paper) if script is not None else {}
        sections: list[tuple[str, list[tuple[ScriptSentence, selectors.SentenceHearing | None]]]] = []
        if script is not None:
            for sentence in ScriptSentence.objects.filter(script=script).order_by("index"):
                if not sections or sections[-1][0] != sentence.section:
                    sections.append((sentence.section, []))
                sections[-1][1].append((sentence, hearing.get(sentence.pk)))
        heard = [h for _, rows in sections for _, h in rows if h is not None]
        transcription = selectors.transcription_current(paper) if script is not None else None
        return {
            "script_unheard": transcription is not None and transcription.method == "align",
            "is_document": True,
            "document": document,
            "figure_count": document.figures.exclude(kind=FigureKind.TABLE).count() if document else 0,
            "table_count": document.figures.filter(kind=FigureKind.TABLE).count() if document else 0,
            "script": script,
            "script_sections": sections,
            "script_minutes": _script_minutes(script, paper),
            "script_waiting": gate_closed(paper),
            "script_heard": len(heard),
            "script_hard": sum(1 for h in heard if h.hard_to_follow),
            "script_hard_percent": round(settings.PAPERCAST_HARD_TO_FOLLOW * 100),
        }

    # --- URLs ----------------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        name = "projects_paper_"
        own = [
            path("<int:paper_id>/pipeline.json", wrap(self.pipeline_json), name=f"{name}pipeline_json"),
            path("<int:paper_id>/pipeline/run/", wrap(self.run_view), name=f"{name}run"),
            path("<int:paper_id>/pipeline/render/", wrap(self.render_view), name=f"{name}render"),
            path("<int:paper_id>/curation/<str:step>/", wrap(self.curation_view), name=f"{name}curation"),
            path("<int:paper_id>/scenes/<int:chunk_id>/edit/", wrap(self.scene_edit_view), name=f"{name}scene_edit"),
            path("<int:paper_id>/scenes/<int:chunk_id>/reset/", wrap(self.scene_reset_view), name=f"{name}scene_reset"),
            path(
                "<int:paper_id>/scenes/<int:chunk_id>/regenerate/",
                wrap(self.scene_regenerate_view),
                name=f"{name}scene_regenerate",
            ),
            path(
                "<int:paper_id>/images/<int:image_id>/select/", wrap(self.image_select_view), name=f"{name}image_select"
            ),
            path("<int:paper_id>/script/edit/", wrap(self.script_edit_view), name=f"{name}script_edit"),
            path("<int:paper_id>/script/approve/", wrap(self.script_approve_view), name=f"{name}script_approve"),
        ]
        return own + super().get_urls()

    def _back(self, paper: Paper, anchor: str = "") -> HttpResponseRedirect:
        url = reverse("admin:projects_paper_change", args=[paper.pk])
        return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)

    def _chunk(self, paper: Paper, chunk_id: int) -> Chunk:
        chunk = Chunk.objects.filter(paper=paper, pk=chunk_id).first()
        if chunk is None:
            raise Http404("No scene matches the given query.")
        return chunk

    # --- Pipeline ------------------------------------------------------------------------------------

    @staticmethod
    @require_GET
    def pipeline_json(request: HttpRequest, paper_id: int) -> JsonResponse:
        paper = access.paper_for(request.user, paper_id)
        return JsonResponse(selectors.pipeline_state(paper))

    def _start(self, request: HttpRequest, paper: Paper, from_stage: str | None, what: str) -> None:
        try:
            run = pipeline_start(paper, from_stage=from_stage, requested_by=request.user)  # type: ignore[arg-type]
        except PipelineError as exc:
            messages.error(request, str(exc))
            return
        if run is None:
            messages.info(request, "Every stage is up to date: nothing to run.")
            return
        self.log_change(request, paper, f"{what} (from {run.stage}, run {run.pk})")
        messages.success(request, f"{what}: started at the {run.stage} stage.")

    @method_decorator(require_POST)
    def run_view(self, request: HttpRequest, paper_id: int) -> HttpResponse:
        paper = access.paper_for(request.user, paper_id, write=True)
        from_stage = request.POST.get("from_stage") or None
        self._start(request, paper, from_stage, f"Re-ran from {from_stage}" if from_stage else "Ran the pipeline")
        return self._back(paper, "pipeline")

    @method_decorator(require_POST)
    def render_view(self, request: HttpRequest, paper_id: int) -> HttpResponse:
        paper = access.paper_for(request.user, paper_id, write=True)
        self._start(request, paper, "render", "Rendered the video")
        return self._back(paper, "pipeline")

    # --- Curation ------------------------------------------------------------------------------------

    @method_decorator(require_POST)
    def curation_view(self, request: HttpRequest, paper_id: int, step: str) -> HttpResponse:
        paper = access.paper_for(request.user, paper_id, write=True)
        user: Any = request.user
        try:
            if step == "submit":
                curation.paper_submit_for_review(paper, user=user)
                done = "Sent for review"
            elif step == "approve":
                video, changed = curation.paper_approve(paper, user=user)
                if not changed:
                    messages.info(request, f"Video {video.pk} is approved already.")
                    return self._back(paper)
                done = f"Approved video {video.pk} for publishing"
            elif step == "return":
                curation.paper_return_to_review(paper, user=user)
                done = "Returned to review"
            else:
                raise Http404("No such curation step.")
        except curation.CurationError as exc:
            messages.error(request, str(exc))
            return self._back(paper)
        self.log_change(request, paper, done)
        messages.success(request, f"{done}.")
        return self._back(paper)

    # --- Scenes --------------------------------------------------------------------------------------

    @method_decorator(require_POST)
    def scene_edit_view(self, request: HttpRequest, paper_id: int, chunk_id: int) -> HttpResponse:
        paper = access.paper_for(request.user, paper_id, write=True)
        chunk = self._chunk(paper, chunk_id)
        try:
            changed = curation.summary_edit(
                chunk,
                user=request.user,  # type: ignore[arg-type]
                summary=request.POST.get("summary"),
                image_prompt=request.POST.get("image_prompt"),
                key_phrases=request.POST.get("key_phrases"),
            )
        except curation.CurationError as exc:
            messages.error(request, f"Scene {chunk.index + 1}: {exc}")
            return self._back(paper, f"scene-{chunk.index + 1}")
        if changed:
            fields = " and ".join(name.replace("_", " ") for name in changed)
            self.log_change(request, paper, f"Edited the {fields} of scene {chunk.index + 1}")
            redrawn = "image_prompt" in changed or "key_phrases" in changed
            note = " Its image is redrawn on the next run, or regenerate it now." if redrawn else ""
            messages.success(request, f"Scene {chunk.index + 1}: saved the {fields}.{note}")
        else:
            messages.info(request, f"Scene {chunk.index + 1}: nothing changed.")
        return self._back(paper, f"scene-{chunk.index + 1}")

    @method_decorator(require_POST)
    def scene_reset_view(self, request: HttpRequest, paper_id: int, chunk_id: int) -> HttpResponse:
        paper = access.paper_for(request.user, paper_id, write=True)
        chunk = self._chunk(paper, chunk_id)
        if curation.summary_reset(chunk, user=request.user):  # type: ignore[arg-type]
            self.log_change(request, paper, f"Handed scene {chunk.index + 1}'s summary back to the model")
            messages.success(request, f"Scene {chunk.index + 1}: the model rewrites it on the next run.")
        return self._back(paper, f"scene-{chunk.index + 1}")

    @method_decorator(require_POST)
    def scene_regenerate_view(self, request: HttpRequest, paper_id: int, chunk_id: int) -> HttpResponse:
        paper = access.paper_for(request.user, paper_id, write=True)
        chunk = self._chunk(paper, chunk_id)
        try:
            count = int(request.POST.get("count") or 1)
            run = regenerate_images(paper, [chunk.index], count=count, requested_by=request.user)  # type: ignore[arg-type]
        except ValueError:
            messages.error(request, "The number of new images must be a whole number from 1 to 8.")
        except PipelineError as exc:
            messages.error(request, f"Scene {chunk.index + 1}: {exc}")
        else:
            self.log_change(request, paper, f"Regenerated the image of scene {chunk.index + 1} (run {run.pk})")
            messages.success(request, f"Scene {chunk.index + 1}: {count} new image(s) requested.")
        return self._back(paper, f"scene-{chunk.index + 1}")

    @method_decorator(require_POST)
    def image_select_view(self, request: HttpRequest, paper_id: int, image_id: int) -> HttpResponse:
        paper = access.paper_for(request.user, paper_id, write=True)
        image = Image.objects.filter(pk=image_id, chunk__paper=paper).select_related("chunk").first()
        if image is None:
            raise Http404("No image matches the given query.")
        scene = image.chunk.index + 1
        if curation.image_select(image, user=request.user):  # type: ignore[arg-type]
            self.log_change(request, paper, f"Chose image {image.pk} for scene {scene}")
            messages.success(request, f"Scene {scene}: image {image.pk} is used. Render to update the video.")
        return self._back(paper, f"scene-{scene}")

    # --- Script --------------------------------------------------------------------------------------

    def _script(self, paper: Paper) -> Script:
        script = selectors.script_current(paper)
        if script is None:
            raise Http404("This paper has no script.")
        return script

    @method_decorator(require_POST)
    def script_edit_view(self, request: HttpRequest, paper_id: int) -> HttpResponse:
        paper = access.paper_for(request.user, paper_id, write=True)
        script = self._script(paper)
        section = request.POST.get("section", "")
        try:
            changed = curation.script_edit(
                script,
                section=section,
                text=request.POST.get("text", ""),
                user=request.user,  # type: ignore[arg-type]
            )
        except curation.CurationError as exc:
            messages.error(request, str(exc))
            return self._back(paper, "script")
        if changed:
            self.log_change(request, paper, f"Edited {changed} sentence(s) of the script's section {section!r}")
            messages.success(request, f"Saved the section {section or 'Opening'!r}: {changed} sentence(s) changed.")
        else:
            messages.info(request, "Nothing changed in the script.")
        return self._back(paper, "script")

    @method_decorator(require_POST)
    def script_approve_view(self, request: HttpRequest, paper_id: int) -> HttpResponse:
        paper = access.paper_for(request.user, paper_id, write=True)
        script = self._script(paper)
        if curation.script_approve(script, user=request.user):  # type: ignore[arg-type]
            self.log_change(request, paper, f"Approved script {script.pk} for narration")
            messages.success(request, "Approved the script.")
        self._start(request, paper, None, "Narrated the approved script")
        return self._back(paper, "pipeline")


def _script_minutes(script: Script | None, paper: Paper) -> float:
    """The script's length as the voice will say it (older scripts: at the nominal words a minute)."""
    if script is None:
        return 0.0
    return script.seconds / 60 if script.seconds else script.words / paper.project.words_per_minute
