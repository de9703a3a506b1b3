"""Serving stored media to people who may see it (local file storage; S3 serves its own signed URLs).

Byte ranges are honoured (206 Partial Content), because browsers seek in a video by asking for a range:
without them the admin's player could only play from the start.

Media are served from our own origin, so a stored file must never open as a page: the content type comes
from a fixed table by suffix (anything else is application/octet-stream), only video, audio and images are
shown inline (everything else is an attachment), and every answer says nosniff and sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePosixPath

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import get_conditional_response
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe
from django.views.decorators.http import require_safe

from media_pipeline.api.files import is_local
from papercast.api.errors import error_response  # the API's downloads are served from here
from projects.access import papers_visible_to, projects_visible_to

_PAPER_PATH = re.compile(r"^projects/(\d+)/(?:papers/(\d+)/|sources/)")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024
# Suffix -> (content type, shown inline). Inline only for what a browser plays or shows without running it.
SERVED_TYPES: dict[str, tuple[str, bool]] = {
    ".mp4": ("video/mp4", True),
    ".png": ("image/png", True),
    ".jpg": ("image/jpeg", True),
    ".jpeg": ("image/jpeg", True),
    ".wav": ("audio/wav", True),
    ".flac": ("audio/flac", True),
    ".mp3": ("audio/mpeg", True),
    ".m4a": ("audio/mp4", True),
    ".aac": ("audio/aac", True),
    ".ogg": ("audio/ogg", True),
    ".opus": ("audio/ogg", True),
    ".webm": ("audio/webm", True),
    ".srt": ("text/plain; charset=utf-8", False),
    ".vtt": ("text/vtt; charset=utf-8", False),
    ".txt": ("text/plain; charset=utf-8", False),
    ".md": ("text/plain; charset=utf-8", False),
    ".pdf": ("application/pdf", False),
    ".json": ("application/json", False),
}
UNKNOWN_TYPE = ("application/octet-stream", False)


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes asked for by a single-range header; None when the whole file is wanted.

    Raises ValueError for a range that cannot be satisfied (it starts at or beyond the end, or asks for the
    last 0 bytes). An invalid header, e.g. `bytes=100-50`, is ignored: the whole file (RFC 9110, 14.2).
    """
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multiple ranges or another unit: answer with the whole file, as RFC 9110 allows
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return (max(size - length, 0), size - 1) if size else None
    start = int(first)
    if last and int(last) < start:
        return None  # last before first: not a valid range-spec, so the header is ignored
    if start >= size:
        raise ValueError("range outside the file")
    return start, min(int(last), size - 1) if last else size - 1


def _validators(name: str, size: int, digest: str | None) -> tuple[str, datetime]:
    """A strong ETag (the content's digest when the caller knows it, else the size and time) and the time."""
    modified = default_storage.get_modified_time(name)
    if digest:
        return f'"{digest}"', modified
    return f'"{size:x}-{int(modified.timestamp() * 1_000_000):x}"', modified


def _if_range_matches(value: str | None, etag: str, modified: datetime) -> bool:
    """Whether a range may be served: no If-Range, or one naming this very file (RFC 9110, 13.1.5): the same
    strong ETag (a weak one never matches), or exactly its Last-Modified date."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    return parse_http_date_safe(value) == int(modified.timestamp())


def _ranged(name: str, first: int, last: int) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as handle:
        handle.seek(first)
        left = last - first + 1
        while left > 0:
            block = handle.read(min(_CHUNK, left))
            if not block:
                return
            left -= len(block)
            yield block


@require_safe
@login_required
def media_file(request: HttpRequest, name: str) -> HttpResponseBase:
    """A stored file, to a member of the project that owns it now (404 to anyone else, as for a missing file).

    The project id in a stored name is where the owner was when the file was written, and a paper can move
    to another project since: access follows the owner's current project, never the name's. A file under
    `papers/<id>/` belongs to that paper (ids never change); a file under `sources/` belongs to the row that
    points at it (a paper's upload, a project's music), and one that no row points at is served to nobody.
    """
    match = _PAPER_PATH.match(name)
    if match is None or ".." in name.split("/"):
        raise Http404("No such file.")
    paper_id = match.group(2)
    if paper_id is not None:
        allowed = papers_visible_to(request.user).filter(pk=int(paper_id)).exists()
    else:
        allowed = (
            papers_visible_to(request.user).filter(Q(source_file=name) | Q(narration_audio=name)).exists()
            or projects_visible_to(request.user).filter(music=name).exists()
        )
    if not allowed or not default_storage.exists(name):
        raise Http404("No such file.")
    if not is_local(default_storage):
        # S3: the browser fetches the bytes from the bucket with a short-lived signed link; the web process
        # never streams a video itself (AWS_QUERYSTRING_EXPIRE seconds, the type from the same table).
        served_type, inline = SERVED_TYPES.get(PurePosixPath(name).suffix.lower(), UNKNOWN_TYPE)
        params = {"ResponseContentType": served_type}
        if not inline:
            params["ResponseContentDisposition"] = content_disposition_header(True, PurePosixPath(name).name) or ""
        response = HttpResponseRedirect(default_storage.url(name, parameters=params))  # type: ignore[call-arg]
        response["Cache-Control"] = "private, no-store"  # the link expires; never cache the redirect
        return response
    return stored_file_response(request, name)


def stored_file_response(
    request: HttpRequest, name: str, content_type: str | None = None, *, digest: str | None = None
) -> HttpResponseBase:
    """The stored file (local storage), whole or the byte range the request asks for. Access is the caller's.

    Every answer carries a strong ETag (`digest`, e.g. the sha256 a row recorded for the file, else the
    size and time) and Last-Modified: If-None-Match and If-Modified-Since get 304, If-Range gets the range
    only while it names this file (a resumed download of a file that changed starts again), and a range
    that cannot be satisfied gets 416 in the API's error shape.
    """
    size = default_storage.size(name)
    path = PurePosixPath(name)
    served_type, inline = SERVED_TYPES.get(path.suffix.lower(), UNKNOWN_TYPE)
    etag, modified = _validators(name, size, digest)
    response: HttpResponseBase | None
    response = get_conditional_response(request, etag=etag, last_modified=int(modified.timestamp()))
    if response is not None:
        if response.status_code == 412:
            response = error_response(
                412, "precondition_failed", "The file does not meet the request's If-Match or If-Unmodified-Since."
            )
        response["ETag"], response["Last-Modified"] = etag, http_date(modified.timestamp())
        return _never_a_page(response)
    header = request.headers.get("Range", "")
    if not _if_range_matches(request.headers.get("If-Range"), etag, modified):
        header = ""  # the client's partial copy is of another file: it gets the whole of this one
    try:
        wanted = _byte_range(header, size)
    except ValueError:
        refused = error_response(
            416, "range_not_satisfiable", f"The range asked for is outside the file, which has {size} bytes."
        )
        refused["Content-Range"] = f"bytes */{size}"
        return _never_a_page(refused)
    if wanted is None:
        response = FileResponse(default_storage.open(name, "rb"), content_type=content_type or served_type)
    else:
        first, last = wanted
        response = StreamingHttpResponse(
            _ranged(name, first, last), status=206, content_type=content_type or served_type
        )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    response["ETag"], response["Last-Modified"] = etag, http_date(modified.timestamp())
    response["Content-Disposition"] = content_disposition_header(not inline, path.name) or "attachment"
    return _never_a_page(response)


def _never_a_page(response: HttpResponseBase) -> HttpResponseBase:
    """Whatever the file holds, the browser neither guesses another type nor runs it on our origin."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response
