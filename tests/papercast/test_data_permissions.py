"""What papercast keeps is its owner's alone: the data dir, the secret key, the SQLite database and local media
are created for the owner only; over HTTP, media are behind the login (anonymous visitors are sent to it)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from projects.models import Project
from tests.conftest import make_text_paper

ROOT = Path(__file__).resolve().parents[2]

# Settings read in a fresh process, as a first start would: a generated key, SQLite, local media.
FIRST_START = """
import os
os.umask(0o022)  # the usual umask: what papercast creates must not rely on a stricter one
import django
django.setup()
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
default_storage.save("projects/1/papers/2/video.mp4", ContentFile(b"not really a video"))
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_creates_the_data_dir_key_database_and_media_for_the_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    skipped = {"PAPERCAST_SECRET_KEY", "DATABASE_URL", "PAPERCAST_STORAGE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {name: value for name, value in os.environ.items() if name not in skipped}
    env.update({"PAPERCAST_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "papercast.settings"})
    result = subprocess.run(
        [sys.executable, "-c", FIRST_START], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr

    assert _mode(data) == 0o700
    assert _mode(data / "secret_key") == 0o600
    assert _mode(data / "papercast.sqlite3") == 0o600
    media = data / "media"
    for folder in (media, media / "projects", media / "projects/1/papers/2"):
        assert _mode(folder) == 0o700, folder
    assert _mode(media / "projects/1/papers/2/video.mp4") == 0o600


@pytest.mark.django_db
def test_an_anonymous_visitor_of_a_media_url_is_sent_to_the_login(users: dict[str, User], project: Project) -> None:
    paper = make_text_paper(project, "Bees dance.")
    name = default_storage.save(f"projects/{project.pk}/papers/{paper.pk}/notes.txt", ContentFile(b"waggle"))

    anonymous = Client().get(f"/media/{name}")
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/admin/login/?next=/media/{name}"
    login_page = Client().get(anonymous["Location"])
    assert login_page.status_code == 200 and b'name="password"' in login_page.content

    # Logged in, a member gets the file and an outsider the same 404 as for a file that does not exist.
    member, outsider = Client(), Client()
    member.force_login(users["carol"])
    outsider.force_login(users["mallory"])
    assert member.get(f"/media/{name}").status_code == 200
    assert outsider.get(f"/media/{name}").status_code == 404
