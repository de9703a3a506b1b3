"""/api/v1/videos: what the YouTube uploader lists, claims, downloads and reports back on.

Reading needs membership of the video's project (else 404); claim, published and failed need the editor
role (else 403). The lease protocol itself lives in media_pipeline.publishing.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from media_pipeline import publishing, selectors
from media_pipeline.api.files import CONTENT_TYPES, download_name, file_digest, is_local, presigned_url, video_field
from media_pipeline.api.serializers import (
    VIDEO_STATUSES,
    ClaimedSerializer,
    ClaimSerializer,
    FailedSerializer,
    LeaseConflictSerializer,
    PublishedSerializer,
    VideoDetailSerializer,
    VideoSerializer,
    iso,
)
from media_pipeline.models import UploadEvent, Video
from media_pipeline.views import stored_file_response
from papercast.api.errors import Conflict, ErrorSerializer
from papercast.api.paging import IdFilter
from projects.api.views import require_editor

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# IdFilter's range. drf-spectacular cannot tell an `*_id` path is an integer and would say "number".
_ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}


class _BooleanField(forms.Field):
    """true/false, 1/0, yes/no or on/off in any case; anything else is invalid: a typo must not silently list
    everything (django-filter's own boolean field reads what it does not know as "no filter")."""

    def to_python(self, value: Any) -> bool | None:
        if value is None or value == "":
            return None
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise forms.ValidationError("Use true or false (or 1/0, yes/no, on/off).", code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    """A boolean query parameter that answers 400 for what is not a boolean."""

    field_class = _BooleanField


def id_filter(field_name: str, help_text: str) -> IdFilter:
    """An IdFilter (400 for what is not an id), an integer in the schema."""
    schema = {**_ID_SCHEMA, "description": help_text}
    annotated: IdFilter = extend_schema_field(schema)(IdFilter(field_name=field_name, help_text=help_text))
    return annotated


class VideoFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=VIDEO_STATUSES, method="filter_status")
    published = BooleanFilter(method="filter_published", help_text="Has a YouTube id.")
    available = BooleanFilter(method="filter_available", help_text="true: no uploader's lease holds the video now.")
    project = id_filter("paper__project_id", "Only this project's videos.")
    paper = id_filter("paper_id", "Only this paper's videos.")

    class Meta:
        model = Video
        fields = ["status", "published", "available", "project", "paper"]

    def filter_status(self, queryset: QuerySet[Video], name: str, value: str) -> QuerySet[Video]:
        if value == "published":
            return queryset.exclude(youtube_id="")
        unpublished = queryset.filter(youtube_id="")
        if value == "approved":
            return unpublished.filter(approved_at__isnull=False)
        return unpublished.filter(approved_at__isnull=True)

    def filter_published(self, queryset: QuerySet[Video], name: str, value: bool) -> QuerySet[Video]:
        return queryset.exclude(youtube_id="") if value else queryset.filter(youtube_id="")

    def filter_available(self, queryset: QuerySet[Video], name: str, value: bool) -> QuerySet[Video]:
        free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=timezone.now())
        return queryset.filter(free) if value else queryset.exclude(free)


_KIND = OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(CONTENT_TYPES))
# Every download is bytes: application/octet-stream comes first, so a client generated from the schema reads
# the body as bytes (openapi-python-client takes the first media type it knows, and reads text/* as text);
# the types each kind is really served with follow it.
_DOWNLOAD_RESPONSES: dict[Any, Any] = {
    (status, media): OpenApiResponse(OpenApiTypes.BINARY, description=description)
    for status, description in (
        (200, "The whole file, served as video/mp4, application/x-subrip, text/vtt or image/jpeg by kind."),
        (206, "The byte range asked for."),
    )
    for media in ("application/octet-stream", *CONTENT_TYPES.values())
}
_DOWNLOAD_RESPONSES[302] = OpenApiResponse(description="S3 storage: a redirect to a short-lived presigned URL.")
_DOWNLOAD_RESPONSES[304] = OpenApiResponse(
    description="Not modified: If-None-Match names the file's ETag (or If-Modified-Since is not before it)."
)
_DOWNLOAD_RESPONSES[(412, "application/json")] = OpenApiResponse(
    ErrorSerializer, description="`precondition_failed`: the file does not meet If-Match or If-Unmodified-Since."
)
_DOWNLOAD_RESPONSES[(416, "application/json")] = OpenApiResponse(
    ErrorSerializer,
    description="`range_not_satisfiable`: the range starts beyond the file; Content-Range says `bytes */SIZE`.",
)


def _conflict_codes(refusals: tuple[type[publishing.PublishingError], ...]) -> str:
    return "The video's state refuses this; `code` says why: " + ", ".join(f"`{r.code}`" for r in refusals) + "."


def _conflict(exc: publishing.PublishingError) -> Conflict:
    """The 409 of a refusal; a lease that holds the video now is named in the body (`holder`, `expires_at`)."""
    held = {"holder": exc.holder, "expires_at": iso(exc.expires_at)} if exc.expires_at else {}
    return Conflict(str(exc), code=exc.code, **held)


