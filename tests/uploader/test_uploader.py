"""The uploader end to end: papercast's live server and API, the fake YouTube on 127.0.0.1
(tests/fakes/youtube_server.py, spoken to by the real googleapiclient), and the uploader in this process
(`uploader.cli.main`) or as `python -m uploader` in a subprocess that can be killed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httplib2
import pytest
from django.contrib.auth.models import User
from django.db import transaction
from knox.models import AuthToken

from media_pipeline import publishing
from media_pipeline.models import UploadEvent, Video
from projects.models import CurationStatus, Paper, Project
from tests.api.conftest import approve, rendered_paper
from tests.fakes.youtube_server import GRANULE, FakeYouTube, running_youtube
from uploader.cli import main
from uploader.config import settings_from
from uploader.papercast import Papercast, PapercastUnavailable
from uploader.publisher import Outcome, Publisher, StopFlag

pytestmark = [pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def youtube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYouTube]:
    fake = FakeYouTube()
    with running_youtube(fake):
        # The fake speaks TLS with its own authority: trust it in this process (subprocesses get
        # HTTPLIB2_CA_CERTS). httplib2 reads this default whenever the YouTube client makes an Http().
        monkeypatch.setattr(httplib2, "CA_CERTS", fake.ca_certs)
        yield fake


@pytest.fixture
def video(approved_video: Video) -> Video:
    """The approved video, scheduled (so the upload carries publishAt) and with its captions' language."""
    Project.objects.filter(pk=approved_video.paper.project_id).update(youtube_language="en")
    Paper.objects.filter(pk=approved_video.paper_id).update(publish_at=datetime.now(UTC) + timedelta(days=3))
    approved_video.refresh_from_db()
    return approved_video


@pytest.fixture
def second_video(video: Video, project: Project, tmp_dir: Path, users: dict[str, User]) -> Video:
    (tmp_dir / "second").mkdir()
    return approve(rendered_paper(project, tmp_dir / "second"), users["bob"])


@pytest.fixture
def environment(
    live_server: Any, youtube: FakeYouTube, tmp_path: Path, users: dict[str, User]
) -> Callable[..., dict[str, str]]:
    def make(user: str = "bob", state: str = "state") -> dict[str, str]:
        _, token = AuthToken.objects.create(user=users[user])
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "PYTHONPATH": str(REPO),
            "HTTPLIB2_CA_CERTS": youtube.ca_certs,
            "PAPERCAST_URL": live_server.url,
            "PAPERCAST_TOKEN": token,
            "UPLOADER_STATE_DIR": str(tmp_path / state),
            "UPLOADER_YOUTUBE_ENDPOINT": youtube.api_endpoint,
            "UPLOADER_YOUTUBE_ACCESS_TOKEN": youtube.channel_token,
            "UPLOADER_CHUNK_MB": "0.25",
            "UPLOADER_RETRY_SECONDS": "0.01",
            "UPLOADER_INTERVAL": "0.2",
        }

    return make


def grow(video: Video, size: int) -> None:
    """Make the MP4 `size` bytes (so it takes several 256 KiB chunks) and record its new sha256 and size.
    The bytes after the MP4's last box are ignored by players; the upload only moves them."""
    path = Path(video.file.path)
    with path.open("ab") as out:
        out.write(os.urandom(size - path.stat().st_size))
    data = path.read_bytes()
    Video.objects.filter(pk=video.pk).update(file_size=len(data), file_sha256=hashlib.sha256(data).hexdigest())
    video.refresh_from_db()


def journal_of(env: dict[str, str], video: Video) -> dict[str, Any]:
    path = Path(env["UPLOADER_STATE_DIR"]) / "journal" / f"{video.pk}.json"
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def events(video: Video) -> list[tuple[str, str]]:
    rows = UploadEvent.objects.filter(video=video).order_by("created_at", "id")
    return [(e.kind, e.detail) for e in rows]


def status_queries(youtube: FakeYouTube) -> list[dict[str, Any]]:
    return [
        r for r in youtube.requests
        if r["method"] == "PUT" and r["headers"].get("content-range", "").startswith("bytes */")
    ]  # fmt: skip


