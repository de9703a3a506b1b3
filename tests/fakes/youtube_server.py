"""A YouTube Data API v3 stand-in on 127.0.0.1, speaking the protocol as google-api-python-client uses it.

Point the official client at it with
``build("youtube", "v3", credentials=..., client_options={"api_endpoint": fake.api_endpoint},
static_discovery=True)``. Two things about that client shape the fake:

- The discovery document's method paths are ``youtube/v3/...`` under ``rootUrl``, so `api_endpoint` is the
  server root (``https://127.0.0.1:PORT/``), not ``.../youtube/v3/``.
- Media uploads keep the ``https`` scheme of the discovery document's ``rootUrl`` whatever `api_endpoint`
  says (the client only swaps the host), so the fake speaks TLS, with a throwaway certificate authority made
  once per process. Trust it with one of: ``monkeypatch.setattr(httplib2, "CA_CERTS", fake.ca_certs)`` before
  `build` (httplib2 reads that default whenever an ``Http()`` is made); ``HTTPLIB2_CA_CERTS=fake.ca_certs``
  in the environment of a subprocess; or ``http = googleapiclient.http.build_http(); http.ca_certs =
  fake.ca_certs`` wrapped in ``google_auth_httplib2.AuthorizedHttp`` and passed as ``build(http=...)``. (A
  bare ``httplib2.Http()`` would treat the protocol's 308 as a redirect; `build_http` turns that off.) The
  same port also answers plain HTTP at `url`.

What it models:

- Bearer auth: only `channel_token` is accepted, anything else is 401 ``authError`` (the real client's
  ``AuthorizedHttp`` then tries a token refresh, which fails for a token-only credential).
- videos.insert: a resumable session (POST ``/upload/youtube/v3/videos?uploadType=resumable&part=...`` with
  the resource as JSON and ``X-Upload-Content-Length``/``-Type``; 200 with the session URI in ``Location``),
  then PUTs with ``Content-Range: bytes a-b/total``. Incomplete: 308 with ``Range: bytes=0-N`` (no Range
  while nothing is kept). A status query (empty PUT, ``Content-Range: bytes */total``) answers the same, or
  200 and the resource once complete, so resuming a finished session never makes a second video. Non-final
  chunks under 256 KiB are refused (400, Google's wording); a non-final chunk that is not a multiple of
  256 KiB is kept only up to the last whole 256 KiB, as Google's upload servers may do; a chunk that
  overlaps bytes already kept is trimmed; one that leaves a gap is refused. A body shorter than its
  Content-Length (google-api-python-client resends an already read stream slice when
  `next_chunk(num_retries=...)` retries a 5xx chunk of any MediaIoBaseUpload, MediaFileUpload and
  MediaInMemoryUpload included) gets Google's HTML 408 once the body has been idle for `body_timeout`; the
  bytes that did arrive are kept. So recover a failed chunk with a plain `next_chunk()` again (it asks the
  server first), not with `num_retries`.
  Metadata is checked at initiation like YouTube: title required, at most 100 characters, no < or >;
  description at most 5000 bytes, no < or >; tags at most 500 characters; a known categoryId;
  publishAt only in the future and only with privacyStatus private; privacyStatus public/private/unlisted.
  Only the parts named in ``part`` are stored (status defaults to public, as YouTube's does) and answered.
  A simple or multipart (non-resumable) videos.insert is accepted too.
- videos.list (``GET /youtube/v3/videos?id=...&part=...``), where a finished upload shows
  ``uploadStatus: processed``.
- thumbnails.set (``/upload/youtube/v3/thumbnails/set?videoId=``), simple or resumable: JPEG or PNG (by
  magic bytes), at most 2 MB, for a known video.
- captions.insert (``/upload/youtube/v3/captions?part=snippet``), multipart or resumable, and captions.list.
- playlistItems.insert (``POST /youtube/v3/playlistItems?part=snippet``) for a known video.
- Errors in Google's JSON shape: ``{"error": {"code", "message", "errors": [{"message", "domain",
  "reason"}], "status"}}``, which `googleapiclient.errors.HttpError` reads into `reason` and `error_details`.

`script` holds faults, each consumed by the first request it applies to: "quotaExceeded" (a videos.insert
start: 403, domain youtube.quota), "uploadLimitExceeded" (a videos.insert start: 400, domain youtube.video),
"503" (the next upload chunk: 503 backendError, its bytes not kept), "drop" (the next upload chunk: its body
is read, not kept, and the connection is reset without an answer; plain HTTP clients see ConnectionResetError,
over TLS Python sees RemoteDisconnected, which httplib2 retries once by itself with the spent stream slice,
so the googleapiclient caller gets the 408 below),
"partial" (the next upload chunk: only the first half of its bytes is kept and the 308 says so),
"thumbnail_forbidden" (thumbnails.set: 403 forbidden, as for an unverified channel), "caption_forbidden"
(captions.insert: 403 forbidden), "unauthorized" (the next request of any kind: 401 authError). Status
queries are not chunks. `chunk_delay` sleeps after an upload chunk is kept and before it is answered.

What it does not model: processing, quota accounting, rate limits, channel or playlist ownership, other
methods (videos.update/delete, playlists, ...), session expiry (delete from `sessions` to get the 404),
``fields``/``alt`` filtering, gzip, HTTP keep-alive (every answer closes its connection).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import copy
import hashlib
import ipaddress
import json
import re
import secrets
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

GRANULE = 256 * 1024  # resumable chunks other than the last must be at least this, ideally multiples of it
THUMBNAIL_LIMIT = 2 * 1024 * 1024
FAULTS = (
    "quotaExceeded",
    "uploadLimitExceeded",
    "503",
    "drop",
    "partial",
    "thumbnail_forbidden",
    "caption_forbidden",
    "unauthorized",
)
# Categories a video can be assigned to in the US (videoCategories.list with assignable=true).
CATEGORY_IDS = {"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26", "27", "28", "29"}
PRIVACY = {"public", "private", "unlisted"}
CHANNEL_ID = "UCfakepapercastchannel0"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "FAILED_PRECONDITION",
    503: "UNAVAILABLE",
}
_TIMEOUT_PAGE = (
    b"<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error 408 (Request Timeout)!!1</title>"
    b"<p><b>408.</b> <ins>That\xe2\x80\x99s an error.</ins><p>Your client has taken too long to issue its "
    b"request. <ins>That\xe2\x80\x99s all we know.</ins>\n"
)


class ApiError(Exception):
    """An error answer in Google's JSON shape."""

    def __init__(self, code: int, reason: str, message: str, domain: str = "global", **extra: str) -> None:
        super().__init__(message)
        detail = {"message": message, "domain": domain, "reason": reason, **extra}
        self.code = code
        self.payload = {
            "error": {"code": code, "message": message, "errors": [detail], "status": _STATUS.get(code, "UNKNOWN")}
        }


