"""Serving stored media to people who may see it (local file storage; S3 serves its own signed URLs).

Byte ranges are honoured (206 Partial Content), because browsers seek in a video by asking for a range:
without them the admin's player could only play from the start.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

from projects.access import papers_visible_to

_PAPER_PATH = re.compile(r"^projects/(\d+)/(?:papers/(\d+)/|sources/)")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 256 * 1024


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
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        wanted = _byte_range(request.headers.get("Range", ""), size)
    except ValueError:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if wanted is None:
        whole = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
        whole["Accept-Ranges"] = "bytes"
        return whole
    first, last = wanted
    partial = StreamingHttpResponse(_ranged(name, first, last), status=206, content_type=content_type)
    partial["Content-Range"] = f"bytes {first}-{last}/{size}"
    partial["Content-Length"] = str(last - first + 1)
    partial["Accept-Ranges"] = "bytes"
    return partial
