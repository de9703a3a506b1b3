"""Publishing to YouTube: what an uploader is told about a video, and the lease protocol uploaders follow.

An uploader program lists approved, unpublished videos, claims one (a lease with an expiry), downloads and
uploads it, then reports `published` (with the YouTube id) or `failed` (with a reason). Several uploaders
may run at once and any of them may crash mid-upload:

- A claim is one conditional UPDATE (approved, unpublished, and no lease or an expired one), so of two
  uploaders claiming at the same moment exactly one wins, on SQLite and on PostgreSQL alike; the other
  gets LeaseHeld. A crashed uploader's lease simply expires and the video can be claimed again.
- Only the holder of the video's live lease reports `published`, so an uploader that never claimed the video
  or whose lease ran out cannot record (or race) an upload; it is idempotent: the same YouTube id again
  changes nothing, whoever sends it; a different one is refused.
- `failed` releases the lease (the one the caller names, or without a name its account's: how an uploader
  that lost its lease id gives its claim back) and keeps the reason.
- Every refusal is a PublishingError subclass whose `code` the API answers with.

Every step is recorded as an UploadEvent with who did it.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
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
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")  # what YouTube's video ids are: 11 letters, digits, - or _
CAPTION_NAME = "Narration"  # the caption track's name viewers see in YouTube's captions menu


class PublishingError(Exception):
    """A publishing step refused in the video's current state (HTTP 409): the message says why, `code` which case.

    `holder` and `expires_at` name the lease that holds the video now, when one does.
    """

    code = "conflict"

    def __init__(self, message: str, *, holder: str | None = None, expires_at: datetime | None = None) -> None:
        super().__init__(message)
        self.holder = holder
        self.expires_at = expires_at


class LeaseHeld(PublishingError):
    """Another uploader's lease holds the video (`holder`, until `expires_at`): try another video or later."""

    code = "lease_held"


class NotLeaseHolder(PublishingError):
    """The caller does not hold the video's lease: it names a lease that is not the current one (another uploader
    claimed the video since, or the lease was released), or names none and its account holds none."""

    code = "not_lease_holder"


class LeaseExpired(PublishingError):
    """The caller's lease ran out (nobody has claimed the video since): claim it again, then report."""

    code = "lease_expired"


class AlreadyPublished(PublishingError):
    """The video is published already (under another YouTube id, for `published`)."""

    code = "already_published"


class NotApproved(PublishingError):
    """The video is not approved for publishing."""

    code = "not_approved"


class YouTubeIdTaken(PublishingError):
    """The YouTube id is recorded for another video."""

    code = "youtube_id_taken"


# Which refusals each step can answer with, for the API's schema.
CLAIM_CONFLICTS: tuple[type[PublishingError], ...] = (
    LeaseHeld,
    NotLeaseHolder,
    LeaseExpired,
    AlreadyPublished,
    NotApproved,
)
PUBLISH_CONFLICTS: tuple[type[PublishingError], ...] = (NotLeaseHolder, LeaseExpired, AlreadyPublished, YouTubeIdTaken)
FAIL_CONFLICTS: tuple[type[PublishingError], ...] = (NotLeaseHolder, AlreadyPublished)


def video_status(video: Video) -> str:
    """unapproved -> approved -> published (a video is approved while its paper's approval points at it)."""
    if video.youtube_id:
        return "published"
    if video.approved_at is not None:
        return "approved"
    return "unapproved"


def lease_active(video: Video, now: datetime | None = None) -> bool:
    return bool(video.lease_id and video.lease_expires_at and video.lease_expires_at > (now or timezone.now()))


def _held_by(video: Video, now: datetime) -> dict[str, Any]:
    """The `holder` and `expires_at` of a refusal: the lease that holds the video now, if any."""
    if not lease_active(video, now):
        return {}
    return {
        "holder": video.lease_holder.get_username() if video.lease_holder else None,
        "expires_at": video.lease_expires_at,
    }


def _not_holder(video: Video, now: datetime, why: str) -> NotLeaseHolder:
    held = _held_by(video, now)
    if held:
        until = held["expires_at"].isoformat()
        why += f" Video {video.pk} is being uploaded by {held['holder'] or 'another uploader'} (lease until {until})."
    else:
        why += f" No lease holds video {video.pk} now."
    return NotLeaseHolder(why, **held)


def _lease_seconds(seconds: int | None) -> int:
    if seconds is None:
        return int(settings.PAPERCAST_UPLOAD_LEASE_SECONDS)
    return max(60, min(int(seconds), int(settings.PAPERCAST_UPLOAD_LEASE_MAX_SECONDS)))


def _event(video: Video, kind: str, user: User | None, lease: uuid.UUID | None, detail: str = "") -> None:
    UploadEvent.objects.create(video=video, kind=kind, user=user, lease_id=lease, detail=detail[:5000])


