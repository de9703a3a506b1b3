"""Files a dead attempt stored and never pointed a row at.

A stage stores its files first and then commits the rows that point at them; a worker killed between the two
(kill -9, the OOM killer, a lost machine) leaves files nobody refers to, in S3 or on disk. Each name a stage
stores carries its attempt's mark (`<uuid>-r<run>a<attempt>.<ext>`, see runs.attempt_mark), so the next
attempt, the reaper, or `manage.py sweepfiles` can tell such a file from one a live attempt is still
writing: it is removed when no row points at it and its attempt no longer holds its run.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models

from media_pipeline.files import paper_folder
from media_pipeline.models import RunStatus, StageRun
from projects.models import Paper, SourceKind

logger = logging.getLogger(__name__)

_MARKED = re.compile(r"^[0-9a-f]{32}-r(\d+)a(\d+)(\.[A-Za-z0-9]{1,8})?$")


def marked_files(folder: str) -> Iterator[tuple[str, int, int]]:
    """(name, run id, attempt) of every marked file under `folder` in the storage, recursively."""
    try:
        directories, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for file in files:
        found = _MARKED.match(file)
        if found:
            yield f"{folder}/{file}", int(found.group(1)), int(found.group(2))
    for directory in directories:
        yield from marked_files(f"{folder}/{directory}")


def referenced(names: set[str]) -> set[str]:
    """The names among `names` that a row of any model points at through a file field."""
    found: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                rows = model._default_manager.filter(**{f"{field.name}__in": names})
                found.update(str(name) for name in rows.values_list(field.name, flat=True))
    return found


def sweep_paper(paper: Paper) -> list[str]:
    """Remove the files the paper's dead attempts left; returns their names."""
    folders = [paper_folder(paper.project_id, paper.pk)]
    if paper.source_kind == SourceKind.ARXIV:
        # where extract stores the PDF it fetched (shared folders: other papers' files are judged alike)
        folders += [f"projects/{paper.project_id}/sources", "arxiv"]
    candidates = {name: (run, number) for folder in folders for name, run, number in marked_files(folder)}
    if not candidates:
        return []
    runs = {run for run, _ in candidates.values()}
    live = set(
        StageRun.objects.filter(id__in=runs, status=RunStatus.RUNNING).values_list("id", "attempts")
    )  # an attempt that holds its run may still be between storing a file and committing its row
    doomed = {name for name, holder in candidates.items() if holder not in live}
    removed: list[str] = []
    for name in sorted(doomed - referenced(doomed)):
        with contextlib.suppress(FileNotFoundError, OSError):
            default_storage.delete(name)
            removed.append(name)
            logger.info("Removed %s: stored by a dead attempt, never pointed at.", name)
    return removed
