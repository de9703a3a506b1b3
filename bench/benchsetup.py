"""Shared by the bench scripts: Django on a fresh, temporary data dir (SQLite, local files), migrated."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_django(prefix: str = "papercast-bench-") -> Path:
    """Point papercast at a new temporary data dir, set Django up and migrate; returns the data dir."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["PAPERCAST_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "papercast.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir


def cpu_seconds() -> float:
    """CPU seconds of this process and of the programs it ran and waited for (ffmpeg, the PDF reader)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
