"""Publishing to YouTube: what an uploader is told about a video, and the lease protocol uploaders follow.

An uploader program lists approved, unpublished videos, claims one (a lease with an expiry), downloads and
uploads it, then reports `published` (with the YouTube id) or `failed` (with a reason). Several uploaders
may run at once and any of them may crash mid-upload:

- A claim is one conditional UPDATE (approved, unpublished, and no lease or an expired one), so of two
  uploaders claiming at the same moment exactly one wins, on SQLite and on PostgreSQL alike; the other
  gets LeaseHeld. A crashed uploader's lease simply expires and the video can be claimed again.
- `published` is idempotent: the same YouTube id again changes nothing; a different one is refused.
- `failed` releases the lease (only the lease the caller names, when it names one) and keeps the reason.

Every step is recorded as an UploadEvent with who did it.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from media_pipeline.models import Image, UploadEvent, UploadEventKind, Video
from media_pipeline.selectors import transcription_current
from projects.models import CurationStatus, Paper

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TITLE_LIMIT = 100  # characters (YouTube Data API, snippet.title)
DESCRIPTION_LIMIT = 5000  # bytes (snippet.description)
TAGS_LIMIT = 500  # characters, counted YouTube's way (see _fit_tags)
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


class PublishingError(Exception):
    """A publishing step refused in the video's current state; the message says why (HTTP 409)."""


class LeaseHeld(PublishingError):
    """Another uploader holds the video's lease, or the caller's lease is no longer the current one."""


def video_status(video: Video) -> str:
    """unapproved -> approved -> published (a video is approved while its paper's approval points at it)."""
    if video.youtube_id:
        return "published"
    if video.approved_at is not None:
        return "approved"
    return "unapproved"


def lease_active(video: Video, now: datetime | None = None) -> bool:
    return bool(video.lease_id and video.lease_expires_at and video.lease_expires_at > (now or timezone.now()))


def _lease_seconds(seconds: int | None) -> int:
    if seconds is None:
        return int(settings.PAPERCAST_UPLOAD_LEASE_SECONDS)
    return max(60, min(int(seconds), int(settings.PAPERCAST_UPLOAD_LEASE_MAX_SECONDS)))


def _event(video: Video, kind: str, user: User | None, lease: uuid.UUID | None, detail: str = "") -> None:
    UploadEvent.objects.create(video=video, kind=kind, user=user, lease_id=lease, detail=detail[:5000])


def video_claim(video: Video, *, user: User, seconds: int | None = None, lease: uuid.UUID | None = None) -> Video:
    """Lease the video to the caller for `seconds` (default PAPERCAST_UPLOAD_LEASE_SECONDS).

    With `lease` (the id a previous claim returned) the caller's own lease is renewed instead. Not
    idempotent for a new claim (each success is a new lease); raises LeaseHeld while someone else's lease
    holds, PublishingError for a video that is not approved or is published already.
    """
    now = timezone.now()
    expires = now + timedelta(seconds=_lease_seconds(seconds))
    if lease is not None:
        renewed = Video.objects.filter(pk=video.pk, lease_id=lease, lease_expires_at__gt=now, youtube_id="").update(
            lease_expires_at=expires
        )
        if not renewed:
            raise LeaseHeld(
                f"Lease {lease} does not hold video {video.pk} any more (it expired, was released, or the video "
                "was published). Claim the video again."
            )
        _event(video, UploadEventKind.RENEWED, user, lease)
        video.refresh_from_db()
        return video
    new_lease = uuid.uuid4()
    with transaction.atomic():
        claimed = (
            Video.objects.filter(pk=video.pk, approved_at__isnull=False, youtube_id="")
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
            .update(lease_id=new_lease, lease_holder=user, lease_expires_at=expires)
        )
        if claimed:
            _event(video, UploadEventKind.CLAIMED, user, new_lease)
    video.refresh_from_db()
    if claimed:
        return video
    if video.youtube_id:
        raise PublishingError(f"Video {video.pk} is published already (YouTube id {video.youtube_id}).")
    if video.approved_at is None:
        raise PublishingError(f"Video {video.pk} is not approved for publishing.")
    holder = video.lease_holder.get_username() if video.lease_holder else "another uploader"
    until = video.lease_expires_at.isoformat() if video.lease_expires_at else "?"
    raise LeaseHeld(f"Video {video.pk} is being uploaded by {holder} (lease until {until}).")