def video_claim(video: Video, *, user: User, seconds: int | None = None, lease: uuid.UUID | None = None) -> Video:
    """Lease the video to the caller for `seconds` (default PAPERCAST_UPLOAD_LEASE_SECONDS).

    With `lease` (the id a previous claim returned) the caller's own lease is renewed instead, while it still
    holds (LeaseExpired once it ran out, NotLeaseHolder once it was replaced or released). Not idempotent for a
    new claim (each success is a new lease); raises LeaseHeld while someone else's lease holds, NotApproved
    or AlreadyPublished for a video that is not approved or is published already.
    """
    now = timezone.now()
    expires = now + timedelta(seconds=_lease_seconds(seconds))
    if lease is not None:
        # The renewal, the video as it then is and the event in one transaction: the answer names the lease
        # that was renewed, never one a claim made a moment later.
        with transaction.atomic():
            renewed = Video.objects.filter(pk=video.pk, lease_id=lease, lease_expires_at__gt=now, youtube_id="").update(
                lease_expires_at=expires
            )
            video.refresh_from_db()
            if renewed:
                _event(video, UploadEventKind.RENEWED, user, lease)
        if not renewed:
            if video.youtube_id:
                raise AlreadyPublished(f"Video {video.pk} is published already (YouTube id {video.youtube_id}).")
            if video.lease_id == lease:
                raise LeaseExpired(f"Lease {lease} on video {video.pk} ran out. Claim the video again.")
            raise _not_holder(video, now, f"Lease {lease} does not hold video {video.pk} any more.")
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
        raise AlreadyPublished(f"Video {video.pk} is published already (YouTube id {video.youtube_id}).")
    if video.approved_at is None:
        raise NotApproved(f"Video {video.pk} is not approved for publishing.")
    held = _held_by(video, now)
    until = video.lease_expires_at.isoformat() if video.lease_expires_at else "?"
    holder = held.get("holder") or "another uploader"
    raise LeaseHeld(f"Video {video.pk} is being uploaded by {holder} (lease until {until}).", **held)