@extend_schema_view(
    list=extend_schema(tags=["videos"], description="Videos in your projects, newest first."),
    retrieve=extend_schema(tags=["videos"], description="A video with its YouTube metadata and download links."),
)
class VideoViewSet(viewsets.ReadOnlyModelViewSet):
    filterset_class = VideoFilter

    def get_queryset(self) -> QuerySet[Video]:
        queryset = (
            selectors.videos_visible_to(self.request.user)
            .select_related("paper__project", "approved_by", "published_by", "lease_holder")
            .order_by("-created_at", "-id")
        )
        if self.action != "list":
            events = UploadEvent.objects.select_related("user").order_by("created_at", "id")
            queryset = queryset.prefetch_related(Prefetch("upload_events", events))
        return queryset

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return VideoSerializer if self.action == "list" else VideoDetailSerializer

    def _writable(self) -> Video:
        video = self.get_object()
        require_editor(self.request.user, video.paper.project_id)
        return video

    def _detail(self, video: Video) -> dict[str, Any]:
        fresh = self.get_queryset().get(pk=video.pk)
        return dict(VideoDetailSerializer(fresh, context=self.get_serializer_context()).data)

    @extend_schema(
        tags=["videos"],
        request=ClaimSerializer,
        responses={
            200: ClaimedSerializer,
            409: OpenApiResponse(LeaseConflictSerializer, description=_conflict_codes(publishing.CLAIM_CONFLICTS)),
        },
        description=(
            "Lease the video for an upload (editors). 409 `lease_held` (with `holder` and `expires_at`) while "
            "another uploader's lease holds, `not_approved` or `already_published`. With `lease`, renews that "
            "lease while it holds: `lease_expired` once it ran out (claim anew), `not_lease_holder` once it was "
            "released or replaced."
        ),
    )
    @action(detail=True, methods=["post"], serializer_class=ClaimSerializer)
    def claim(self, request: Request, pk: str | None = None) -> Response:
        video = self._writable()
        form = ClaimSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user: Any = request.user
        try:
            video = publishing.video_claim(
                video, user=user, seconds=form.validated_data.get("seconds"), lease=form.validated_data.get("lease")
            )
        except publishing.PublishingError as exc:
            raise _conflict(exc) from exc
        return Response(
            {"lease": str(video.lease_id), "expires_at": iso(video.lease_expires_at), "video": self._detail(video)}
        )

    @extend_schema(
        tags=["videos"],
        request=PublishedSerializer,
        responses={
            200: VideoDetailSerializer,
            409: OpenApiResponse(LeaseConflictSerializer, description=_conflict_codes(publishing.PUBLISH_CONFLICTS)),
        },
        description=(
            "Report the YouTube id of the uploaded video (editors). Only the holder of the video's lease may: "
            "name it in `lease` (without it, a lease your account holds counts). Idempotent: the same id again "
            "is 200 and changes nothing, whoever sends it. 409 `not_lease_holder` for another lease or none, "
            "`lease_expired` for a lease that ran out (claim again, then report), `already_published` for a "
            "different id, `youtube_id_taken` for an id another video has. The paper's curation becomes published."
        ),
    )
    @action(detail=True, methods=["post"], serializer_class=PublishedSerializer)
    def published(self, request: Request, pk: str | None = None) -> Response:
        video = self._writable()
        form = PublishedSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user: Any = request.user
        try:
            video, _changed = publishing.video_publish(
                video, user=user, youtube_id=form.validated_data["youtube_id"], lease=form.validated_data.get("lease")
            )
        except publishing.PublishingError as exc:
            raise _conflict(exc) from exc
        return Response(self._detail(video))

    @extend_schema(
        tags=["videos"],
        request=FailedSerializer,
        responses={
            200: VideoDetailSerializer,
            409: OpenApiResponse(LeaseConflictSerializer, description=_conflict_codes(publishing.FAIL_CONFLICTS)),
        },
        description=(
            "Report a failed upload (editors): releases the lease and keeps the reason. Releases only the "
            "video's lease: the one named in `lease` (also after it ran out, while nobody claimed the video "
            "since) or, without it, the one your account holds: so an uploader that lost its lease id gives "
            "its claim back. 409 `not_lease_holder` for another lease or none, `already_published`."
        ),
    )
    @action(detail=True, methods=["post"], serializer_class=FailedSerializer)
    def failed(self, request: Request, pk: str | None = None) -> Response:
        video = self._writable()
        form = FailedSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user: Any = request.user
        try:
            video = publishing.video_fail(
                video, user=user, reason=form.validated_data["reason"], lease=form.validated_data.get("lease")
            )
        except ValueError as exc:
            raise exceptions.ValidationError({"reason": [str(exc)]}) from exc
        except publishing.PublishingError as exc:
            raise _conflict(exc) from exc
        return Response(self._detail(video))

    @extend_schema(
        tags=["videos"],
        parameters=[_KIND],
        responses=_DOWNLOAD_RESPONSES,
        description=(
            "Download the MP4, SRT, WebVTT or thumbnail. Local storage: streamed, with byte ranges (one `Range: "
            "bytes=first-last`; an invalid one is ignored), a strong ETag (the MP4's is its sha256) and "
            "Last-Modified: If-None-Match gets 304, If-Range the range only while it names this file. S3: a "
            "redirect to a presigned URL (fetch it without the Authorization header)."
        ),
    )
    @action(detail=True, methods=["get"], url_path=r"download/(?P<kind>video|srt|vtt|thumbnail)")
    def download(self, request: Request, pk: str | None = None, kind: str = "video") -> HttpResponseBase:
        video = self.get_object()
        field = video_field(video, kind)
        if field is None or not field.storage.exists(str(field.name)):
            raise exceptions.NotFound(f"Video {video.pk} has no {kind} file.")
        if not is_local(field.storage):
            return HttpResponseRedirect(presigned_url(field, video, kind))
        response = stored_file_response(
            request._request, str(field.name), CONTENT_TYPES[kind], digest=file_digest(video, kind)
        )
        response["Content-Disposition"] = f'attachment; filename="{download_name(video, kind)}"'
        return response
