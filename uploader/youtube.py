"""YouTube, through googleapiclient's discovery client only: credentials, the resumable upload, thumbnails,
captions and playlists, and what YouTube's errors mean for the uploader.

The retry policy is the one Google documents for uploads: 500, 502, 503, 504 and connection errors are
retried with exponential backoff and jitter (a random wait up to base * 2**n seconds, at most 64 * base),
up to `max_retries` times in a row; an upload that breaks off is resumed in the same session (the client
first asks YouTube how many bytes it has), never restarted. Refusals (quota, credentials, metadata) are not
retried: they become the YouTubeError subclasses below.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google.auth.exceptions
import httplib2
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import Resource, build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest, MediaFileUpload

from uploader.journal import write_private

log = logging.getLogger("uploader")

SCOPES = ["https://www.googleapis.com/auth/youtube.upload", "https://www.googleapis.com/auth/youtube.force-ssl"]
RETRIABLE_STATUS = frozenset({500, 502, 503, 504})
# A chunk may also end in 408: httplib2 resends a request once after a connection reset, and a chunk's body
# is a stream already read, so the resend arrives empty and the upload server times it out. Ask and resume.
CHUNK_RETRIABLE_STATUS = RETRIABLE_STATUS | {408}
RETRIABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    httplib2.HttpLib2Error,
    http.client.HTTPException,  # NotConnected, IncompleteRead, BadStatusLine, ResponseNotReady, ...
    OSError,  # ConnectionError, socket.timeout, TimeoutError
    google.auth.exceptions.TransportError,
)
QUOTA_REASONS = frozenset({"quotaExceeded", "uploadLimitExceeded", "dailyLimitExceeded"})
AUTH_REASONS = frozenset({"forbidden", "unauthorized", "authError", "insufficientPermissions", "youtubeSignupRequired"})
LOGIN_AGAIN = "Run `python -m uploader login` again to authorise the uploader for the channel."


class YouTubeError(Exception):
    """Something YouTube refused or could not do; `reason` is YouTube's (e.g. quotaExceeded)."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class QuotaExceeded(YouTubeError):
    """The project's daily quota (quotaExceeded) or the channel's upload limit (uploadLimitExceeded) is used
    up: nothing more can be uploaded until the quota resets at midnight Pacific time."""


class AuthRejected(YouTubeError):
    """YouTube refused the credentials (401, 403 forbidden, a refresh token that was revoked): log in again."""


class SessionGone(YouTubeError):
    """The saved resumable session is unknown to YouTube (404/410): it expired or never finished."""


class RetriesExhausted(YouTubeError):
    """YouTube kept failing (5xx or connection errors) through every retry."""