def video_publish(video: Video, *, user: User, youtube_id: str, lease: uuid.UUID | None = None) -> tuple[Video, bool]:
    """Record that the video is on YouTube as `youtube_id`; the paper's curation becomes published.

    Returns the video and whether anything changed. Idempotent: the same id again changes nothing, whoever
    sends it. Only the holder of the video's live lease records a new id: the lease named by `lease`, or,
    without one, a lease the caller's account holds (uploaders sharing an account must name theirs). A lease
    that ran out raises LeaseExpired (claim again, then report), another lease or none NotLeaseHolder, a
    different id AlreadyPublished, an id recorded for another video YouTubeIdTaken. Approval is checked
    when the video is claimed: one withdrawn while its holder uploaded does not stop what is on YouTube
    from being recorded.
    """
    if not YOUTUBE_ID.match(youtube_id):
        raise ValueError("A YouTube video id is 11 letters, digits, '-' or '_' (as in youtu.be/dQw4w9WgXcQ).")
    now = timezone.now()
    # One conditional UPDATE: a lease that runs out or is replaced meanwhile cannot publish.
    holds = Q(lease_id=lease) if lease is not None else Q(lease_id__isnull=False, lease_holder=user)
    try:
        with transaction.atomic():
            published = (
                Video.objects.filter(pk=video.pk, youtube_id="", lease_expires_at__gt=now)
                .filter(holds)
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
        raise YouTubeIdTaken(f"YouTube id {youtube_id} is recorded for video {other} already.") from None
    video.refresh_from_db()
    if published:
        return video, True
    if video.youtube_id == youtube_id:
        return video, False
    if video.youtube_id:
        raise AlreadyPublished(f"Video {video.pk} is published already as YouTube id {video.youtube_id}.")
    if lease is not None and video.lease_id == lease:
        raise LeaseExpired(f"Lease {lease} on video {video.pk} ran out. Claim the video again, then report.")
    if lease is None and video.lease_id and video.lease_holder_id == user.pk and not lease_active(video, now):
        raise LeaseExpired(f"Your lease on video {video.pk} ran out. Claim the video again, then report.")
    named = f"Lease {lease} does not hold video {video.pk}." if lease else "You hold no lease on the video."
    raise _not_holder(video, now, named)


def video_fail(video: Video, *, user: User, reason: str, lease: uuid.UUID | None = None) -> Video:
    """Record a failed upload with its reason and release the lease, so the video can be claimed again.

    Only the video's lease is released: the one named by `lease`, or, without one, a lease the caller's
    account holds (how an uploader that lost its lease id gives its claim back). A lease that ran out but that
    nobody replaced still counts: releasing it takes nobody's claim, and the reason is kept. Anything else
    raises NotLeaseHolder (a newer lease, someone else's, or none at all), or AlreadyPublished. Not
    idempotent: each call is one failure.
    """
    reason = " ".join(reason.split())[:5000]
    if not reason:
        raise ValueError("Say why the upload failed.")
    now = timezone.now()
    target = Video.objects.filter(pk=video.pk, youtube_id="")
    mine = Q(lease_id=lease) if lease is not None else Q(lease_id__isnull=False, lease_holder=user)
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
        raise AlreadyPublished(f"Video {video.pk} is published already (YouTube id {video.youtube_id}).")
    named = f"Lease {lease} does not hold video {video.pk}." if lease else "You hold no lease on the video."
    raise _not_holder(video, now, named)


# --- What the uploader sends to YouTube ---------------------------------------------------------------------


def _youtube_text(text: str) -> str:
    # The YouTube Data API refuses '<' and '>' in titles and descriptions.
    return text.replace("<", "‹").replace(">", "›")


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore").rstrip() + "…"


def _cut_words(text: str, limit: int) -> str:
    """The text within `limit` bytes of UTF-8, cut after a sentence or else a word (or a CJK character), with
    an ellipsis when cut."""
    if len(text.encode("utf-8")) <= limit:
        return text
    if limit < 8:
        return ""
    head = text.encode("utf-8")[: limit - len("…".encode())].decode("utf-8", "ignore")
    sentence = max(head.rfind(". "), head.rfind("。"), head.rfind("? "), head.rfind("! "))
    if sentence >= len(head) * 0.6:
        return head[: sentence + 1]
    space = head.rfind(" ")
    if space >= len(head) * 0.6:
        head = head[:space]
    return head.rstrip(" ,;:") + "…"


def _description(summary: str, chapters: list[str], credits: list[str]) -> str:
    """Summary, chapters and credits within YouTube's 5,000 bytes. The summary is what gives way: the chapters
    (YouTube's chapter markers) and the credits (the synthetic-media disclosure) stay whole. Only chapters
    that could not fit even with no summary are dropped, from the last, and all of them when fewer than
    three would remain (YouTube ignores fewer)."""
    credit = _youtube_text("\n".join(credits))
    summary = _youtube_text(summary)
    lines = [_youtube_text(line) for line in chapters]

    def tail(kept: list[str]) -> str:
        parts = ["Chapters:\n" + "\n".join(kept)] if kept else []
        return "\n\n".join([*parts, credit] if credit else parts)

    whole = len(lines)
    while lines and len(tail(lines).encode("utf-8")) > DESCRIPTION_LIMIT - 200:
        lines.pop()
    if len(lines) < min(3, whole):
        lines = []
    end = tail(lines)
    room = DESCRIPTION_LIMIT - len(end.encode("utf-8")) - (2 if end else 0)
    text = "\n\n".join(part for part in (_cut_words(summary, room), end) if part)
    return _cut_bytes(text, DESCRIPTION_LIMIT)  # only a credit line over 4,800 bytes could need it


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
    description = _description(
        _summary_text(paper, summaries),
        [f"{c['timestamp']} {c['title']}" for c in video.chapters or []],
        _credits(video),
    )
    title = _youtube_text(" ".join(paper.title.split()))
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1].rstrip() + "…"
    tags = _fit_tags([t for t in project.youtube_tags.split(",") if t.strip()])
    transcription = transcription_current(paper)
    # The audio is the narration, in the language the recogniser heard; the title and description are in the
    # project's language when it sets one.
    audio_language = (transcription.language if transcription else "") or project.youtube_language or None
    language = project.youtube_language or audio_language
    # A scheduled video goes up private and YouTube makes it public at publishAt (a time already past is no
    # schedule: the video is published with the project's privacy).
    schedule = paper.publish_at if paper.publish_at and paper.publish_at > timezone.now() else None
    privacy = "private" if schedule else project.youtube_privacy
    publish_at = schedule.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if schedule else None
    metadata: dict[str, Any] = {
        "title": title,
        "description": description,
        "tags": tags,
        "category_id": project.youtube_category_id,
        "default_language": language,
        "default_audio_language": audio_language,
        "made_for_kids": project.youtube_made_for_kids,
        "contains_synthetic_media": project.youtube_synthetic_media,
        "privacy_status": privacy,
        "publish_at": publish_at,
        "caption": {"language": audio_language or "", "name": CAPTION_NAME},
    }
    snippet: dict[str, Any] = {
        "title": title,
        "description": description,
        "tags": tags,
        "categoryId": project.youtube_category_id,
    }
    if language:
        snippet["defaultLanguage"] = language
    if audio_language:
        snippet["defaultAudioLanguage"] = audio_language
    status: dict[str, Any] = {
        "privacyStatus": privacy,
        "selfDeclaredMadeForKids": project.youtube_made_for_kids,
        "containsSyntheticMedia": project.youtube_synthetic_media,
    }
    if publish_at:
        status["publishAt"] = publish_at
    metadata["youtube"] = {"snippet": snippet, "status": status}
    return metadata