def _bad(reason: str, message: str, domain: str = "youtube.video") -> ApiError:
    return ApiError(400, reason, message, domain)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _etag(value: Any) -> str:
    digest = hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).digest()  # noqa: S324
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _parts(query: dict[str, str]) -> list[str]:
    return [p.strip() for p in query.get("part", "").split(",") if p.strip()]


# --- TLS: one throwaway certificate authority and server certificate per process ---------------------------

_TLS_LOCK = threading.Lock()
_TLS: dict[str, str] = {}


def tls_files() -> dict[str, str]:
    """Paths of the CA certificate ("ca"), and the server certificate ("cert") and key ("key") for 127.0.0.1."""
    with _TLS_LOCK:
        if not _TLS:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

            now = datetime.now(UTC)

            def issue(
                subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, signer: Any, ca: bool
            ) -> x509.Certificate:
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
                builder = (
                    x509.CertificateBuilder()
                    .subject_name(name)
                    .issuer_name(issuer or name)
                    .public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - timedelta(days=1))
                    .not_valid_after(now + timedelta(days=30))
                    .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                    .add_extension(
                        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
                    )
                    .add_extension(
                        x509.KeyUsage(
                            digital_signature=True,
                            content_commitment=False,
                            key_encipherment=False,
                            data_encipherment=False,
                            key_agreement=False,
                            key_cert_sign=ca,
                            crl_sign=ca,
                            encipher_only=False,
                            decipher_only=False,
                        ),
                        critical=True,
                    )
                )
                if not ca:
                    builder = builder.add_extension(
                        x509.SubjectAlternativeName(
                            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                        ),
                        critical=False,
                    ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                return builder.sign(signer, hashes.SHA256())

            ca_key = ec.generate_private_key(ec.SECP256R1())
            ca_cert = issue("papercast fake YouTube CA", ca_key, None, ca_key, ca=True)
            key = ec.generate_private_key(ec.SECP256R1())
            cert = issue("127.0.0.1", key, ca_cert.subject, ca_key, ca=False)
            folder = Path(tempfile.mkdtemp(prefix="fake-youtube-tls-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            pem = serialization.Encoding.PEM
            (folder / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
            (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
            (folder / "key.pem").write_bytes(
                key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            )
            _TLS.update({name: str(folder / f"{name}.pem") for name in ("ca", "cert", "key")})
        return dict(_TLS)


class FakeYouTube:
    def __init__(self) -> None:
        self.url = ""  # "http://127.0.0.1:PORT", set by running_youtube
        self.channel_token = "test-token"
        self.videos: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.inserts_started = 0
        self.thumbnails: dict[str, bytes] = {}
        self.captions: dict[str, list[dict[str, Any]]] = {}
        self.playlist_items: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.script: list[str] = []
        self.chunk_delay = 0.0
        self.body_timeout = 1.0  # how long a request body may sit idle before the 408
        self.lock = threading.RLock()

    @property
    def api_endpoint(self) -> str:
        """What to pass as client_options api_endpoint: the server root, over TLS."""
        return self.url.replace("http://", "https://", 1) + "/"

    @property
    def ca_certs(self) -> str:
        """The PEM file of the certificate authority behind the fake's TLS certificate."""
        return tls_files()["ca"]

    def take(self, *faults: str) -> str | None:
        """Pop and return the first scripted fault among `faults`, if any."""
        with self.lock:
            for index, fault in enumerate(self.script):
                if fault in faults:
                    return self.script.pop(index)
        return None

    def session_for(self, video_id: str) -> str | None:
        """The upload session id that produced a video."""
        return next((sid for sid, s in self.sessions.items() if s.get("video_id") == video_id), None)


# --- validation and resources -------------------------------------------------------------------------------


def _check_video(metadata: dict[str, Any], parts: list[str]) -> None:
    snippet = metadata.get("snippet") if "snippet" in parts else None
    status = metadata.get("status") if "status" in parts else None
    if not isinstance(snippet, dict):
        snippet = {}
    title = snippet.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 100 or re.search("[<>]", title):
        raise _bad("invalidTitle", "The request metadata specifies an invalid or empty video title.")
    description = snippet.get("description", "")
    if not isinstance(description, str) or len(description.encode("utf-8")) > 5000 or re.search("[<>]", description):
        raise _bad("invalidDescription", "The request metadata specifies an invalid video description.")
    tags = snippet.get("tags", [])
    if not isinstance(tags, list) or any(not isinstance(t, str) or re.search("[<>]", t) for t in tags):
        raise _bad("invalidTags", "The request metadata specifies invalid video keywords.")
    # YouTube counts a tag with a space as if quoted, and the commas between tags.
    if sum(len(t) + (2 if " " in t else 0) for t in tags) + max(len(tags) - 1, 0) > 500:
        raise _bad("invalidTags", "The request metadata specifies invalid video keywords.")
    if "categoryId" in snippet and str(snippet["categoryId"]) not in CATEGORY_IDS:
        raise _bad(
            "invalidCategoryId",
            "The snippet.categoryId property specifies an invalid category ID. Use the videoCategories.list "
            "method to retrieve supported categories.",
        )
    status = status if isinstance(status, dict) else {}
    privacy = status.get("privacyStatus", "public")
    if privacy not in PRIVACY:
        raise _bad("invalidVideoMetadata", "The request metadata is invalid.")
    for flag in ("selfDeclaredMadeForKids", "containsSyntheticMedia", "embeddable", "publicStatsViewable"):
        if flag in status and not isinstance(status[flag], bool):
            raise _bad("invalidVideoMetadata", "The request metadata is invalid.")
    if "publishAt" in status:
        message = "The request metadata specifies an invalid scheduled publishing time."
        try:
            when = datetime.fromisoformat(str(status["publishAt"]).replace("Z", "+00:00"))
        except ValueError:
            raise _bad("invalidPublishAt", message) from None
        if when.tzinfo is None or when <= datetime.now(UTC) or privacy != "private":
            raise _bad("invalidPublishAt", message)


def _new_video(fake: FakeYouTube, metadata: dict[str, Any], parts: list[str], data: bytes) -> dict[str, Any]:
    with fake.lock:
        video_id = secrets.token_urlsafe(8)  # 11 characters of [A-Za-z0-9_-], like YouTube's
        while video_id in fake.videos:
            video_id = secrets.token_urlsafe(8)
    given = copy.deepcopy(metadata.get("snippet") or {}) if "snippet" in parts else {}
    thumbs = {
        size: {"url": f"https://i.ytimg.com/vi/{video_id}/{size}.jpg", "width": w, "height": h}
        for size, w, h in (("default", 120, 90), ("medium", 320, 180), ("high", 480, 360))
    }
    snippet = {
        "publishedAt": _now(),
        "channelId": CHANNEL_ID,
        "title": given.get("title", "unknown"),
        "description": given.get("description", ""),
        "thumbnails": thumbs,
        "channelTitle": "papercast test channel",
        **({"tags": given["tags"]} if given.get("tags") else {}),
        "categoryId": str(given.get("categoryId", "22")),
        "liveBroadcastContent": "none",
        **{k: given[k] for k in ("defaultLanguage", "defaultAudioLanguage") if k in given},
        "localized": {"title": given.get("title", "unknown"), "description": given.get("description", "")},
    }
    asked = copy.deepcopy(metadata.get("status") or {}) if "status" in parts else {}
    status = {
        "uploadStatus": "uploaded",
        "privacyStatus": asked.get("privacyStatus", "public"),
        "license": "youtube",
        "embeddable": asked.get("embeddable", True),
        "publicStatsViewable": asked.get("publicStatsViewable", True),
        **{k: asked[k] for k in ("publishAt", "selfDeclaredMadeForKids", "containsSyntheticMedia") if k in asked},
    }
    if "selfDeclaredMadeForKids" in asked:
        status["madeForKids"] = asked["selfDeclaredMadeForKids"]
    video = {
        "id": video_id,
        "snippet": snippet,
        "status": status,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "parts": parts,
    }
    with fake.lock:
        fake.videos[video_id] = video
    return _video_resource(video, parts)


def _video_resource(video: dict[str, Any], parts: list[str], *, listed: bool = False) -> dict[str, Any]:
    resource: dict[str, Any] = {"kind": "youtube#video", "etag": _etag(video), "id": video["id"]}
    for part in ("snippet", "status"):
        if part in parts:
            resource[part] = copy.deepcopy(video[part])
    if listed and "status" in resource:
        resource["status"]["uploadStatus"] = "processed"  # processing is instantaneous here
    if "processingDetails" in parts:
        resource["processingDetails"] = {"processingStatus": "succeeded" if listed else "processing"}
    return resource


def _is_image(data: bytes) -> bool:
    return data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"))


def _thumbnail_video(fake: FakeYouTube, query: dict[str, str]) -> str:
    video_id = query.get("videoId", "")
    if video_id not in fake.videos:
        raise ApiError(
            404,
            "videoNotFound",
            "The video that you are trying to set a thumbnail for cannot be found. Check the value of the "
            "videoId parameter in the request.",
            "youtube.thumbnail",
        )
    return video_id


def _set_thumbnail(fake: FakeYouTube, query: dict[str, str], data: bytes, content_type: str) -> dict[str, Any]:
    video_id = _thumbnail_video(fake, query)
    if fake.take("thumbnail_forbidden"):
        raise ApiError(
            403,
            "forbidden",
            "The authenticated user doesn't have permissions to upload and set custom video thumbnails.",
            "youtube.thumbnail",
            location="Authorization",
            locationType="header",
        )
    if not data:
        raise _bad("mediaBodyRequired", "The request does not include the image content.", "youtube.thumbnail")
    if len(data) > THUMBNAIL_LIMIT:
        raise ApiError(413, "mediaBodyTooLarge", "The thumbnail image is larger than 2 MB.", "youtube.thumbnail")
    if content_type.partition(";")[0].strip() not in ("image/jpeg", "image/png", "application/octet-stream") or (
        not _is_image(data)
    ):
        raise _bad("invalidImage", "The provided image content is invalid.", "youtube.thumbnail")
    with fake.lock:
        fake.thumbnails[video_id] = data
    item = {
        size: {"url": f"https://i.ytimg.com/vi/{video_id}/{size}.jpg?custom=1", "width": w, "height": h}
        for size, w, h in (("default", 120, 90), ("medium", 320, 180), ("high", 480, 360), ("maxres", 1280, 720))
    }
    return {"kind": "youtube#thumbnailSetResponse", "etag": _etag(item), "items": [item]}


def _check_caption(fake: FakeYouTube, metadata: dict[str, Any]) -> dict[str, Any]:
    snippet = metadata.get("snippet")
    if not isinstance(snippet, dict) or not snippet.get("videoId") or not snippet.get("language"):
        raise _bad(
            "invalidMetadata",
            "The request contains invalid metadata values, which prevent the track from being created.",
            "youtube.caption",
        )
    if snippet["videoId"] not in fake.videos:
        raise ApiError(
            404,
            "videoNotFound",
            "The video identified by the videoId parameter could not be found.",
            "youtube.caption",
        )
    if len(str(snippet.get("name", ""))) > 150:
        raise _bad("invalidMetadata", "The caption track name is too long.", "youtube.caption")
    return snippet


def _insert_caption(fake: FakeYouTube, metadata: dict[str, Any], data: bytes) -> dict[str, Any]:
    snippet = _check_caption(fake, metadata)
    if fake.take("caption_forbidden"):
        raise ApiError(
            403,
            "forbidden",
            "The permissions associated with the request are not sufficient to upload the caption track. "
            "The request might not be properly authorized.",
            "youtube.caption",
        )
    if not data:
        raise _bad("contentRequired", "The uploaded caption track does not contain content.", "youtube.caption")
    video_id = snippet["videoId"]
    with fake.lock:
        tracks = fake.captions.setdefault(video_id, [])
        if any(
            t["snippet"]["language"] == snippet["language"] and t["snippet"].get("name", "") == snippet.get("name", "")
            for t in tracks
        ):
            raise ApiError(409, "captionExists", "The specified caption track already exists.", "youtube.caption")
        caption_id = "AUieDa" + secrets.token_urlsafe(30)
        stored = {
            "videoId": video_id,
            "lastUpdated": _now(),
            "trackKind": "standard",
            "language": snippet["language"],
            "name": snippet.get("name", ""),
            "audioTrackType": "unknown",
            "isCC": False,
            "isLarge": False,
            "isEasyReader": False,
            "isDraft": bool(snippet.get("isDraft", False)),
            "isAutoSynced": False,
            "status": "serving",
        }
        tracks.append({"id": caption_id, "snippet": stored, "body": data})
    return {"kind": "youtube#caption", "etag": _etag(stored), "id": caption_id, "snippet": copy.deepcopy(stored)}


def _split_multipart(body: bytes, content_type: str) -> tuple[dict[str, Any], bytes, str]:
    """(JSON metadata, media bytes, media content type) of a multipart/related upload body."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/related" or not isinstance(boundary, str):
        raise _bad("badContent", "Unsupported content with type: " + content_type, "global")
    delimiter = b"--" + boundary.encode()
    parts = []
    for raw in body.split(delimiter)[1:]:
        if raw.startswith(b"--"):
            break
        part = raw.removeprefix(b"\r\n").removeprefix(b"\n")
        head, sep, payload = part.partition(b"\r\n\r\n")
        if not sep:
            head, _, payload = part.partition(b"\n\n")
        payload = payload.removesuffix(b"\n").removesuffix(b"\r")
        headers = Message()
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        parts.append((headers.get_content_type(), payload))
    if len(parts) != 2:
        raise _bad("badContent", "A multipart upload needs a metadata part and a media part.", "global")
    try:
        metadata = json.loads(parts[0][1] or b"{}")
    except ValueError:
        raise _bad("parseError", "Parse Error", "global") from None
    return metadata, parts[1][1], parts[1][0]


# --- HTTP ---------------------------------------------------------------------------------------------------

_UPLOAD_PREFIX = "/upload/youtube/v3/"
_UPLOAD_KINDS = {"videos": "video", "thumbnails/set": "thumbnail", "captions": "caption"}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeYouTube
    tls = False

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return None

    # plumbing

    def _send(self, code: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        phrase = "Resume Incomplete" if code == 308 else None
        self.send_response(code, phrase)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, error: ApiError) -> None:
        extra = {}
        if error.code == 401:
            extra["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        self._send(error.code, error.payload, extra)

    def _read_body(self) -> tuple[bytes, bool]:
        """The request body and whether all of it arrived within `body_timeout`."""
        declared = int(self.headers.get("Content-Length") or 0)
        pieces, got = [], 0
        self.connection.settimeout(self.fake.body_timeout)
        try:
            while got < declared:
                piece = self.rfile.read1(min(declared - got, 1 << 16))
                if not piece:
                    break
                pieces.append(piece)
                got += len(piece)
        except OSError:  # TimeoutError, or the client went away
            pass
        return b"".join(pieces), got == declared

    def _reset(self) -> None:
        """Close the connection without answering: an RST, so the client cannot mistake it for a clean end."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self.rfile, self.wfile):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        with contextlib.suppress(OSError):
            self.connection.close()

    def _timeout(self) -> None:
        self.send_response(408)
        self.send_header("Content-Type", "text/html; charset=UTF-8")
        self.send_header("Content-Length", str(len(_TIMEOUT_PAGE)))
        self.end_headers()
        self.wfile.write(_TIMEOUT_PAGE)

    def _authorised(self) -> bool:
        token = self.headers.get("Authorization", "")
        if not self.fake.take("unauthorized") and token == f"Bearer {self.fake.channel_token}":
            return True
        self._error(
            ApiError(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                location="Authorization",
                locationType="header",
            )
        )
        return False

    # dispatch

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        url = urlparse(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        with self.fake.lock:
            self.fake.requests.append(
                {
                    "method": method,
                    "path": url.path,
                    "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
            )
        is_chunk = method == "PUT" and url.path.startswith(_UPLOAD_PREFIX) and "upload_id" in query
        body, complete = self._read_body()
        if not complete and not is_chunk:
            self._timeout()
            return
        if not self._authorised():
            return
        try:
            if is_chunk:
                self._chunk(query["upload_id"], body, complete)
            elif method == "POST" and url.path.removeprefix(_UPLOAD_PREFIX) in _UPLOAD_KINDS:
                self._upload(_UPLOAD_KINDS[url.path.removeprefix(_UPLOAD_PREFIX)], url.path, query, body)
            elif method == "GET" and url.path == "/youtube/v3/videos":
                self._list_videos(query)
            elif method == "GET" and url.path == "/youtube/v3/captions":
                self._list_captions(query)
            elif method == "POST" and url.path == "/youtube/v3/playlistItems":
                self._insert_playlist_item(query, body)
            else:
                raise ApiError(404, "notFound", "Not Found")
        except ApiError as error:
            self._error(error)

    # uploads

    def _upload(self, kind: str, path: str, query: dict[str, str], body: bytes) -> None:
        fake = self.fake
        upload_type = query.get("uploadType", "")
        content_type = self.headers.get("Content-Type", "")
        if upload_type == "resumable":
            try:
                metadata = json.loads(body) if body.strip() else {}
            except ValueError:
                raise _bad("parseError", "Parse Error", "global") from None
            if kind == "video":
                self._start_insert(metadata, _parts(query))
            elif kind == "caption":
                _check_caption(fake, metadata)
            else:
                _thumbnail_video(fake, query)
            total = self.headers.get("X-Upload-Content-Length")
            session_id = secrets.token_urlsafe(48)
            with fake.lock:
                fake.sessions[session_id] = {
                    "received": bytearray(),
                    "total": int(total) if total and total.isdigit() else None,
                    "metadata": metadata,
                    "video_id": None,
                    "kind": kind,
                    "query": query,
                    "content_type": self.headers.get("X-Upload-Content-Type", "application/octet-stream"),
                    "result": None,
                    "error": None,
                }
            keep = {k: v for k, v in query.items() if k not in ("alt", "uploadType")}
            scheme = "https" if self.tls else "http"
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            location = f"{scheme}://{host}{path}?" + urlencode(
                {"uploadType": "resumable", "upload_id": session_id, **keep}
            )
            self._send(200, None, {"Location": location, "X-GUploader-UploadID": session_id})
            return
        if upload_type == "multipart":
            metadata, data, media_type = _split_multipart(body, content_type)
        elif upload_type == "media":
            metadata, data, media_type = {}, body, content_type
        else:
            raise _bad("invalidParameter", f"Invalid value '{upload_type}' for uploadType.", "global")
        if kind == "video":
            self._start_insert(metadata, _parts(query))
            if not data:
                raise _bad("mediaBodyRequired", "The request does not include the video content.")
            self._send(200, _new_video(fake, metadata, _parts(query), data))
        elif kind == "thumbnail":
            self._send(200, _set_thumbnail(fake, query, data, media_type))
        else:
            self._send(200, _insert_caption(fake, metadata, data))

    def _start_insert(self, metadata: dict[str, Any], parts: list[str]) -> None:
        """What a videos.insert start checks: the scripted quota faults, then the metadata."""
        fault = self.fake.take("quotaExceeded", "uploadLimitExceeded")
        if fault == "quotaExceeded":
            raise ApiError(
                403,
                "quotaExceeded",
                'The request cannot be completed because you have exceeded your <a href="/youtube/v3/'
                'getting-started#quota">quota</a>.',
                "youtube.quota",
            )
        if fault == "uploadLimitExceeded":
            raise _bad("uploadLimitExceeded", "The user has exceeded the number of videos they may upload.")
        if not parts:
            raise _bad("missingRequiredParameter", "No filter selected. Expected one of: part", "youtube.parameter")
        _check_video(metadata, parts)
        with self.fake.lock:
            self.fake.inserts_started += 1

    def _progress(self, session: dict[str, Any]) -> None:
        kept = len(session["received"])
        self._send(308, None, {"Range": f"bytes=0-{kept - 1}"} if kept else {})

    def _chunk(self, session_id: str, body: bytes, complete: bool) -> None:
        fake = self.fake
        with fake.lock:
            session = fake.sessions.get(session_id)
        if session is None:
            raise ApiError(404, "notFound", "The upload session was not found or has expired.")
        if session["error"] is not None:
            raise session["error"]
        if session["result"] is not None:
            self._send(200, session["result"])
            return
        header = self.headers.get("Content-Range", "")
        query = re.fullmatch(r"bytes \*/(\d+|\*)", header)
        if query and not body:
            self._progress(session)
            return
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", header)
        if match:
            first, last, total_text = int(match[1]), int(match[2]), match[3]
        elif not header:  # the whole upload in one PUT
            first, last, total_text = 0, len(body) - 1, str(len(body))
        else:
            raise _bad("badRequest", f"Failed to parse Content-Range header: {header}", "global")
        fault = fake.take("503", "drop", "partial")
        if fault == "503":
            raise ApiError(503, "backendError", "Backend Error")
        if fault == "drop":
            self._reset()
            return
        total = None if total_text == "*" else int(total_text)
        with fake.lock:
            received = session["received"]
            if total is not None and session["total"] is not None and total != session["total"]:
                raise _bad("badRequest", "The upload's total size does not match the session's.", "global")
            if first > len(received):
                raise _bad(
                    "badRequest",
                    f"Invalid request. According to the Content-Range header, the upload offset is {first} "
                    f"byte(s), which exceeds already uploaded size of {len(received)} byte(s).",
                    "global",
                )
            if complete and len(body) != last - first + 1:
                raise _bad("badRequest", "The Content-Range header does not match the request body.", "global")
            final = total is not None and last + 1 == total
            if complete and not final and len(body) < GRANULE:
                raise _bad(
                    "badRequest",
                    f"Invalid request. The number of bytes uploaded is required to be equal or greater than "
                    f"{GRANULE}, except for the final request (it's recommended to be the exact multiple of "
                    f"{GRANULE}). The received request contained {len(body)} bytes, which does not meet this "
                    "requirement.",
                    "global",
                )
            end = first + len(body)
            if fault == "partial":
                end = first + len(body) // 2
            elif complete and not final:
                end = first + len(body) - len(body) % GRANULE
            if end > len(received):
                received.extend(body[len(received) - first : end - first])
            if total is not None:
                session["total"] = total
            done = session["total"] is not None and len(received) == session["total"] and complete
        if done:
            self._finish(session)
        if fake.chunk_delay:
            time.sleep(fake.chunk_delay)
        if not complete:
            self._timeout()
        elif session["error"] is not None:
            raise session["error"]
        elif session["result"] is not None:
            self._send(200, session["result"])
        else:
            self._progress(session)

    def _finish(self, session: dict[str, Any]) -> None:
        fake = self.fake
        data = bytes(session["received"])
        try:
            if session["kind"] == "video":
                if not data:
                    raise _bad("mediaBodyRequired", "The request does not include the video content.")
                result = _new_video(fake, session["metadata"], _parts(session["query"]), data)
                session["video_id"] = result["id"]
            elif session["kind"] == "thumbnail":
                result = _set_thumbnail(fake, session["query"], data, session["content_type"])
            else:
                result = _insert_caption(fake, session["metadata"], data)
        except ApiError as error:
            session["error"] = error
            return
        session["result"] = result

    # reads and small inserts

    def _list_videos(self, query: dict[str, str]) -> None:
        parts = _parts(query)
        if not parts:
            raise _bad("missingRequiredParameter", "No filter selected. Expected one of: part", "youtube.parameter")
        wanted = [i for i in query.get("id", "").split(",") if i]
        items = [_video_resource(self.fake.videos[i], parts, listed=True) for i in wanted if i in self.fake.videos]
        self._send(
            200,
            {
                "kind": "youtube#videoListResponse",
                "etag": _etag(items),
                "items": items,
                "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
            },
        )

    def _list_captions(self, query: dict[str, str]) -> None:
        video_id = query.get("videoId", "")
        if video_id not in self.fake.videos:
            raise ApiError(
                404,
                "videoNotFound",
                "The video identified by the videoId parameter could not be found.",
                "youtube.caption",
            )
        items = [
            {"kind": "youtube#caption", "etag": _etag(t["snippet"]), "id": t["id"], "snippet": t["snippet"]}
            for t in self.fake.captions.get(video_id, [])
        ]
        self._send(200, {"kind": "youtube#captionListResponse", "etag": _etag(items), "items": items})

    def _insert_playlist_item(self, query: dict[str, str], body: bytes) -> None:
        try:
            item = json.loads(body or b"{}")
        except ValueError:
            raise _bad("parseError", "Parse Error", "global") from None
        snippet = item.get("snippet") if isinstance(item, dict) else None
        if not isinstance(snippet, dict) or not snippet.get("playlistId"):
            raise _bad("playlistIdRequired", "The request does not specify a playlist.", "youtube.playlistItem")
        video_id = (snippet.get("resourceId") or {}).get("videoId")
        if video_id not in self.fake.videos:
            raise ApiError(404, "videoNotFound", "Video not found.", "youtube.playlistItem")
        with self.fake.lock:
            self.fake.playlist_items.append(item)
            position = sum(1 for i in self.fake.playlist_items if i["snippet"]["playlistId"] == snippet["playlistId"])
        video = self.fake.videos[video_id]
        answer = {
            "kind": "youtube#playlistItem",
            "etag": _etag(item),
            "id": secrets.token_urlsafe(36),
            "snippet": {
                "publishedAt": _now(),
                "channelId": CHANNEL_ID,
                "title": video["snippet"]["title"],
                "description": video["snippet"]["description"],
                "channelTitle": "papercast test channel",
                "playlistId": snippet["playlistId"],
                "position": snippet.get("position", position - 1),
                "resourceId": {"kind": "youtube#video", "videoId": video_id},
            },
        }
        self._send(200, answer)


class _Server(ThreadingHTTPServer):
    """Answers HTTPS and plain HTTP on one port: a connection whose first byte starts a TLS handshake is
    wrapped in TLS."""

    daemon_threads = True
    tls_context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(10)
            first = request.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first != b"\x16":
            self.RequestHandlerClass(request, client_address, self)
            return
        try:
            wrapped = self.tls_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        handler = type("TLSHandler", (self.RequestHandlerClass,), {"tls": True})
        try:
            handler(wrapped, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that went away is no news
        return None


@contextmanager
def running_youtube(fake: FakeYouTube) -> Iterator[FakeYouTube]:
    """Serve `fake` on 127.0.0.1 (a free port, HTTPS and HTTP) for the length of the block."""
    files = tls_files()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files["cert"], files["key"])
    server = _Server(("127.0.0.1", 0), type("Handler", (_Handler,), {"fake": fake}))
    server.tls_context = context
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