def error_reason(exc: HttpError) -> str:
    """YouTube's reason for an error (`error.errors[0].reason`, e.g. quotaExceeded), else ''."""
    try:
        data = json.loads(exc.content.decode("utf-8"))
        errors = data["error"].get("errors") or []
        if errors and errors[0].get("reason"):
            return str(errors[0]["reason"])
        return str(data["error"].get("status") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def classify(exc: HttpError, what: str) -> YouTubeError:
    status = exc.status_code
    reason = error_reason(exc)
    message = f"YouTube refused {what}: {status} {reason or ''} {exc.reason}".replace("  ", " ").strip()
    if reason in QUOTA_REASONS:
        return QuotaExceeded(message, status=status, reason=reason)
    if status == 401 or (status == 403 and reason in AUTH_REASONS):
        return AuthRejected(f"{message}. {LOGIN_AGAIN}", status=status, reason=reason or "unauthorized")
    return YouTubeError(message, status=status, reason=reason)


@dataclass
class Backoff:
    """Google's documented upload retry policy; `sleep` and `rand` are injectable for tests."""

    max_retries: int = 10
    base: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    failures: int = field(default=0, init=False)

    def failed(self, what: str, problem: object) -> None:
        """Count a retriable failure and wait before the next try; RetriesExhausted once past max_retries."""
        self.failures += 1
        if self.failures > self.max_retries:
            raise RetriesExhausted(f"{what} failed {self.failures} times in a row; the last time: {problem}")
        wait = self.rand() * self.base * min(2**self.failures, 64)
        log.warning("%s failed (%s); retry %d of %d in %.1f s.", what, problem, self.failures, self.max_retries, wait)
        self.sleep(wait)

    def succeeded(self) -> None:
        self.failures = 0


def retrying(call: Callable[[], Any], what: str, backoff: Backoff) -> Any:
    """`call()` under the retry policy, with YouTube's refusals turned into YouTubeError subclasses."""
    while True:
        try:
            result = call()
        except HttpError as exc:
            if exc.status_code in RETRIABLE_STATUS:
                backoff.failed(what, f"HTTP {exc.status_code}")
                continue
            raise classify(exc, what) from exc
        except google.auth.exceptions.RefreshError as exc:
            raise AuthRejected(f"YouTube refused the saved credentials: {exc}. {LOGIN_AGAIN}") from exc
        except RETRIABLE_EXCEPTIONS as exc:
            backoff.failed(what, repr(exc))
            continue
        backoff.succeeded()
        return result


# --- credentials --------------------------------------------------------------------------------------------


def load_credentials(token_file: Path, access_token: str | None = None) -> Credentials:
    """The channel's credentials: an access token given outright (tests, short jobs; never refreshed) or the
    token `login` saved, refreshed when expired and saved again (0600)."""
    if access_token:
        return Credentials(token=access_token)
    if not token_file.exists():
        raise AuthRejected(f"No YouTube credentials at {token_file}. {LOGIN_AGAIN}")
    creds = Credentials.from_authorized_user_file(str(token_file), SCOPES)
    refresh_if_needed(creds, token_file)
    return creds


def refresh_if_needed(creds: Credentials, token_file: Path | None) -> None:
    if creds.valid or not creds.refresh_token:
        return
    try:
        creds.refresh(Request())
    except google.auth.exceptions.RefreshError as exc:
        raise AuthRejected(f"YouTube refused the saved credentials: {exc}. {LOGIN_AGAIN}") from exc
    if token_file is not None:
        save_credentials(creds, token_file)


def save_credentials(creds: Credentials, token_file: Path) -> None:
    write_private(token_file, creds.to_json())


def client(creds: Credentials, endpoint: str | None = None) -> Resource:
    """The YouTube Data API v3 client, from the discovery document that ships with googleapiclient."""
    return build(
        "youtube",
        "v3",
        credentials=creds,
        client_options={"api_endpoint": endpoint} if endpoint else None,
        static_discovery=True,
        cache_discovery=False,
    )


class YouTube:
    """The channel's client, rebuilt when its credentials were refreshed; the token file kept current."""

    def __init__(self, token_file: Path, access_token: str | None, endpoint: str | None, backoff: Backoff) -> None:
        self.token_file = token_file
        self.access_token = access_token
        self.endpoint = endpoint
        self.backoff = backoff
        self._creds: Credentials | None = None
        self._client: Resource | None = None
        self._saved_token: str | None = None

    def api(self) -> Resource:
        if self._creds is None or self._client is None:
            self._creds = load_credentials(self.token_file, self.access_token)
            self._client = client(self._creds, self.endpoint)
            self._saved_token = self._creds.token
        elif not self.access_token:
            refresh_if_needed(self._creds, self.token_file)
        return self._client

    def persist(self) -> None:
        """Save a token the HTTP layer refreshed on its own (after a 401) so the next start reuses it."""
        creds = self._creds
        if creds is not None and not self.access_token and creds.token != self._saved_token:
            save_credentials(creds, self.token_file)
            self._saved_token = creds.token

    # --- the video ----------------------------------------------------------------------------------------

    def upload(
        self,
        path: Path,
        body: dict[str, Any],
        *,
        chunk_bytes: int,
        session_uri: str | None,
        on_session: Callable[[str], None],
        on_progress: Callable[[int, int], None],
        before_chunk: Callable[[], None],
    ) -> dict[str, Any]:
        """Upload the MP4 with a resumable videos.insert (parts snippet,status) and return YouTube's video.

        With `session_uri` the upload resumes that session (YouTube is first asked how far it got); without,
        one session is started and handed to `on_session` before any byte of the video is sent, so a crash at
        any later point resumes it rather than starting a second upload. `before_chunk` runs before every
        request (lease renewal, stop requests: it may raise to stop the upload; the session stays resumable).
        """
        media = MediaFileUpload(str(path), mimetype="video/mp4", chunksize=chunk_bytes, resumable=True)
        request = self.api().videos().insert(part="snippet,status", body=body, media_body=media)
        if session_uri:
            request.resumable_uri = session_uri
            # googleapiclient's next_chunk, in its error state, first asks the session for its progress (an
            # empty PUT with `Content-Range: bytes */SIZE`) and carries on from the byte YouTube has.
            request._in_error_state = True
            log.info("Resuming the upload session of %s.", path.name)
        else:
            before_chunk()
            uri = retrying(lambda: start_session(request), "starting the upload", self.backoff)
            request.resumable_uri = uri
            on_session(uri)
        size = media.size()
        response: dict[str, Any] | None = None
        while response is None:
            before_chunk()
            try:
                _, response = request.next_chunk()
            except HttpError as exc:
                if exc.status_code in (404, 410):
                    raise SessionGone(
                        f"YouTube no longer knows the upload session ({exc.status_code}); it expired or was cancelled.",
                        status=exc.status_code,
                        reason=error_reason(exc),
                    ) from exc
                if exc.status_code in CHUNK_RETRIABLE_STATUS:
                    request._in_error_state = True
                    self.backoff.failed("Uploading a chunk", f"HTTP {exc.status_code}")
                    continue
                raise classify(exc, "the upload") from exc
            except google.auth.exceptions.RefreshError as exc:
                raise AuthRejected(f"YouTube refused the saved credentials: {exc}. {LOGIN_AGAIN}") from exc
            except RETRIABLE_EXCEPTIONS as exc:
                request._in_error_state = True  # ask the session where it stands before sending more
                self.backoff.failed("Uploading a chunk", repr(exc))
                continue
            self.backoff.succeeded()
            on_progress(size if response is not None else int(request.resumable_progress), size)
        return response

    def set_thumbnail(self, video_id: str, path: Path) -> None:
        media = MediaFileUpload(str(path), mimetype="image/jpeg")
        retrying(
            lambda: self.api().thumbnails().set(videoId=video_id, media_body=media).execute(),
            "setting the thumbnail",
            self.backoff,
        )

    def insert_caption(self, video_id: str, path: Path, *, language: str, name: str) -> None:
        body = {"snippet": {"videoId": video_id, "language": language, "name": name, "isDraft": False}}
        media = MediaFileUpload(str(path), mimetype="application/octet-stream")
        retrying(
            lambda: self.api().captions().insert(part="snippet", body=body, media_body=media).execute(),
            "adding the caption track",
            self.backoff,
        )

    def add_to_playlist(self, video_id: str, playlist: str) -> None:
        body = {"snippet": {"playlistId": playlist, "resourceId": {"kind": "youtube#video", "videoId": video_id}}}
        retrying(
            lambda: self.api().playlistItems().insert(part="snippet", body=body).execute(),
            "adding the video to the playlist",
            self.backoff,
        )


def start_session(request: HttpRequest) -> str:
    """Start the resumable session of `request` and return its URI, sending no byte of the media.

    This is the first step of googleapiclient's next_chunk (the same request, headers and checks), done on
    its own so the caller can journal the session before the first chunk: next_chunk would start the
    session and send a chunk in one call, and a crash between the two would leave a session nobody knows of.
    """
    media = request.resumable
    headers = dict(request.headers)
    headers["X-Upload-Content-Type"] = media.mimetype()
    headers["X-Upload-Content-Length"] = str(media.size())
    headers["content-length"] = str(request.body_size)
    resp, content = request.http.request(request.uri, method=request.method, body=request.body, headers=headers)
    if resp.status == 200 and "location" in resp:
        return str(resp["location"])
    raise HttpError(resp, content, uri=request.uri)
