"""Publishing one video, and the polling loop: claim, download, upload, thumbnail, caption, playlist, report.

Exactly once: the journal (uploader/journal.py) records the lease, the resumable session (before any byte is
sent), the bytes YouTube acknowledged and the YouTube id. A video whose journal has a session or an id is
never given a second videos.insert: the session is resumed, or the id is reported (`published` is idempotent).
While the upload runs the lease is renewed whenever less than a third of it is left; a lease that is lost
(another uploader holds the video now) stops the upload without releasing anything, and the journal stays so
this machine can finish the same session after claiming the video again.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from datetime import time as day_time
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from uploader.config import Settings
from uploader.journal import (
    PUBLISHED,
    STEPS,
    STUCK,
    UPLOADED,
    UPLOADING,
    Journal,
    JournalStore,
    write_private,
)
from uploader.lease import Lease, LeaseLost
from uploader.papercast import Claim, DownloadError, Papercast, PapercastError, PapercastUnavailable
from uploader.progress import Progress
from uploader.youtube import AuthRejected, Backoff, QuotaExceeded, SessionGone, YouTube, YouTubeError

log = logging.getLogger("uploader")

FIRST_FAILURE_DELAY = 300.0
MAX_FAILURE_DELAY = 6 * 3600.0


class Outcome(StrEnum):
    PUBLISHED = "published"
    SKIPPED = "skipped"  # someone else holds it, it is not approved, or someone else published it
    FAILED = "failed"  # reported `failed` to papercast (or could not even do that)
    LEASE_LOST = "lease_lost"  # another uploader holds the video now; the journal is kept
    STOPPED = "stopped"  # a stop was asked for; the journal and the lease are kept
    STUCK = "stuck"  # a person must look (see the journal's error)


class StopFlag:
    """Set when a stop is asked for. Unlike threading.Event, set() takes no lock, so a signal handler may call
    it at any moment (an Event's lock, held by the interrupted main thread, would deadlock the handler)."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not self._set and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.25))
        return self._set


class Stop(Exception):
    """A stop was asked for (SIGTERM, Ctrl-C): the upload stops between two chunks and can be resumed."""


class QuotaPause(Exception):
    """YouTube's quota (or the channel's upload limit) is used up until `until`."""

    def __init__(self, message: str, until: datetime, reason: str) -> None:
        super().__init__(message)
        self.until = until
        self.reason = reason


class NeedsLogin(Exception):
    """YouTube refused the credentials: `python -m uploader login` must be run again."""


def _pacific() -> Any:
    try:
        return ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:
        # Without tz data, Pacific Standard Time: an hour late in summer, never early.
        return timezone(timedelta(hours=-8))


def quota_resets_at(now: datetime) -> datetime:
    """The next midnight in Pacific time, when Google resets the daily quota (a minute after, to be safe)."""
    pacific = _pacific()
    local = now.astimezone(pacific)
    midnight = datetime.combine(local.date() + timedelta(days=1), day_time(0), tzinfo=pacific)
    return midnight.astimezone(UTC) + timedelta(minutes=1)


def link_expires_soon(link: dict[str, Any], now: datetime | None = None) -> bool:
    """A presigned download link (`expires_at` set) that has run out or will within a minute."""
    try:
        expires = datetime.fromisoformat(str(link.get("expires_at") or ""))
    except ValueError:
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires <= (now or datetime.now(UTC)) + timedelta(minutes=1)


class Publisher:
    def __init__(
        self,
        settings: Settings,
        *,
        api: Papercast | None = None,
        youtube: YouTube | None = None,
        stop: StopFlag | threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.api = api or Papercast(
            settings.papercast_url, settings.papercast_token, retry_seconds=settings.retry_seconds
        )
        self.youtube = youtube or YouTube(
            settings.token_file,
            settings.youtube_access_token,
            settings.youtube_endpoint,
            Backoff(max_retries=settings.max_retries, base=settings.retry_seconds),
        )
        self.journals = JournalStore(settings.journal_dir)
        self.stop: StopFlag | threading.Event = stop or StopFlag()
        self.clock = clock
        self.stream = stream
        self.failures: dict[int, tuple[int, float]] = {}  # video -> (failures, not before) in this process
        self.noted: set[int] = set()  # videos papercast lists that a journal says to leave alone, logged once

    # --- one video ------------------------------------------------------------------------------------------

    def publish(self, video: int) -> Outcome:
        """Take one video from approved to published (or report why not). Idempotent per the journal.

        Raises QuotaPause (the video was reported failed; nothing can be uploaded until the quota resets),
        NeedsLogin (the video was reported failed; the credentials must be renewed) and PapercastError with
        `token_refused` (papercast does not take the API token; nothing was done).
        """
        journal = self.journals.load(video) or Journal(video=video, papercast_url=self.settings.papercast_url)
        if not self._ours(journal):
            # Another papercast's video of the same number: its session or YouTube id must not be taken for this one.
            log.error(
                "Video %d: the journal %s is of the papercast at %s, not %s. Give each papercast its own "
                "UPLOADER_STATE_DIR (if it is the same papercast at a new address, correct papercast_url there).",
                video, self.journals.path(video), journal.papercast_url, self.settings.papercast_url,
            )  # fmt: skip
            return Outcome.STUCK
        if journal.state == PUBLISHED:
            log.info("Video %d is published already as YouTube %s.", video, journal.youtube_id)
            return Outcome.PUBLISHED
        if journal.state == STUCK:
            log.error("Video %d needs a person: %s (journal %s).", video, journal.error, self.journals.path(video))
            return Outcome.STUCK
        taken = self._acquire(journal)
        if isinstance(taken, Outcome):
            return taken
        journal.lease, journal.error = taken.id, None
        self.journals.save(journal)
        return self._publish_or_report(journal, taken)

    def _ours(self, journal: Journal) -> bool:
        """The journal is of the papercast these settings name (one that names none counts as ours)."""
        return not journal.papercast_url or journal.papercast_url == self.settings.papercast_url

    def _publish_or_report(self, journal: Journal, lease: Lease) -> Outcome:
        video = journal.video
        try:
            return self._publish(journal, lease)
        except Stop:
            log.warning(
                "Video %d: stopped at %d bytes; the next start resumes the same upload (journal %s).",
                video, journal.bytes_sent, self.journals.path(video),
            )  # fmt: skip
            return Outcome.STOPPED
        except LeaseLost as exc:
            journal.error = str(exc)
            self.journals.save(journal)
            log.error("%s. Stopped; the journal is kept so this machine can finish after claiming it again.", exc)
            return Outcome.LEASE_LOST
        except QuotaExceeded as exc:
            until = quota_resets_at(datetime.now(UTC))
            self._fail(journal, lease, f"YouTube {exc.reason}: {exc}")
            raise QuotaPause(
                f"YouTube's {exc.reason}: nothing more can be uploaded until the quota resets at "
                f"{until.astimezone(_pacific()):%Y-%m-%d %H:%M %Z} ({until:%Y-%m-%d %H:%M} UTC).",
                until,
                exc.reason,
            ) from exc
        except AuthRejected as exc:
            self._fail(journal, lease, f"YouTube refused the uploader's credentials ({exc.reason or exc.status})")
            raise NeedsLogin(str(exc)) from exc
        except SessionGone as exc:
            journal.state = STUCK
            self._fail(
                journal,
                lease,
                f"{exc} Check the channel for the video; to upload it again, delete {self.journals.path(video)}.",
            )
            return Outcome.STUCK
        except (YouTubeError, DownloadError, PapercastUnavailable) as exc:
            self._fail(journal, lease, str(exc))
            return Outcome.FAILED
        except PapercastError as exc:
            if exc.token_refused:
                raise
            return self._refused(journal, exc)

    def _refused(self, journal: Journal, exc: PapercastError) -> Outcome:
        """papercast refused a step: this video's failure, not the whole pass's. Nothing is reported `failed`:
        papercast gave its reason already, and a lease this uploader may still hold runs out on its own."""
        if journal.state == STUCK:  # papercast will not record the YouTube id (the journal's error says why)
            log.error("Video %d needs a person: %s", journal.video, journal.error)
            return Outcome.STUCK
        # E.g. claiming the video again once the lease ran out, and it is no longer approved.
        journal.error = str(exc)
        self.journals.save(journal)
        log.error("Video %d: %s", journal.video, exc)
        self._later(journal.video)
        return Outcome.FAILED

    def _acquire(self, journal: Journal) -> Lease | Outcome:
        """The video's lease: our journal's renewed (after a restart, while it still holds), else a new claim."""
        video = journal.video

        def changed(lease_id: str) -> None:
            journal.lease = lease_id
            self.journals.save(journal)

        try:
            claim = self._claim(journal)
        except PapercastError as exc:
            if exc.token_refused:
                raise
            if exc.code == "lease_held":
                who = exc.body.get("holder") or "another uploader"
                log.info("Video %d: %s holds it until %s; leaving it.", video, who, exc.body.get("expires_at"))
                return Outcome.SKIPPED
            if exc.code == "already_published":
                return self._published_elsewhere(journal)
            log.error("Video %d: papercast refused the claim: %s", video, exc)
            if journal.lease and not journal.started_upload:
                # Nothing is on YouTube: forget the stale lease, or every pass would try it again.
                journal.lease, journal.error = None, str(exc)
                self.journals.save(journal)
            self._later(video)
            return Outcome.SKIPPED
        except PapercastUnavailable as exc:
            log.warning("Video %d: could not claim it (%s); trying on the next pass.", video, exc)
            return Outcome.SKIPPED
        log.info("Video %d: claimed (lease %s until %s).", video, claim.lease, claim.expires_at)
        return Lease(self.api, video, claim, seconds=self.settings.lease_seconds, clock=self.clock, on_change=changed)

    def _claim(self, journal: Journal) -> Claim:
        seconds = self.settings.lease_seconds
        if journal.lease:
            try:
                claim = self.api.renew(journal.video, journal.lease, seconds)
            except PapercastError as exc:
                if exc.code not in ("lease_expired", "not_lease_holder"):
                    raise
            else:
                if claim.lease == journal.lease:
                    return claim
                # Claimed by another uploader as ours was renewed (see Lease.renew): its lease, not ours.
                held = claim.video.get("lease") or {}
                body = {"holder": held.get("holder"), "expires_at": held.get("expires_at") or claim.expires_at}
                raise PapercastError(409, "lease_held", "another uploader claimed the video", body)
        return self.api.claim(journal.video, seconds)

    def _published_elsewhere(self, journal: Journal) -> Outcome:
        recorded = self.api.video(journal.video).get("youtube_id") or ""
        if journal.youtube_id and recorded == journal.youtube_id:
            journal.state, journal.lease = PUBLISHED, None
            self.journals.save(journal)
            log.info("Video %d is published as YouTube %s.", journal.video, recorded)
            return Outcome.PUBLISHED
        if journal.started_upload:
            journal.state = STUCK
            # Not the session's URI: whoever holds it can upload into the session, and this goes to the log.
            uploaded = f"as {journal.youtube_id}" if journal.youtube_id else "at least in part, in an upload session"
            journal.error = (
                f"papercast records YouTube id {recorded}, but this uploader uploaded it too ({uploaded}): check "
                "the channel for a duplicate."
            )
            self.journals.save(journal)
            log.error("Video %d: %s", journal.video, journal.error)
            return Outcome.STUCK
        log.info("Video %d was published by someone else (YouTube %s).", journal.video, recorded)
        return Outcome.SKIPPED

    def _publish(self, journal: Journal, lease: Lease) -> Outcome:
        details = lease.details
        if not journal.youtube_id:
            path = self._download_video(details, journal, lease)
            self._upload(details, journal, lease, path)
        after = self._steps(details, journal, lease)
        lease.keep_alive()
        self._report_published(journal, lease)
        shutil.rmtree(self._files(journal.video), ignore_errors=True)
        for step, result in journal.partial_failures.items():
            log.warning("Video %d is published, but its %s was not added: %s", journal.video, step, result)
        if after is not None:
            raise after
        return Outcome.PUBLISHED

    def _files(self, video: int) -> Path:
        return self.settings.download_dir / str(int(video))

    def _link(self, details: dict[str, Any], kind: str, lease: Lease) -> dict[str, Any] | None:
        """The download link of `kind` (video, srt, vtt, thumbnail). A presigned one (S3) works for minutes only
        (AWS_QUERYSTRING_EXPIRE, 600 s by default), less than a long upload takes: one that has run out, or
        is about to, is asked for again (and `details` updated with the fresh links)."""
        link = (details.get("files") or {}).get(kind)
        if link and link_expires_soon(link):
            log.debug("Video %d: the %s link has run out; asking papercast for fresh links.", lease.video, kind)
            details.update(self.api.video(lease.video))
            link = (details.get("files") or {}).get(kind)
        return dict(link) if link else None

    def _download(self, lease: Lease, link: dict[str, Any], name: str, sha256: str | None = None) -> Path:
        progress = Progress(f"Video {lease.video} download {name}", stream=self.stream)

        def step(done: int, total: int | None) -> None:
            self._check_stop()
            lease.keep_alive()
            progress.update(done, total)

        try:
            return self.api.download(link, self._files(lease.video) / name, sha256=sha256, on_progress=step)
        finally:
            progress.close()

    def _download_video(self, details: dict[str, Any], journal: Journal, lease: Lease) -> Path:
        sha256 = details.get("file_sha256")
        if journal.file_sha256 and sha256 and sha256 != journal.file_sha256:
            if journal.session_uri:
                # The session holds bytes of the earlier file: resuming it with this one would corrupt the video.
                raise SessionGone(
                    f"papercast's MP4 changed (sha256 {sha256}) since its upload began ({journal.file_sha256})."
                )
            journal.file_sha256 = None  # downloaded, never sent: upload the new file
        link = self._link(details, "video", lease)
        if not link:
            raise DownloadError(f"papercast lists no MP4 for video {journal.video}.")
        path = self._download(lease, link, "video.mp4", sha256 or journal.file_sha256)
        journal.file_sha256 = sha256 or journal.file_sha256
        journal.file_size = path.stat().st_size
        self.journals.save(journal)
        return path

    def _upload(self, details: dict[str, Any], journal: Journal, lease: Lease, path: Path) -> None:
        body = (details.get("metadata") or {}).get("youtube")
        if not body:
            raise DownloadError(f"papercast gave no YouTube metadata for video {journal.video}.")
        progress = Progress(f"Video {journal.video} upload", stream=self.stream)

        def on_session(uri: str) -> None:
            journal.session_uri, journal.state, journal.bytes_sent = uri, UPLOADING, 0
            self.journals.save(journal)
            log.info("Video %d: upload session started (journal %s).", journal.video, self.journals.path(journal.video))

        def on_progress(done: int, total: int) -> None:
            journal.bytes_sent = done
            self.journals.save(journal)
            progress.update(done, total)

        def before_chunk() -> None:
            self._check_stop()
            lease.keep_alive()

        # Where this run starts (a resumed session: about where YouTube last said it was), so the first chunk's
        # report is not taken for a resumption, and the rate counts it.
        progress.update(journal.bytes_sent if journal.session_uri else 0, path.stat().st_size)
        try:
            video = self.youtube.upload(
                path,
                body,
                chunk_bytes=self.settings.chunk_bytes,
                session_uri=journal.session_uri,
                on_session=on_session,
                on_progress=on_progress,
                before_chunk=before_chunk,
            )
        finally:
            progress.close()
            self.youtube.persist()
        journal.youtube_id, journal.state = str(video["id"]), UPLOADED
        self.journals.save(journal)
        log.info("Video %d is on YouTube as %s.", journal.video, journal.youtube_id)

    def _steps(self, details: dict[str, Any], journal: Journal, lease: Lease) -> Exception | None:
        """Thumbnail, caption track, playlist: each done once (the journal says which are). A refusal is a
        partial failure, recorded and reported but not stopping the publication; one that means the quota or
        the credentials are gone is returned, to be raised once papercast knows the video is published."""
        after: Exception | None = None
        for step in STEPS:
            if journal.steps.get(step) is not None:
                continue
            self._check_stop()
            lease.keep_alive()
            try:
                journal.steps[step] = self._step(step, details, journal, lease)
            except YouTubeError as exc:
                journal.steps[step] = f"failed: {exc}"
                if isinstance(exc, QuotaExceeded) and after is None:
                    until = quota_resets_at(datetime.now(UTC))
                    after = QuotaPause(f"YouTube's {exc.reason} while adding the {step}.", until, exc.reason)
                elif isinstance(exc, AuthRejected) and exc.status != 403 and after is None:
                    # 401, or a refresh token Google no longer takes (no status); a 403 `forbidden` here is the
                    # channel's (custom thumbnails need a verified one): a partial failure only.
                    after = NeedsLogin(str(exc))
            except DownloadError as exc:
                journal.steps[step] = f"failed: {exc}"
            self.journals.save(journal)
            log.info("Video %d: %s %s.", journal.video, step, journal.steps[step])
        self.youtube.persist()
        return after

    def _step(self, step: str, details: dict[str, Any], journal: Journal, lease: Lease) -> str:
        do = {"thumbnail": self._thumbnail, "caption": self._caption, "playlist": self._playlist}[step]
        return do(details, str(journal.youtube_id), lease)

    def _thumbnail(self, details: dict[str, Any], youtube_id: str, lease: Lease) -> str:
        link = self._link(details, "thumbnail", lease)
        if not link:
            return "skipped: papercast has no thumbnail for the video"
        self.youtube.set_thumbnail(youtube_id, self._download(lease, link, "thumbnail.jpg"))
        return "done"

    def _caption(self, details: dict[str, Any], youtube_id: str, lease: Lease) -> str:
        files = details.get("files") or {}
        kind = "srt" if files.get("srt") else "vtt"
        if not files.get(kind):
            return "skipped: papercast has no captions for the video"
        caption = (details.get("metadata") or {}).get("caption") or {}
        if not caption.get("language"):
            return "skipped: no caption language is known (set the project's YouTube language)"
        link = self._link(details, kind, lease)
        if not link:
            return "skipped: papercast has no captions for the video"
        path = self._download(lease, link, f"captions.{kind}")
        try:
            self.youtube.insert_caption(
                youtube_id, path, language=str(caption["language"]), name=str(caption.get("name") or "Narration")
            )
        except YouTubeError as exc:
            # A retried insert whose first answer was lost (or a crash before the journal said "done"):
            # YouTube has the track already, and this is the only way to learn it without a captions.list.
            if exc.reason != "captionExists":
                raise
        return "done"

    def _playlist(self, details: dict[str, Any], youtube_id: str, lease: Lease) -> str:
        if not self.settings.playlist:
            return "skipped: no playlist set"
        self.youtube.add_to_playlist(youtube_id, self.settings.playlist)
        return "done"

    def _report_published(self, journal: Journal, lease: Lease) -> None:
        youtube_id = str(journal.youtube_id)
        try:
            self.api.published(journal.video, youtube_id, lease.id)
        except PapercastError as exc:
            if exc.code == "lease_expired":
                lease.reclaim()
                self.api.published(journal.video, youtube_id, lease.id)
            elif exc.code in ("not_lease_holder", "lease_held"):
                raise LeaseLost(f"Video {journal.video}: cannot report YouTube {youtube_id}: {exc.detail}") from exc
            else:
                journal.state = STUCK
                journal.error = f"papercast refused YouTube id {youtube_id}: {exc.code}: {exc.detail}"
                self.journals.save(journal)
                raise
        journal.state, journal.lease = PUBLISHED, None
        self.journals.save(journal)
        log.info("Video %d: papercast records it as published (YouTube %s).", journal.video, youtube_id)

    def _fail(self, journal: Journal, lease: Lease, reason: str) -> None:
        """Report the failure with our lease (which releases it) and keep the journal: a session in it is
        resumed after the video is claimed again.

        Not once the video is on YouTube (the journal has its id; e.g. papercast could not be reached to record
        it): released, the video could be claimed by another uploader and uploaded a second time. The lease is
        kept, and the next pass renews it (or claims the video again) and reports the id."""
        if journal.youtube_id:
            log.error(
                "Video %d is on YouTube as %s but not recorded by papercast yet (%s); keeping the lease and "
                "trying again on the next pass.", journal.video, journal.youtube_id, reason,
            )  # fmt: skip
            journal.error = reason
            self.journals.save(journal)
            return
        log.error("Video %d failed: %s", journal.video, reason)
        kept: str | None = None
        try:
            self.api.failed(journal.video, reason, lease.id)
        except PapercastError as exc:
            log.warning("Video %d: papercast refused the failure report (%s): %s", journal.video, exc.code, exc.detail)
        except PapercastUnavailable as exc:
            # Still ours: forgotten, it would keep this uploader from its own video (lease_held) until it ran out.
            kept = lease.id
            log.warning(
                "Video %d: could not report the failure (%s); the lease is kept for the next try (or runs out).",
                journal.video, exc,
            )  # fmt: skip
        journal.lease, journal.error = kept, reason
        self.journals.save(journal)
        self._later(journal.video)

    def _later(self, video: int) -> None:
        """Leave the video alone for a while in this process (5 minutes, doubling each time, at most 6 hours)."""
        count = self.failures.get(video, (0, 0.0))[0] + 1
        delay = min(FIRST_FAILURE_DELAY * 2 ** (count - 1), MAX_FAILURE_DELAY)
        self.failures[video] = (count, self.clock() + delay)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stop()

    # --- the loop -------------------------------------------------------------------------------------------

    @property
    def quota_file(self) -> Path:
        return self.settings.state_dir / "quota.json"

    def quota_pause(self) -> dict[str, Any] | None:
        """The quota pause in force ({"until", "reason"}), if any."""
        try:
            pause = json.loads(self.quota_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        until = datetime.fromisoformat(pause["until"])
        return pause if until > datetime.now(UTC) else None

    def pause_for_quota(self, exc: QuotaPause) -> None:
        write_private(self.quota_file, json.dumps({"until": exc.until.isoformat(), "reason": exc.reason}) + "\n")

    def candidates(self) -> list[int]:
        """Videos to work on: our own unfinished uploads first (their lease may still hold, so the API does not
        list them as available), then what the API lists as approved, unpublished and available."""
        found: list[int] = []
        leave: set[int] = set()
        journals = {journal.video: journal for journal in self.journals.all()}
        for journal in journals.values():
            if journal.state in (STUCK, PUBLISHED) or not self._ours(journal):
                leave.add(journal.video)
            elif journal.started_upload or journal.lease:
                found.append(journal.video)
        for video in self.api.ready():
            number = int(video["id"])
            if number in leave:
                self._left_alone(journals[number])
            elif number not in found:
                found.append(number)
        now = self.clock()
        return [v for v in found if self.failures.get(v, (0, 0.0))[1] <= now]

    def _left_alone(self, journal: Journal) -> None:
        """Say once (not every pass) why a video papercast lists as ready is left alone."""
        if journal.video in self.noted:
            return
        self.noted.add(journal.video)
        path = self.journals.path(journal.video)
        if not self._ours(journal):
            log.error(
                "Video %d: left alone, the journal %s is of the papercast at %s. Give each papercast its own "
                "UPLOADER_STATE_DIR.", journal.video, path, journal.papercast_url,
            )  # fmt: skip
        elif journal.state == PUBLISHED:
            log.warning(
                "Video %d: papercast lists it as unpublished, but the journal %s says it is published as YouTube "
                "%s. Delete that journal to upload it again.", journal.video, path, journal.youtube_id,
            )  # fmt: skip
        else:
            log.warning("Video %d needs a person: %s (journal %s).", journal.video, journal.error, path)

    def run_pass(self) -> bool:
        """One pass over the candidates; whether any was worked on (not just skipped)."""
        worked = False
        for video in self.candidates():
            if self.stop.is_set():
                break
            outcome = self.publish(video)
            worked = worked or outcome not in (Outcome.SKIPPED, Outcome.STUCK)
        return worked

    def run(self, *, exit_when_idle: bool = False) -> int:
        """Poll every `interval` seconds until stopped. 0: stopped (or idle, with `exit_when_idle`); 1: papercast
        could not be asked (only with `exit_when_idle`; else it tries again); 2: the YouTube credentials must be
        renewed, or papercast refuses the API token; 3: the quota is used up (only with `exit_when_idle`; else
        it waits)."""
        log.info("Polling %s every %g s (state in %s).", self.settings.papercast_url, self.settings.interval,
                 self.settings.state_dir)  # fmt: skip
        while not self.stop.is_set():
            pause = self.quota_pause()
            if pause is not None:
                until = datetime.fromisoformat(pause["until"])
                message = (
                    f"YouTube's {pause['reason']}: waiting until {until:%Y-%m-%d %H:%M} UTC, when the quota resets."
                )
                if exit_when_idle:
                    log.error(message)
                    return 3
                log.warning(message)
                self.stop.wait(max((until - datetime.now(UTC)).total_seconds(), 1.0))
                continue
            try:
                worked = self.run_pass()
            except QuotaPause as exc:
                log.error("%s", exc)
                self.pause_for_quota(exc)
                continue
            except NeedsLogin as exc:
                log.error("%s", exc)
                return 2
            except (PapercastUnavailable, PapercastError) as exc:
                if isinstance(exc, PapercastError) and exc.token_refused:
                    log.error("%s", exc)
                    return 2
                if exit_when_idle:  # not idle: papercast could not say what there is to publish
                    log.error("%s", exc)
                    return 1
                log.warning("%s; trying again in %g s.", exc, self.settings.interval)
                worked = False
            if exit_when_idle and not worked:
                log.info("Nothing (more) to publish.")
                return 0
            self.stop.wait(self.settings.interval)
        log.info("Stopped.")
        return 0