def uploader(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uploader", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_for(check: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_once_publishes_an_approved_video_with_its_metadata_thumbnail_and_captions(
    video: Video,
    youtube: FakeYouTube,
    environment: Callable[..., dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = environment()
    assert main(["status"], environ=env) == 0
    assert f"video {video.pk} {video.paper.title!r}: available" in capsys.readouterr().out

    assert main(["once", str(video.pk)], environ=env) == 0

    video.refresh_from_db()
    metadata = publishing.video_metadata(video)
    assert publishing.YOUTUBE_ID.match(video.youtube_id)
    assert f"Video {video.pk} is published: https://youtu.be/{video.youtube_id}" in capsys.readouterr().out
    on_youtube = youtube.videos[video.youtube_id]
    sent = metadata["youtube"]
    assert on_youtube["snippet"]["title"] == sent["snippet"]["title"] == video.paper.title
    assert on_youtube["snippet"]["description"] == sent["snippet"]["description"]
    assert on_youtube["status"]["publishAt"] == sent["status"]["publishAt"] == metadata["publish_at"]
    assert on_youtube["status"]["privacyStatus"] == "private"  # scheduled: YouTube makes it public at publishAt
    assert (on_youtube["sha256"], on_youtube["bytes"]) == (video.file_sha256, video.file_size)
    assert youtube.thumbnails[video.youtube_id] == Path(video.thumbnail.path).read_bytes()
    [track] = youtube.captions[video.youtube_id]
    assert (track["snippet"]["language"], track["snippet"]["name"], track["snippet"]["isDraft"]) == (
        "en", "Narration", False
    )  # fmt: skip
    assert track["body"] == Path(video.srt.path).read_bytes()
    assert youtube.inserts_started == 1

    # papercast: published with that id, and the history says who did what.
    assert publishing.video_status(video) == "published"
    assert Paper.objects.get(pk=video.paper_id).curation_status == CurationStatus.PUBLISHED
    assert [kind for kind, _ in events(video)] == ["claimed", "published"]
    assert events(video)[-1][1] == video.youtube_id

    journal_path = Path(env["UPLOADER_STATE_DIR"]) / "journal" / f"{video.pk}.json"
    journal = journal_of(env, video)
    assert (journal["state"], journal["youtube_id"]) == ("published", video.youtube_id)
    assert journal["steps"] == {"thumbnail": "done", "caption": "done", "playlist": "skipped: no playlist set"}
    assert stat.S_IMODE(journal_path.stat().st_mode) == 0o600
    assert not (Path(env["UPLOADER_STATE_DIR"]) / "downloads" / str(video.pk)).exists()  # cleaned up
    assert "resuming" not in caplog.text  # a fresh upload and fresh downloads are not said to resume

    # Again: nothing is uploaded twice.
    assert main(["once", str(video.pk)], environ=env) == 0
    assert youtube.inserts_started == 1 and len(youtube.videos) == 1
    assert main(["status"], environ=env) == 0
    assert f"video {video.pk}: published, YouTube {video.youtube_id}" in capsys.readouterr().out


def test_it_adds_the_video_to_a_playlist(
    video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]]
) -> None:
    env = {**environment(), "UPLOADER_PLAYLIST": "PLpapercast"}
    assert main(["once", str(video.pk)], environ=env) == 0
    video.refresh_from_db()
    [item] = youtube.playlist_items
    assert item["snippet"]["playlistId"] == "PLpapercast"
    assert item["snippet"]["resourceId"] == {"kind": "youtube#video", "videoId": video.youtube_id}


