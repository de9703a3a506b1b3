"""/api/v1/papers: papers in your projects with their pipeline state; editors create papers and start pipelines.

Every queryset comes from projects.access (a non-member gets 404); every write is a projects.services or
media_pipeline.pipeline call.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from media_pipeline.api.serializers import (
    PaperCreateSerializer,
    PaperSerializer,
    PipelineStartedSerializer,
    PipelineStartSerializer,
)
from media_pipeline.api.views import id_filter
from media_pipeline.models import Stage, StageRun, Video
from media_pipeline.pipeline import PipelineBusy, PipelineError, pipeline_start
from media_pipeline.selectors import pipeline_state
from papercast.api.errors import Conflict, ErrorSerializer
from projects import access, services
from projects.api.views import require_editor
from projects.models import CurationStatus, Paper, Project, SourceKind


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "too_large"


class PaperFilter(django_filters.FilterSet):
    project = id_filter("project_id", "Only this project's papers.")
    curation_status = django_filters.ChoiceFilter(choices=CurationStatus.choices)
    source_kind = django_filters.ChoiceFilter(choices=SourceKind.choices)

    class Meta:
        model = Paper
        fields = ["project", "curation_status", "source_kind"]


@extend_schema_view(
    list=extend_schema(tags=["papers"]),
    retrieve=extend_schema(tags=["papers"]),
    create=extend_schema(
        tags=["papers"],
        request={
            "application/json": PaperCreateSerializer,
            "multipart/form-data": PaperCreateSerializer,
        },
        responses={
            201: PaperSerializer,
            413: OpenApiResponse(ErrorSerializer, description="The upload is over PAPERCAST_MAX_UPLOAD_MB."),
        },
    ),
)
class PaperViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Papers in your projects, with the state of their pipeline. Editors create papers and start pipelines."""

    serializer_class = PaperSerializer
    filterset_class = PaperFilter
    parser_classes = [JSONParser, MultiPartParser]

    def get_queryset(self) -> QuerySet[Paper]:
        runs = StageRun.objects.order_by("-created_at", "-id")
        videos = Video.objects.only("id", "paper_id", "created_at").order_by("-created_at", "-id")
        return (
            access.papers_visible_to(self.request.user)
            .select_related("project", "created_by")
            .prefetch_related(
                Prefetch("stage_runs", runs, to_attr="runs_newest_first"),
                Prefetch("videos", videos, to_attr="videos_newest_first"),
            )
            .order_by("-created_at", "-id")
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Refuse an oversized upload before it is read: Django would stream it all to disk first.
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        limit = settings.PAPERCAST_MAX_UPLOAD_BYTES
        if declared > limit + 1024 * 1024:
            raise PayloadTooLarge(f"The upload is {declared / 1e6:.0f} MB; the limit is {limit / 1e6:.0f} MB.")
        form = PaperCreateSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        data = form.validated_data
        project: Project = data["project"]
        require_editor(request.user, project.pk)
        user: Any = request.user
        common = {"project": project, "title": data["title"], "created_by": user, "description": data["description"]}
        try:
            if data.get("pdf") is not None:
                upload = data["pdf"]
                paper = services.paper_create_from_pdf(
                    file=upload,
                    filename=upload.name or "paper.pdf",
                    script_minutes=data.get("script_minutes"),
                    **common,
                )
            elif data.get("arxiv_id") is not None:
                paper = services.paper_create_from_arxiv(
                    arxiv_id=data["arxiv_id"], script_minutes=data.get("script_minutes"), **common
                )
            elif data.get("text") is not None:
                paper = services.paper_create_from_text(text=data["text"], **common)
            elif data.get("text_file") is not None:
                upload = data["text_file"]
                paper = services.paper_create_from_text(file=upload, filename=upload.name or "paper.txt", **common)
            else:
                upload = data["audio"]
                paper = services.paper_create_from_audio(file=upload, filename=upload.name or "audio", **common)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"non_field_errors": exc.messages}) from exc
        body = self.get_serializer(self.get_queryset().get(pk=paper.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["papers"],
        request=PipelineStartSerializer,
        responses={200: PipelineStartedSerializer, 202: PipelineStartedSerializer},
        description=(
            "Start or resume the paper's pipeline (editors). Without from_stage it resumes at the first stage "
            "that is not current; 200 with started=false when all are. 409 `pipeline_busy` while a run is active."
        ),
    )
    @action(detail=True, methods=["post"], serializer_class=PipelineStartSerializer)
    def pipeline(self, request: Request, pk: str | None = None) -> Response:
        paper = self.get_object()
        require_editor(request.user, paper.project_id)
        form = PipelineStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user: Any = request.user
        try:
            run = pipeline_start(
                paper,
                from_stage=form.validated_data.get("from_stage"),
                until=form.validated_data.get("until"),
                requested_by=user,
            )
        except PipelineBusy as exc:
            raise Conflict(str(exc), code="pipeline_busy") from exc
        except PipelineError as exc:
            raise exceptions.ValidationError({"non_field_errors": [str(exc)]}) from exc
        fresh = Paper.objects.get(pk=paper.pk)
        body = {
            "started": run is not None,
            "stage": str(Stage(run.stage)) if run else None,
            "run": run.pk if run else None,
            "pipeline": pipeline_state(fresh),
        }
        return Response(
            PipelineStartedSerializer(body).data, status=status.HTTP_202_ACCEPTED if run else status.HTTP_200_OK
        )
