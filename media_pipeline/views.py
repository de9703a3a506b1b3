"""Serving stored media to people who may see it (local file storage; S3 serves its own signed URLs)."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest

from projects.access import papers_visible_to

_PAPER_PATH = re.compile(r"^projects/(\d+)/(?:papers/(\d+)/|sources/)")


@login_required
def media_file(request: HttpRequest, name: str) -> FileResponse:
    match = _PAPER_PATH.match(name)
    if match is None or ".." in name.split("/"):
        raise Http404("No such file.")
    project_id, paper_id = int(match.group(1)), match.group(2)
    visible = papers_visible_to(request.user).filter(project_id=project_id)
    if paper_id is not None:
        visible = visible.filter(pk=int(paper_id))
    if not visible.exists() or not default_storage.exists(name):
        raise Http404("No such file.")
    return FileResponse(default_storage.open(name, "rb"))