def video_publish(video: Video, *, user: User, youtube_id: str, lease: uuid.UUID | None = None) -> tuple[Video, bool]:
    """Record that the video is on YouTube as `youtube_id`; the paper's curation becomes published.

    Returns the video and whether anything changed. Idempotent: the same id again changes nothing; a
    different id, or an id already recorded for another video, raises PublishingError. The video must be
    approved, or the caller must name the lease it claimed the video with (its approval may have been
    withdrawn while it uploaded; what is on YouTube is recorded either way then).
    """
    if not YOUTUBE_ID.match(youtube_id):
        raise ValueError("A YouTube video id is 6 to 64 letters, digits, '-' or '_'.")
    allowed = Q(approved_at__isnull=False)
    if lease is not None:
        allowed |= Q(lease_id=lease)
    now = timezone.now()
    try:
        with transaction.atomic():
            published = (
                Video.objects.filter(pk=video.pk, youtube_id="")
                .filter(allowed)
                .update(
                    youtube_id=youtube_id,
                    published_at=now,
                    published_by=user,
                    lease_id=None,
                    lease_holder=None,
                    lease_expires_at=None,
                )
            )
            if published:
                Paper.objects.filter(pk=video.paper_id).exclude(curation_status=CurationStatus.PUBLISHED).update(
                    curation_status=CurationStatus.PUBLISHED, updated_at=now
                )
                _event(video, UploadEventKind.PUBLISHED, user, lease, youtube_id)
    except IntegrityError:
        other = Video.objects.filter(youtube_id=youtube_id).values_list("pk", flat=True).first()
        raise PublishingError(f"YouTube id {youtube_id} is recorded for video {other} already.") from None
    video.refresh_from_db()
    if published:
        return video, True
    if video.youtube_id == youtube_id:
        return video, False
    if video.youtube_id:
        raise PublishingError(f"Video {video.pk} is published already as YouTube id {video.youtube_id}.")
    raise PublishingError(
        f"Video {video.pk} is not approved for publishing (its approval was withdrawn or never given)."
    )


def video_fail(video: Video, *, user: User, reason: str, lease: uuid.UUID | None = None) -> Video:
    """Record a failed upload with its reason and release the lease, so the video can be claimed again.

    With `lease`, only that lease is released (LeaseHeld if another uploader holds the video now). Without
    it, a lease held by someone else is left alone (LeaseHeld). Not idempotent: each call is one failure.
    """
    reason = " ".join(reason.split())[:5000]
    if not reason:
        raise ValueError("Say why the upload failed.")
    now = timezone.now()
    target = Video.objects.filter(pk=video.pk, youtube_id="")
    if lease is not None:
        mine = Q(lease_id=lease)
    else:
        # No lease named: the caller's own lease, or none that holds.
        mine = Q(lease_holder=user) | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    with transaction.atomic():
        updated = target.filter(mine).update(
            lease_id=None,
            lease_holder=None,
            lease_expires_at=None,
            upload_failures=F("upload_failures") + 1,
            last_failure=reason,
            last_failure_at=now,
        )
        if updated:
            _event(video, UploadEventKind.FAILED, user, lease, reason)
    video.refresh_from_db()
    if updated:
        return video
    if video.youtube_id:
        raise PublishingError(f"Video {video.pk} is published already (YouTube id {video.youtube_id}).")
    raise LeaseHeld(f"Video {video.pk} is held by another lease now; that uploader reports its own outcome.")


# --- What the uploader sends to YouTube ---------------------------------------------------------------------


def _youtube_text(text: str) -> str:
    # The YouTube Data API refuses '<' and '>' in titles and descriptions.
    return text.replace("<", "‹").replace(">", "›")


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore").rstrip() + "…"


def _fit_tags(tags: list[str]) -> list[str]:
    """Tags in order, without duplicates, within YouTube's 500 characters (a tag with a space counts its quotes)."""
    kept: list[str] = []
    seen: set[str] = set()
    used = 0
    for raw in tags:
        tag = _youtube_text(" ".join(raw.replace(",", " ").split()))[:100]
        if not tag or tag.lower() in seen:
            continue
        cost = len(tag) + (2 if " " in tag else 0) + (1 if kept else 0)
        if used + cost > TAGS_LIMIT:
            break
        kept.append(tag)
        seen.add(tag.lower())
        used += cost
    return kept


