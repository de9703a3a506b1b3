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
from pathlib import PurePosixPath

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from projects.access import papers_visible_to

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

    Raises ValueError for a range that cannot be satisfied.
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
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the file")
    return start, end


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
    match = _PAPER_PATH.match(name)
    if match is None or ".." in name.split("/"):
        raise Http404("No such file.")
    project_id, paper_id = int(match.group(1)), match.group(2)
    visible = papers_visible_to(request.user).filter(project_id=project_id)
    if paper_id is not None:
        visible = visible.filter(pk=int(paper_id))
    if not visible.exists() or not default_storage.exists(name):
        raise Http404("No such file.")
    return stored_file_response(request, name)


def stored_file_response(request: HttpRequest, name: str, content_type: str | None = None) -> HttpResponseBase:
    """The stored file (local storage), whole or the byte range the request asks for. Access is the caller's."""
    size = default_storage.size(name)
    path = PurePosixPath(name)
    served_type, inline = SERVED_TYPES.get(path.suffix.lower(), UNKNOWN_TYPE)
    try:
        wanted = _byte_range(request.headers.get("Range", ""), size)
    except ValueError:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return _never_a_page(refused)
    response: HttpResponseBase
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
    response["Content-Disposition"] = content_disposition_header(not inline, path.name) or "attachment"
    return _never_a_page(response)


def _never_a_page(response: HttpResponseBase) -> HttpResponseBase:
    """Whatever the file holds, the browser neither guesses another type nor runs it on our origin."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response
