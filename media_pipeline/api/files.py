"""Download links for a video's files: API URLs streamed by Django from local storage, or presigned S3 URLs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.request import Request

from media_pipeline.models import Video
from papercast.api.links import absolute_url

CONTENT_TYPES = {
    "video": "video/mp4",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "thumbnail": "image/jpeg",
}
SUFFIXES = {"video": "mp4", "srt": "srt", "vtt": "vtt", "thumbnail": "jpg"}


def is_local(storage: Storage) -> bool:
    """Whether the storage keeps files on this machine's disk (then Django streams them itself)."""
    try:
        storage.path("probe")
    except NotImplementedError:
        return False
    return True


def video_field(video: Video, kind: str) -> FieldFile | None:
    field: FieldFile = {"video": video.file, "srt": video.srt, "vtt": video.vtt, "thumbnail": video.thumbnail}[kind]
    return field if field and field.name else None


def download_name(video: Video, kind: str) -> str:
    return f"papercast-video-{video.pk}-{kind}.{SUFFIXES[kind]}"


def file_digest(video: Video, kind: str) -> str | None:
    """The sha256 recorded for the file, where there is one (the MP4's): its download's ETag."""
    if kind != "video":
        return None
    return video.file_sha256 or None


def presigned_url(field: FieldFile, video: Video, kind: str) -> str:
    """A short-lived signed URL (AWS_QUERYSTRING_EXPIRE seconds) that downloads under a readable name."""
    disposition = f'attachment; filename="{download_name(video, kind)}"'
    params = {"ResponseContentDisposition": disposition, "ResponseContentType": CONTENT_TYPES[kind]}
    return str(field.storage.url(str(field.name), parameters=params))  # type: ignore[call-arg]


def file_links(request: Request, video: Video) -> dict[str, Any]:
    links: dict[str, Any] = {}
    for kind, content_type in CONTENT_TYPES.items():
        field = video_field(video, kind)
        if field is None:
            links[kind] = None
            continue
        size = video.file_size if kind == "video" and video.file_size else None
        if is_local(field.storage):
            url = absolute_url(request, reverse("api:video-download", args=[video.pk, kind]))
            if size is None:
                size = field.storage.size(str(field.name))
            links[kind] = {
                "url": url,
                "content_type": content_type,
                "size": size,
                "requires_auth": True,
                "expires_at": None,
            }
        else:
            expires = timezone.now() + timedelta(seconds=int(settings.AWS_QUERYSTRING_EXPIRE))
            links[kind] = {
                "url": presigned_url(field, video, kind),
                "content_type": content_type,
                "size": size,
                "requires_auth": False,
                "expires_at": expires.isoformat(),
            }
    return links