def _summary_text(paper: Paper, summaries: list[str]) -> str:
    if paper.description.strip():
        return paper.description.strip()
    if paper.abstract.strip():
        return paper.abstract.strip()
    parts: list[str] = []
    for summary in summaries:
        text = " ".join(summary.split())
        if text and text not in parts:
            parts.append(text)
        if sum(len(p) for p in parts) > 600:
            break
    return " ".join(parts)


def _credits(video: Video) -> list[str]:
    """Who made the pictures, and the paper's figures and tables the video shows, credited to the paper."""
    paper = video.paper
    images = list(
        Image.objects.filter(chunk__paper_id=video.paper_id, selected=True).values_list("backend", "model", "params")
    )
    makers = sorted(
        {f"{backend} ({model})" if model else backend for backend, model, _ in images if backend not in _OWN}
    )
    shown: dict[str, set[int]] = {"Figure": set(), "Table": set()}
    for backend, _, params in images:
        if backend == "figure" and params.get("figure"):
            shown["Figure"].add(int(params["figure"]))
        elif match := _SHOWS.match(str(params.get("shows", ""))):
            shown[match.group(1)].add(int(match.group(2)))
    lines = [
        "Narrated with synthetic speech"
        + (" and illustrated with generated images" if makers else "")
        + ", made with papercast."
    ]
    if makers:
        lines.append(f"Images: {', '.join(makers)}.")
    if paper.arxiv_id:
        lines.append(f"The paper: https://arxiv.org/abs/{paper.arxiv_id}")
    parts = [
        f"{kind}{'s' if len(numbers) > 1 else ''} {', '.join(str(n) for n in sorted(numbers))}"
        for kind, numbers in shown.items()
        if numbers
    ]
    if parts:
        by = f" by {', '.join(paper.authors[:3])}{' et al.' if len(paper.authors) > 3 else ''}" if paper.authors else ""
        source = f"arXiv:{paper.arxiv_id}" if paper.arxiv_id else "the paper"
        lines.append(f"{' and '.join(parts)} from “{paper.title}”{by} ({source}).")
    return lines


_OWN = frozenset({"figure", "slides", "titlecard"})  # papercast's own pictures, not an image model's
_SHOWS = re.compile(r"^(Figure|Table) (\d+)$")


def video_metadata(video: Video) -> dict[str, Any]:
    """Title, description (summary, chapters, credits), tags and settings, and the same as a YouTube body.

    `youtube` is the request body of the YouTube Data API's videos.insert (parts snippet and status), so
    an uploader can pass it through unchanged.
    """
    paper = video.paper
    project = paper.project
    summaries = [
        s for s in paper.chunks.order_by("index").values_list("summary__summary", flat=True) if isinstance(s, str) and s
    ]
    chapters = "\n".join(f"{c['timestamp']} {c['title']}" for c in video.chapters or [])
    sections = [_summary_text(paper, summaries)]
    if chapters:
        sections.append(f"Chapters:\n{chapters}")
    sections.append("\n".join(_credits(video)))
    description = _cut_bytes(_youtube_text("\n\n".join(s for s in sections if s)), DESCRIPTION_LIMIT)
    title = _youtube_text(" ".join(paper.title.split()))
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1].rstrip() + "…"
    tags = _fit_tags([t for t in project.youtube_tags.split(",") if t.strip()])
    transcription = transcription_current(paper)
    language = project.youtube_language or (transcription.language if transcription else "") or None
    metadata: dict[str, Any] = {
        "title": title,
        "description": description,
        "tags": tags,
        "category_id": project.youtube_category_id,
        "default_language": language,
        "made_for_kids": project.youtube_made_for_kids,
        "contains_synthetic_media": project.youtube_synthetic_media,
        "privacy_status": project.youtube_privacy,
    }
    snippet: dict[str, Any] = {
        "title": title,
        "description": description,
        "tags": tags,
        "categoryId": project.youtube_category_id,
    }
    if language:
        snippet["defaultLanguage"] = language
        snippet["defaultAudioLanguage"] = language
    metadata["youtube"] = {
        "snippet": snippet,
        "status": {
            "privacyStatus": project.youtube_privacy,
            "selfDeclaredMadeForKids": project.youtube_made_for_kids,
            "containsSyntheticMedia": project.youtube_synthetic_media,
        },
    }
    return metadata