@pytest.mark.slow
def test_a_killed_upload_resumes_its_session_without_a_second_upload(
    video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    grow(video, 12 * GRANULE)
    youtube.chunk_delay = 0.15
    env = environment()
    first = uploader(["once", str(video.pk)], env, tmp_path / "first.log")
    try:
        wait_for(lambda: journal_of(env, video).get("bytes_sent", 0) >= 3 * GRANULE or first.poll() is not None,
                 "the first chunks")  # fmt: skip
        assert first.poll() is None, (tmp_path / "first.log").read_text()
    finally:
        first.kill()  # SIGKILL: no handler runs, as if the machine went down
        first.wait()
    killed = journal_of(env, video)
    assert killed["state"] == "uploading" and killed["session_uri"] and youtube.videos == {}
    youtube.chunk_delay = 0.0

    second = subprocess.run(
        [sys.executable, "-m", "uploader", "once", str(video.pk)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    assert "upload: resuming at" in second.stderr

    assert youtube.inserts_started == 1 and len(youtube.sessions) == 1
    [(youtube_id, on_youtube)] = youtube.videos.items()
    assert (on_youtube["sha256"], on_youtube["bytes"]) == (video.file_sha256, video.file_size)
    # The second run asked the session how far it got and went on from there.
    [query] = status_queries(youtube)
    after = youtube.requests[youtube.requests.index(query) + 1]
    assert int(after["headers"]["content-range"].split()[1].split("-")[0]) >= killed["bytes_sent"]
    video.refresh_from_db()
    assert video.youtube_id == youtube_id
    # The journal's lease still held: the second run renewed it rather than waiting for it to run out.
    assert [kind for kind, _ in events(video)] == ["claimed", "renewed", "published"]


@pytest.mark.slow
def test_sigterm_stops_between_chunks_keeping_the_lease_and_the_next_start_resumes(
    video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    grow(video, 12 * GRANULE)
    youtube.chunk_delay = 0.15
    env = environment()
    log = tmp_path / "run.log"
    running = uploader(["run"], env, log)
    try:
        wait_for(lambda: journal_of(env, video).get("bytes_sent", 0) >= 2 * GRANULE or running.poll() is not None,
                 "the first chunks")  # fmt: skip
        running.send_signal(signal.SIGTERM)
        assert running.wait(timeout=30) == 0, log.read_text()
    finally:
        running.kill()
    assert "SIGTERM: stopping" in log.read_text() and "resumes the same upload" in log.read_text()
    stopped = journal_of(env, video)
    assert stopped["state"] == "uploading" and stopped["bytes_sent"] < video.file_size
    video.refresh_from_db()
    assert video.lease_id is not None and str(video.lease_id) == stopped["lease"]  # kept: nobody else starts over

    youtube.chunk_delay = 0.0
    assert main(["run", "--exit-when-idle"], environ=env) == 0
    video.refresh_from_db()
    assert youtube.inserts_started == 1 and list(youtube.videos) == [video.youtube_id]


@pytest.mark.slow
def test_two_uploaders_racing_publish_each_video_exactly_once(
    video: Video, second_video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    youtube.chunk_delay = 0.05
    envs = [environment("bob", "state-a"), environment("alice", "state-b")]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    racers = [uploader(["run", "--exit-when-idle"], env, log) for env, log in zip(envs, logs, strict=True)]
    for racer, log in zip(racers, logs, strict=True):
        assert racer.wait(timeout=180) == 0, log.read_text()

    assert youtube.inserts_started == 2 and len(youtube.videos) == 2
    published = [Video.objects.get(pk=v.pk) for v in (video, second_video)]
    assert {v.youtube_id for v in published} == set(youtube.videos)
    for one in published:
        assert [kind for kind, _ in events(one)].count("published") == 1
        assert youtube.videos[one.youtube_id]["sha256"] == one.file_sha256
    # Each uploader journaled only the videos it claimed and published (the other's claims it left alone).
    for env, user in zip(envs, ("bob", "alice"), strict=True):
        journals = {int(p.stem) for p in (Path(env["UPLOADER_STATE_DIR"]) / "journal").glob("*.json")}
        assert journals == {v.pk for v in published if v.published_by and v.published_by.username == user}


@pytest.mark.slow
def test_quota_exceeded_fails_the_video_with_the_reason_and_pauses_the_loop(
    video: Video, second_video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]]
) -> None:
    youtube.script = ["quotaExceeded"]
    settings = settings_from(environment())
    stop = StopFlag()
    publisher = Publisher(settings, stop=stop)
    results: list[int] = []
    loop = threading.Thread(target=lambda: results.append(publisher.run()), daemon=True)
    loop.start()
    try:
        wait_for((settings.state_dir / "quota.json").exists, "the quota pause")
        time.sleep(1.0)  # at 0.2 s a pass, an unpaused loop would have claimed the second video by now
        assert loop.is_alive()
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive() and results == [0]

    first = Video.objects.get(pk=video.pk)
    assert [kind for kind, _ in events(first)] == ["claimed", "failed"]
    assert "quotaExceeded" in events(first)[-1][1] and "quotaExceeded" in first.last_failure
    assert first.lease_id is None and first.upload_failures == 1  # released: it can be claimed after the reset
    assert events(second_video) == []
    assert youtube.inserts_started == 0 and youtube.videos == {}
    pause = json.loads((settings.state_dir / "quota.json").read_text())
    until = datetime.fromisoformat(pause["until"])
    assert pause["reason"] == "quotaExceeded"
    assert datetime.now(UTC) < until <= datetime.now(UTC) + timedelta(hours=24, minutes=2)


def test_once_at_the_upload_limit_says_when_to_try_again(
    video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    youtube.script = ["uploadLimitExceeded"]
    assert main(["once", str(video.pk)], environ=environment()) == 3
    err = capsys.readouterr().err
    assert "uploadLimitExceeded" in err and "until the quota resets at" in err and "UTC" in err
    video.refresh_from_db()
    assert "uploadLimitExceeded" in video.last_failure and video.lease_id is None


@pytest.mark.parametrize("fault", ["503", "drop", "partial"])
def test_a_chunk_that_fails_mid_upload_is_retried_in_the_same_session(
    fault: str, video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]]
) -> None:
    grow(video, 6 * GRANULE)
    youtube.chunk_delay = 0.1

    def inject() -> None:  # the fault hits a chunk after the first two were kept
        def kept() -> int:
            with youtube.lock:
                return max((len(s["received"]) for s in youtube.sessions.values()), default=0)

        wait_for(lambda: kept() >= 2 * GRANULE, "two chunks")
        youtube.script.append(fault)

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    assert main(["once", str(video.pk)], environ=environment()) == 0
    injector.join(timeout=5)

    assert youtube.script == []  # the fault was served
    assert youtube.inserts_started == 1 and len(youtube.sessions) == 1
    video.refresh_from_db()
    assert youtube.videos[video.youtube_id]["sha256"] == video.file_sha256
    if fault != "partial":  # a 308 that keeps half the chunk needs no question: it says how much it kept
        assert status_queries(youtube)


@pytest.mark.parametrize("step", ["thumbnail", "caption"])
def test_a_refused_thumbnail_or_caption_still_publishes_and_says_so(
    step: str,
    video: Video,
    youtube: FakeYouTube,
    environment: Callable[..., dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    youtube.script = [f"{step}_forbidden"]  # 403 forbidden, as for a channel that is not verified
    env = environment()
    assert main(["once", str(video.pk)], environ=env) == 0
    video.refresh_from_db()
    assert publishing.video_status(video) == "published" and video.youtube_id in youtube.videos
    out = capsys.readouterr().out
    assert f"but its {step} was not added" in out and "403 forbidden" in out
    journal = journal_of(env, video)
    assert journal["steps"][step].startswith("failed: YouTube refused") and "403 forbidden" in journal["steps"][step]
    other = "caption" if step == "thumbnail" else "thumbnail"
    assert journal["steps"][other] == "done"
    assert video.youtube_id not in (youtube.thumbnails if step == "thumbnail" else youtube.captions)


def test_refused_credentials_say_to_log_in_again(
    video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**environment(), "UPLOADER_YOUTUBE_ACCESS_TOKEN": "expired-token"}
    assert main(["once", str(video.pk)], environ=env) == 2
    assert "python -m uploader login" in capsys.readouterr().err
    video.refresh_from_db()
    assert "credentials" in video.last_failure and video.lease_id is None and youtube.inserts_started == 0


@pytest.mark.slow
def test_a_lost_lease_stops_the_upload_releases_nothing_and_the_same_machine_finishes_later(
    video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]], users: dict[str, User]
) -> None:
    grow(video, 10 * GRANULE)
    youtube.chunk_delay = 0.1
    env = environment()
    settings = settings_from(env)
    hours = [0.0]

    def clock() -> float:  # every look at the clock is 6 minutes later: a 30-minute lease needs renewing soon
        hours[0] += 0.1
        return hours[0] * 3600

    outcomes: list[Outcome] = []
    upload = threading.Thread(
        target=lambda: outcomes.append(Publisher(settings, clock=clock).publish(video.pk)), daemon=True
    )
    upload.start()
    wait_for(lambda: journal_of(env, video).get("bytes_sent", 0) >= 2 * GRANULE, "the first chunks")
    # The lease runs out and alice's uploader claims the video (at once: bob's cannot slip in between).
    with transaction.atomic():
        Video.objects.filter(pk=video.pk).update(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        alices = publishing.video_claim(Video.objects.get(pk=video.pk), user=users["alice"], seconds=600)
    upload.join(timeout=60)

    assert outcomes == [Outcome.LEASE_LOST]
    kinds = [kind for kind, _ in events(video)]
    # papercast writes a renewal's event after the renewal itself, outside its transaction: a renewal that
    # went through just before alice's claim may be recorded just after it.
    assert kinds[0] == "claimed" and "renewed" in kinds and kinds.count("claimed") == 2 and "failed" not in kinds
    assert kinds[-1] == "claimed" or kinds[-2:] == ["claimed", "renewed"]
    video.refresh_from_db()
    assert video.lease_id == alices.lease_id and video.youtube_id == ""  # alice's lease was left alone
    lost = journal_of(env, video)
    assert lost["state"] == "uploading" and lost["session_uri"] and "lease is lost" in lost["error"]
    assert youtube.videos == {}

    # alice gives the video back; this machine claims it again and finishes the same session.
    publishing.video_fail(
        Video.objects.get(pk=video.pk), user=users["alice"], reason="handing back", lease=alices.lease_id
    )
    youtube.chunk_delay = 0.0
    assert main(["once", str(video.pk)], environ=env) == 0
    video.refresh_from_db()
    assert youtube.inserts_started == 1 and list(youtube.videos) == [video.youtube_id]
    assert youtube.videos[video.youtube_id]["sha256"] == video.file_sha256


class UnreachableOnce(Papercast):
    """papercast's client, whose first `published` report finds papercast unreachable (after its retries)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.down = 1

    def published(self, video: int, youtube_id: str, lease: str) -> dict[str, Any]:
        if self.down:
            self.down -= 1
            raise PapercastUnavailable("cannot reach papercast: the test took it away")
        return super().published(video, youtube_id, lease)


def test_a_video_on_youtube_that_papercast_could_not_record_keeps_its_lease_and_is_recorded_next(
    video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]]
) -> None:
    # Reporting `failed` would release the lease, and another uploader would upload the video a second time.
    settings = settings_from(environment())
    api = UnreachableOnce(settings.papercast_url, settings.papercast_token, retry_seconds=0)
    publisher = Publisher(settings, api=api)
    assert publisher.publish(video.pk) == Outcome.FAILED

    video.refresh_from_db()
    journal = journal_of({"UPLOADER_STATE_DIR": str(settings.state_dir)}, video)
    assert journal["state"] == "uploaded" and journal["youtube_id"] in youtube.videos
    assert video.lease_id is not None and str(video.lease_id) == journal["lease"]  # held, not released
    assert [kind for kind, _ in events(video)] == ["claimed"] and video.upload_failures == 0

    assert publisher.candidates() == [video.pk]  # the next pass, not minutes later
    assert publisher.publish(video.pk) == Outcome.PUBLISHED
    video.refresh_from_db()
    assert video.youtube_id == journal["youtube_id"] and youtube.inserts_started == 1
    assert [kind for kind, _ in events(video)] == ["claimed", "renewed", "published"]


def test_a_new_mp4_after_a_download_that_was_never_sent_is_uploaded(
    video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]]
) -> None:
    # The journal has the sha256 of an earlier download (its upload never started: e.g. the quota ran out).
    env = environment()
    journals = Path(env["UPLOADER_STATE_DIR"]) / "journal"
    journals.mkdir(parents=True)
    earlier = {"video": video.pk, "papercast_url": env["PAPERCAST_URL"], "state": "claimed", "file_sha256": "0" * 64}
    (journals / f"{video.pk}.json").write_text(json.dumps(earlier))
    assert main(["once", str(video.pk)], environ=env) == 0
    video.refresh_from_db()
    assert youtube.videos[video.youtube_id]["sha256"] == video.file_sha256


def test_a_token_papercast_refuses_says_so_and_exits_2(
    video: Video, youtube: FakeYouTube, environment: Callable[..., dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    # `run` used to poll on, logging the refusal every minute; systemd's RestartPreventExitStatus=2 applies now.
    env = {**environment(), "PAPERCAST_TOKEN": "not-a-token"}
    assert main(["once", str(video.pk)], environ=env) == 2
    assert "PAPERCAST_TOKEN" in capsys.readouterr().err
    assert main(["run"], environ=env) == 2
    assert main(["status"], environ=env) == 2
    assert "papercast refused the API token" in capsys.readouterr().out
    assert events(video) == [] and youtube.inserts_started == 0
