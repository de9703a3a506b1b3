"""The uploader's parts on their own (no papercast server): settings, the journal, the lease's renewal, the
quota clock, the retry policy, YouTube's error reasons, progress output and the OAuth token's refresh."""

from __future__ import annotations

import io
import json
import logging
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError

from tests.fakes.serve import serve
from uploader import config, youtube
from uploader.cli import main
from uploader.journal import PUBLISHED, STUCK, UPLOADED, Journal, JournalStore
from uploader.lease import Lease, LeaseLost
from uploader.papercast import Claim, DownloadError, Papercast, PapercastError, PapercastUnavailable
from uploader.progress import Progress
from uploader.publisher import NeedsLogin, Outcome, Publisher, link_expires_soon, quota_resets_at

REPO = Path(__file__).resolve().parents[2]


def test_it_imports_no_django() -> None:
    for path in (REPO / "uploader").glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+(django|rest_framework|knox)", path.read_text(), re.M), path
    code = "import sys, uploader.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def test_it_rounds_the_chunk_size_to_256_kib() -> None:
    assert config.chunk_bytes(8) == 8 * 1024 * 1024
    assert config.chunk_bytes(0.25) == 256 * 1024
    assert config.chunk_bytes(0.1) == 256 * 1024  # never under YouTube's smallest chunk
    assert config.chunk_bytes(1.3) == 5 * 256 * 1024
    with pytest.raises(config.ConfigError):
        config.chunk_bytes(0)


def test_its_flags_win_over_the_environment(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("pc_from_file\n")
    environ = {
        "PAPERCAST_URL": "https://papercast.example.org/",
        "PAPERCAST_TOKEN_FILE": str(token_file),
        "UPLOADER_STATE_DIR": str(tmp_path / "state"),
        "UPLOADER_CHUNK_MB": "2",
        "UPLOADER_PLAYLIST": "PL123",
        "UPLOADER_INTERVAL": "30",
        "UPLOADER_YOUTUBE_ENDPOINT": "https://127.0.0.1:9/",
    }
    settings = config.settings_from(environ, chunk_mb=0.5, interval=0)
    assert settings.papercast_url == "https://papercast.example.org"
    assert settings.papercast_token == "pc_from_file"
    assert settings.chunk_bytes == 512 * 1024 and settings.interval == 0
    assert settings.playlist == "PL123" and settings.youtube_endpoint == "https://127.0.0.1:9/"
    assert settings.client_secrets == tmp_path / "state" / "client_secret.json"
    assert settings.token_file == tmp_path / "state" / "youtube-token.json"
    default = config.settings_from({"PAPERCAST_URL": "http://x", "PAPERCAST_TOKEN": "t", "HOME": str(tmp_path)})
    assert default.state_dir == tmp_path / ".local" / "state" / "papercast-uploader"
    assert default.chunk_bytes == 8 * 1024 * 1024 and default.lease_seconds == 1800


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "PAPERCAST_URL"),
        ({"PAPERCAST_URL": "papercast.example.org", "PAPERCAST_TOKEN": "t"}, "http://"),
        ({"PAPERCAST_URL": "http://x"}, "PAPERCAST_TOKEN"),
        ({"PAPERCAST_URL": "http://x", "PAPERCAST_TOKEN": "t", "UPLOADER_CHUNK_MB": "lots"}, "UPLOADER_CHUNK_MB"),
        ({"PAPERCAST_URL": "http://x", "PAPERCAST_TOKEN": "t", "UPLOADER_LEASE_SECONDS": "10"}, "at least 60"),
        # nan passed every check and made `run` poll without a pause
        ({"PAPERCAST_URL": "http://x", "PAPERCAST_TOKEN": "t", "UPLOADER_INTERVAL": "nan"}, "UPLOADER_INTERVAL"),
        ({"PAPERCAST_URL": "http://x", "PAPERCAST_TOKEN": "t", "UPLOADER_RETRY_SECONDS": "inf"}, "finite"),
    ],
)
def test_it_names_the_setting_that_is_wrong(environ: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.settings_from(environ)


def test_login_needs_no_papercast_settings(tmp_path: Path) -> None:
    settings = config.settings_from({"UPLOADER_STATE_DIR": str(tmp_path)}, need_papercast=False)
    assert settings.token_file == tmp_path / "youtube-token.json"


def test_the_journal_is_written_whole_and_private(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "journal")
    assert store.load(7) is None and store.all() == []
    journal = Journal(video=7, lease="L", session_uri="https://upload/x?upload_id=1", bytes_sent=262144)
    store.save(journal)
    path = store.path(7)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["7.json"]  # no temporary file left behind
    again = store.load(7)
    assert again is not None and again.session_uri == journal.session_uri and again.bytes_sent == 262144
    assert again.started_upload and again.steps == {"thumbnail": None, "caption": None, "playlist": None}
    store.save(Journal(video=12))
    assert [j.video for j in store.all()] == [7, 12]
    # A journal written by a later version with a field this one does not know still loads.
    path.write_text(json.dumps({"video": 7, "state": "uploaded", "youtube_id": "abc", "future": 1}))
    loaded = store.load(7)
    assert loaded is not None and loaded.youtube_id == "abc"


@pytest.mark.parametrize(
    ("now", "resets"),
    [
        ("2025-01-15T12:00:00+00:00", "2025-01-16T08:01:00+00:00"),  # PST: midnight is 08:00 UTC
        ("2025-07-01T06:59:00+00:00", "2025-07-01T07:01:00+00:00"),  # PDT, a minute before midnight
        ("2025-07-01T07:00:30+00:00", "2025-07-02T07:01:00+00:00"),  # just after: the next day's
    ],
)
def test_the_quota_resets_at_pacific_midnight(now: str, resets: str) -> None:
    assert quota_resets_at(datetime.fromisoformat(now)) == datetime.fromisoformat(resets)


class StubApi:
    """The two lease calls of papercast's client, answering from a script."""

    def __init__(self, renewals: list[Claim | PapercastError | PapercastUnavailable], claims: list[Any]) -> None:
        self.renewals = renewals
        self.claims = claims
        self.calls: list[tuple[str, str | None]] = []

    def renew(self, video: int, lease: str, seconds: int) -> Claim:
        self.calls.append(("renew", lease))
        answer = self.renewals.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def claim(self, video: int, seconds: int) -> Claim:
        self.calls.append(("claim", None))
        answer = self.claims.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lease_with(api: StubApi, clock: Clock, changes: list[str]) -> Lease:
    return Lease(api, 5, Claim("L1", "", {}), seconds=900, clock=clock, on_change=changes.append)  # type: ignore[arg-type]


def test_the_lease_is_renewed_when_a_third_is_left() -> None:
    api, clock, changes = StubApi([Claim("L1", "", {"id": 5})], []), Clock(), []
    lease = lease_with(api, clock, changes)
    clock.now += 599
    lease.keep_alive()
    assert api.calls == []
    clock.now += 2  # 601 of 900 seconds gone: less than a third left
    lease.keep_alive()
    assert api.calls == [("renew", "L1")] and lease.id == "L1" and changes == []
    lease.keep_alive()
    assert len(api.calls) == 1  # renewed: the next renewal is 600 s away again


def test_a_lease_that_ran_out_is_claimed_again_and_a_taken_one_is_lost() -> None:
    expired = PapercastError(409, "lease_expired", "ran out")
    api, clock, changes = StubApi([expired], [Claim("L2", "", {})]), Clock(), []
    lease = lease_with(api, clock, changes)
    clock.now += 700
    lease.keep_alive()
    assert lease.id == "L2" and changes == ["L2"] and api.calls == [("renew", "L1"), ("claim", None)]

    taken = PapercastError(409, "not_lease_holder", "Lease L1 does not hold video 5 any more.")
    api, clock = StubApi([taken], []), Clock()
    lease = lease_with(api, clock, [])
    clock.now += 700
    with pytest.raises(LeaseLost, match="not_lease_holder"):
        lease.keep_alive()

    held = PapercastError(409, "lease_held", "Video 5 is being uploaded by alice")
    api, clock = StubApi([expired], [held]), Clock()
    lease = lease_with(api, clock, [])
    clock.now += 700
    with pytest.raises(LeaseLost, match="alice"):
        lease.keep_alive()


def test_a_renewal_answered_with_another_lease_is_a_lost_lease() -> None:
    # papercast reads the video again after renewing: a claim made in between shows in the answer. Taking that
    # lease for ours, the uploader reported `published` with it, over the other uploader's upload (a flaky
    # end-to-end test found it).
    api, clock, changes = StubApi([Claim("ALICES", "", {})], []), Clock(), []
    lease = lease_with(api, clock, changes)
    clock.now += 700
    with pytest.raises(LeaseLost, match="another uploader claimed the video"):
        lease.keep_alive()
    assert lease.id == "L1" and changes == []


def test_an_unreachable_papercast_does_not_stop_the_upload_and_is_asked_again() -> None:
    api, clock = StubApi([PapercastUnavailable("down"), Claim("L1", "", {})], []), Clock()
    lease = lease_with(api, clock, [])
    clock.now += 700
    lease.keep_alive()
    lease.keep_alive()
    assert api.calls == [("renew", "L1"), ("renew", "L1")]


def test_a_lease_that_runs_out_while_papercast_is_unreachable_stops_the_upload() -> None:
    # Uploading on would race whoever claims the video meanwhile: two finished uploads, two videos on YouTube.
    down = PapercastUnavailable("down")
    api, clock = StubApi([down, down, down], []), Clock()
    lease = lease_with(api, clock, [])
    clock.now += 700
    lease.keep_alive()  # 200 s left: carry on
    clock.now += 150
    lease.keep_alive()
    clock.now += 60  # 910 s of a 900 s lease
    with pytest.raises(LeaseLost, match="run out while papercast could not be reached"):
        lease.keep_alive()


def test_the_backoff_doubles_with_jitter_and_gives_up() -> None:
    waits: list[float] = []
    backoff = youtube.Backoff(max_retries=8, base=1.0, sleep=waits.append, rand=lambda: 1.0)
    for _ in range(8):
        backoff.failed("Uploading a chunk", "HTTP 503")
    assert waits == [2, 4, 8, 16, 32, 64, 64, 64]
    with pytest.raises(youtube.RetriesExhausted, match="9 times"):
        backoff.failed("Uploading a chunk", "HTTP 503")
    backoff.succeeded()
    backoff.failed("Uploading a chunk", "HTTP 503")
    assert waits[-1] == 2


def http_error(status: int, reason: str) -> HttpError:
    body = {"error": {"code": status, "message": "m", "errors": [{"reason": reason, "domain": "d", "message": "m"}]}}
    return HttpError(httplib2.Response({"status": status}), json.dumps(body).encode(), uri="https://x")


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (403, "quotaExceeded", youtube.QuotaExceeded),
        (400, "uploadLimitExceeded", youtube.QuotaExceeded),
        (401, "authError", youtube.AuthRejected),
        (403, "forbidden", youtube.AuthRejected),
        (400, "invalidTitle", youtube.YouTubeError),
    ],
)
def test_it_reads_youtubes_reason(status: int, reason: str, kind: type[youtube.YouTubeError]) -> None:
    error = youtube.classify(http_error(status, reason), "the upload")
    assert type(error) is kind and error.reason == reason and error.status == status
    if kind is youtube.AuthRejected:
        assert "python -m uploader login" in str(error)


def test_retrying_retries_5xx_and_connection_errors_only() -> None:
    answers: list[Any] = [http_error(503, "backendError"), ConnectionResetError(), "ok"]

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    backoff = youtube.Backoff(sleep=lambda _: None)
    assert youtube.retrying(call, "x", backoff) == "ok" and backoff.failures == 0
    answers = [http_error(403, "quotaExceeded"), "never"]
    with pytest.raises(youtube.QuotaExceeded):
        youtube.retrying(call, "x", backoff)


def test_progress_is_a_bar_on_a_terminal_and_tenths_in_a_log(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    screen = io.StringIO()
    bar = Progress("Video 1 upload", stream=screen, tty=True, clock=clock)
    bar.update(0, 4 * 1024 * 1024)
    clock.now += 2
    bar.update(1024 * 1024, 4 * 1024 * 1024)
    bar.close()
    lines = screen.getvalue().split("\r")
    assert "25%" in lines[-1] and "1.0 MiB/4.0 MiB" in lines[-1] and "512.0 KiB/s" in lines[-1]
    assert "ETA 0:06" in lines[-1] and screen.getvalue().endswith("\n")

    caplog.set_level(logging.INFO, logger="uploader")
    log = Progress("Video 1 upload", stream=io.StringIO(), tty=False, clock=clock)
    for done in range(0, 101):
        log.update(done, 100)
    assert len(caplog.records) == 11  # 0%, 10%, ..., 100%: a few lines in a service's log, not thousands
    assert "100%" in caplog.records[-1].getMessage() and "\r" not in caplog.text


class TokenEndpoint(BaseHTTPRequestHandler):
    """Google's OAuth token endpoint, for a refresh: grant_type=refresh_token in, a new access token out."""

    seen: list[dict[str, list[str]]] = []

    def log_message(self, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.seen.append(form)
        answer = {"access_token": "fresh-token", "expires_in": 3600, "token_type": "Bearer"}
        if form.get("grant_type") == ["authorization_code"]:
            answer["refresh_token"] = "refresh-me"
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    TokenEndpoint.seen = []
    with serve(TokenEndpoint) as url:
        yield f"{url}/token"


def test_an_expired_token_is_refreshed_and_saved_again_privately(tmp_path: Path, token_endpoint: str) -> None:
    token_file = tmp_path / "youtube-token.json"
    expired = Credentials(  # what `login` saved an hour ago; google-auth fixes the token URI when it loads one
        token="old-token", refresh_token="refresh-me", token_uri=token_endpoint, scopes=youtube.SCOPES,
        client_id="id.apps.googleusercontent.com", client_secret="s",
        expiry=(datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None),
    )  # fmt: skip
    youtube.refresh_if_needed(expired, token_file)
    assert expired.token == "fresh-token" and expired.valid
    assert TokenEndpoint.seen[0]["grant_type"] == ["refresh_token"]
    assert TokenEndpoint.seen[0]["refresh_token"] == ["refresh-me"]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    loaded = youtube.load_credentials(token_file)  # valid now: used as it is, not refreshed again
    assert loaded.token == "fresh-token" and loaded.refresh_token == "refresh-me" and len(TokenEndpoint.seen) == 1


def test_missing_credentials_say_to_log_in(tmp_path: Path) -> None:
    with pytest.raises(youtube.AuthRejected, match="python -m uploader login"):
        youtube.load_credentials(tmp_path / "nothing.json")


def test_login_on_the_console_saves_the_channels_token_privately(
    tmp_path: Path, token_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "client_secret.json"
    secrets.write_text(
        json.dumps({
            "installed": {
                "client_id": "id.apps.googleusercontent.com", "client_secret": "s", "token_uri": token_endpoint,
                "auth_uri": "https://accounts.google.com/o/oauth2/auth", "redirect_uris": ["http://localhost"],
            }
        })
    )  # fmt: skip
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the stand-in token endpoint is plain HTTP
    pasted = "http://localhost:8080/?state=whatever&code=4%2Fthe-code&scope=x"
    monkeypatch.setattr("builtins.input", lambda prompt: pasted)
    environ = {"UPLOADER_STATE_DIR": str(tmp_path / "state"), "UPLOADER_CLIENT_SECRETS": str(secrets),
               "UPLOADER_YOUTUBE_ENDPOINT": token_endpoint.removesuffix("token")}  # fmt: skip
    assert main(["login", "--console"], environ=environ) == 0

    out = capsys.readouterr()
    assert "https://accounts.google.com/o/oauth2/auth?" in out.out and "youtube.upload" in out.out
    assert "access_type=offline" in out.out and "redirect_uri=http%3A%2F%2Flocalhost%3A8080%2F" in out.out
    assert TokenEndpoint.seen[0]["grant_type"] == ["authorization_code"] and TokenEndpoint.seen[0]["code"] == [
        "4/the-code"
    ]
    token_file = tmp_path / "state" / "youtube-token.json"
    saved = json.loads(token_file.read_text())
    assert (saved["token"], saved["refresh_token"]) == ("fresh-token", "refresh-me")
    assert set(saved["scopes"]) == set(youtube.SCOPES)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert "Could not name the channel" in out.err  # the stand-in is no YouTube; the login stands


# --- the publisher against a scripted papercast and YouTube -------------------------------------------------


class ScriptedPapercast:
    """papercast's client for the publisher: each call answers from `answers[name]` (a list, one per call: a value,
    or an exception to raise) and is recorded in `calls`. A call with no answer left fails the test."""

    def __init__(self, **answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _answer(self, name: str, *args: Any) -> Any:
        self.calls.append((name, args))
        queue = self.answers.get(name)
        assert queue, f"unexpected call {name}{args}"
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def renew(self, video: int, lease: str, seconds: int) -> Claim:
        return self._answer("renew", video, lease)  # type: ignore[no-any-return]

    def claim(self, video: int, seconds: int) -> Claim:
        return self._answer("claim", video)  # type: ignore[no-any-return]

    def video(self, video: int) -> dict[str, Any]:
        return self._answer("video", video)  # type: ignore[no-any-return]

    def ready(self) -> list[dict[str, Any]]:
        return self._answer("ready")  # type: ignore[no-any-return]

    def published(self, video: int, youtube_id: str, lease: str) -> dict[str, Any]:
        return self._answer("published", video, youtube_id, lease)  # type: ignore[no-any-return]

    def failed(self, video: int, reason: str, lease: str) -> dict[str, Any]:
        return self._answer("failed", video, lease)  # type: ignore[no-any-return]

    def download(self, link: dict[str, Any], target: Path, **kwargs: Any) -> Path:
        self._answer("download", link["url"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"\xff\xd8\xff")
        return target


class StubYouTube:
    """The channel's client for the steps: `refuse` maps a step's method to the error it raises."""

    def __init__(self, refuse: dict[str, Exception] | None = None) -> None:
        self.refuse = refuse or {}
        self.done: list[str] = []

    def _do(self, name: str) -> None:
        if name in self.refuse:
            raise self.refuse[name]
        self.done.append(name)

    def set_thumbnail(self, video_id: str, path: Path) -> None:
        self._do("set_thumbnail")

    def insert_caption(self, video_id: str, path: Path, *, language: str, name: str) -> None:
        self._do("insert_caption")

    def add_to_playlist(self, video_id: str, playlist: str) -> None:
        self._do("add_to_playlist")

    def persist(self) -> None:
        return None


class StubLease:
    def __init__(self, video: int = 7, details: dict[str, Any] | None = None) -> None:
        self.video = video
        self.id = "L1"
        self.details = details or {}

    def keep_alive(self) -> None:
        return None


PAPERCAST = "http://papercast.test"


def publisher_with(tmp_path: Path, api: ScriptedPapercast, youtube: StubYouTube | None = None) -> Publisher:
    settings = config.settings_from(
        {"PAPERCAST_URL": PAPERCAST, "PAPERCAST_TOKEN": "t", "UPLOADER_STATE_DIR": str(tmp_path / "state")}
    )
    return Publisher(settings, api=api, youtube=youtube or StubYouTube(), clock=Clock())  # type: ignore[arg-type]


def link(url: str, expires_at: str | None = None) -> dict[str, Any]:
    return {"url": url, "content_type": "image/jpeg", "size": None, "requires_auth": expires_at is None,
            "expires_at": expires_at}  # fmt: skip


def test_a_presigned_link_that_ran_out_during_the_upload_is_asked_for_again(tmp_path: Path) -> None:
    # S3's links last AWS_QUERYSTRING_EXPIRE (600 s by default); the claim's were handed out before the upload.
    past = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    soon = (datetime.now(UTC) + timedelta(seconds=20)).isoformat()
    later = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    assert link_expires_soon(link("x", past)) and link_expires_soon(link("x", soon))
    assert not link_expires_soon(link("x", later)) and not link_expires_soon(link("x"))
    fresh = {
        "files": {"thumbnail": link("https://s3/thumb?sig=new", later), "srt": link("https://s3/srt?sig=new", later)},
        "metadata": {"caption": {"language": "en", "name": "Narration"}},
    }
    api = ScriptedPapercast(video=[fresh], download=[None, None])
    youtube_ = StubYouTube()
    publisher = publisher_with(tmp_path, api, youtube_)
    details = {
        "files": {"thumbnail": link("https://s3/thumb?sig=old", past), "srt": link("https://s3/srt?sig=old", past)},
        "metadata": {"caption": {"language": "en", "name": "Narration"}},
    }
    journal = Journal(video=7, papercast_url=PAPERCAST, state=UPLOADED, youtube_id="dQw4w9WgXcQ")
    assert publisher._steps(details, journal, StubLease(details=details)) is None  # type: ignore[arg-type]
    assert journal.steps == {"thumbnail": "done", "caption": "done", "playlist": "skipped: no playlist set"}
    # One fresh look at the video, then both downloads with its links.
    assert api.calls == [("video", (7,)), ("download", ("https://s3/thumb?sig=new",)),
                         ("download", ("https://s3/srt?sig=new",))]  # fmt: skip
    assert youtube_.done == ["set_thumbnail", "insert_caption"]


def test_credentials_refused_while_adding_a_step_ask_for_a_new_login(tmp_path: Path) -> None:
    # A revoked refresh token has no HTTP status; a 403 `forbidden` is the channel's (an unverified one).
    revoked = youtube.AuthRejected("YouTube refused the saved credentials. Run login again.")
    forbidden = youtube.AuthRejected("YouTube refused setting the thumbnail: 403 forbidden", status=403)
    details = {"files": {"thumbnail": link("http://papercast.test/thumb")}}
    journal = Journal(video=7, papercast_url=PAPERCAST, state=UPLOADED, youtube_id="dQw4w9WgXcQ")
    publisher = publisher_with(tmp_path, ScriptedPapercast(download=[None]), StubYouTube({"set_thumbnail": revoked}))
    assert isinstance(publisher._steps(details, journal, StubLease(details=details)), NeedsLogin)  # type: ignore[arg-type]
    journal = Journal(video=7, papercast_url=PAPERCAST, state=UPLOADED, youtube_id="dQw4w9WgXcQ")
    publisher = publisher_with(tmp_path, ScriptedPapercast(download=[None]), StubYouTube({"set_thumbnail": forbidden}))
    assert publisher._steps(details, journal, StubLease(details=details)) is None  # type: ignore[arg-type]
    assert str(journal.steps["thumbnail"]).startswith("failed:")


def test_a_failure_report_that_cannot_be_sent_keeps_the_lease(tmp_path: Path) -> None:
    # Forgetting it would lock this uploader out of its own video (lease_held) until it ran out.
    api = ScriptedPapercast(failed=[PapercastUnavailable("down")])
    publisher = publisher_with(tmp_path, api)
    journal = Journal(video=7, papercast_url=PAPERCAST, lease="L1")
    publisher._fail(journal, StubLease(), "YouTube kept answering 503")  # type: ignore[arg-type]
    assert journal.lease == "L1" and journal.error == "YouTube kept answering 503"
    api = ScriptedPapercast(failed=[{}])
    publisher = publisher_with(tmp_path, api)
    publisher._fail(journal, StubLease(), "again")  # type: ignore[arg-type]
    assert journal.lease is None  # released


def test_a_video_on_youtube_is_never_reported_failed(tmp_path: Path) -> None:
    # `failed` releases the lease, and another uploader, with no journal of this one, would upload it again.
    api = ScriptedPapercast()  # any call fails the test
    publisher = publisher_with(tmp_path, api)
    journal = Journal(video=7, papercast_url=PAPERCAST, state=UPLOADED, youtube_id="dQw4w9WgXcQ", lease="L1")
    publisher._fail(journal, StubLease(), "cannot reach papercast")  # type: ignore[arg-type]
    assert api.calls == [] and journal.lease == "L1" and journal.state == UPLOADED
    assert 7 not in publisher.failures  # the next pass tries again, well within the lease


def test_a_youtube_id_papercast_will_not_record_leaves_the_video_stuck_not_the_pass(tmp_path: Path) -> None:
    taken = PapercastError(409, "youtube_id_taken", "YouTube id dQw4w9WgXcQ is recorded for video 3 already.")
    api = ScriptedPapercast(published=[taken])
    publisher = publisher_with(tmp_path, api)
    journal = Journal(video=7, papercast_url=PAPERCAST, state=UPLOADED, youtube_id="dQw4w9WgXcQ", lease="L1")
    journal.steps = dict.fromkeys(journal.steps, "done")
    assert publisher._publish_or_report(journal, StubLease()) == Outcome.STUCK  # type: ignore[arg-type]
    saved = publisher.journals.load(7)
    assert saved is not None and saved.state == STUCK and "youtube_id_taken" in str(saved.error)


def test_a_duplicate_is_reported_without_the_session_uri(tmp_path: Path) -> None:
    # The URI lets whoever holds it upload into the session: it stays in the 0600 journal, out of the log.
    api = ScriptedPapercast(video=[{"youtube_id": "otherVideo1"}])
    publisher = publisher_with(tmp_path, api)
    journal = Journal(video=7, papercast_url=PAPERCAST, session_uri="https://upload.example/x?upload_id=SECRET")
    assert publisher._published_elsewhere(journal) == Outcome.STUCK
    assert "otherVideo1" in str(journal.error) and "SECRET" not in str(journal.error)


def test_a_refused_claim_forgets_a_stale_lease_when_nothing_was_uploaded(tmp_path: Path) -> None:
    expired = PapercastError(409, "lease_expired", "ran out")
    unapproved = PapercastError(409, "not_approved", "Video 7 is not approved for publishing.")
    api = ScriptedPapercast(renew=[expired], claim=[unapproved])
    publisher = publisher_with(tmp_path, api)
    publisher.journals.save(Journal(video=7, papercast_url=PAPERCAST, lease="L1"))
    assert publisher.publish(7) == Outcome.SKIPPED
    saved = publisher.journals.load(7)
    assert saved is not None and saved.lease is None and "not_approved" in str(saved.error)
    api.answers["ready"] = [[]]
    assert publisher.candidates() == []  # not tried again on every pass


def test_a_restart_whose_renewal_answers_another_lease_leaves_the_video(tmp_path: Path) -> None:
    alices = Claim("ALICES", "2030-01-01T00:00:00Z", {"lease": {"held": True, "holder": "alice"}})
    api = ScriptedPapercast(renew=[alices])  # and nothing else: no download, no upload, no report
    publisher = publisher_with(tmp_path, api)
    publisher.journals.save(Journal(video=7, papercast_url=PAPERCAST, lease="L1", session_uri="https://upload/s"))
    assert publisher.publish(7) == Outcome.SKIPPED
    saved = publisher.journals.load(7)
    assert saved is not None and saved.lease == "L1" and api.calls == [("renew", (7, "L1"))]


def test_a_journal_of_another_papercast_is_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The same video number on another papercast (a staging one, say): its YouTube id is not this video's.
    api = ScriptedPapercast(ready=[[{"id": 7}], [{"id": 7}]])
    publisher = publisher_with(tmp_path, api)
    publisher.journals.save(
        Journal(video=7, papercast_url="http://staging.test", state=UPLOADED, youtube_id="dQw4w9WgXcQ", lease="L")
    )
    caplog.set_level(logging.INFO, logger="uploader")
    assert publisher.publish(7) == Outcome.STUCK
    assert "http://staging.test" in caplog.text and "UPLOADER_STATE_DIR" in caplog.text
    assert publisher.candidates() == [] and publisher.candidates() == []
    assert [name for name, _ in api.calls] == ["ready", "ready"]  # nothing claimed, nothing reported


def test_a_journal_that_says_published_is_not_a_candidate_each_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # papercast lists it again (its YouTube id was cleared): `run --exit-when-idle` used to count the journal's
    # "published" as work done, pass after pass, and never stop.
    api = ScriptedPapercast(ready=[[{"id": 7}], [{"id": 7}]])
    publisher = publisher_with(tmp_path, api)
    publisher.journals.save(Journal(video=7, papercast_url=PAPERCAST, state=PUBLISHED, youtube_id="dQw4w9WgXcQ"))
    caplog.set_level(logging.INFO, logger="uploader")
    assert publisher.candidates() == [] and publisher.candidates() == []
    assert caplog.text.count("Delete that journal to upload it again") == 1


def test_run_until_idle_fails_when_papercast_cannot_be_reached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A cron job must not read "nothing to publish" (exit 0) into a papercast that is down.
    environ = {"PAPERCAST_URL": "http://127.0.0.1:9", "PAPERCAST_TOKEN": "t", "UPLOADER_RETRY_SECONDS": "0",
               "UPLOADER_STATE_DIR": str(tmp_path)}  # fmt: skip
    assert main(["run", "--exit-when-idle"], environ=environ) == 1
    assert "cannot reach papercast at http://127.0.0.1:9" in caplog.text
    assert "Nothing (more) to publish" not in caplog.text


class FileServer(BaseHTTPRequestHandler):
    """A file of 3 MiB for downloads, or 403 (a presigned link that ran out) under /expired."""

    body = bytes(range(256)) * 4096 * 3

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        if self.path.startswith("/expired"):
            self.send_response(403)
            self.send_header("Content-Length", "13")
            self.end_headers()
            self.wfile.write(b"Access Denied")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def test_a_download_reports_its_start_and_keeps_a_signature_out_of_its_errors(tmp_path: Path) -> None:
    client = Papercast("http://papercast.test", "t", retry_seconds=0)
    seen: list[tuple[int, int | None]] = []
    with serve(FileServer) as url:
        size = len(FileServer.body)
        got = client.download(
            {"url": f"{url}/mp4", "size": size}, tmp_path / "v.mp4", on_progress=lambda d, t: seen.append((d, t))
        )
        assert got.read_bytes() == FileServer.body
        # First where it starts (0: a fresh download, so no "resuming at ..."), then block by block.
        assert seen[0] == (0, size) and seen[-1] == (size, size)
        presigned = {"url": f"{url}/expired/key?X-Amz-Signature=abc123secret", "requires_auth": False}
        with pytest.raises(DownloadError) as refused:
            client.download(presigned, tmp_path / "t.jpg")
    assert "403" in str(refused.value) and "abc123secret" not in str(refused.value)


def test_a_fresh_upload_is_not_logged_as_resumed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uploader")
    progress = Progress("Video 1 upload", stream=io.StringIO(), tty=False, clock=Clock())
    progress.update(0, 4 * 1024 * 1024)  # what the publisher says before the first chunk
    progress.update(1024 * 1024, 4 * 1024 * 1024)
    assert "resuming" not in caplog.text
    resumed = Progress("Video 1 upload", stream=io.StringIO(), tty=False, clock=Clock())
    resumed.update(2 * 1024 * 1024, 4 * 1024 * 1024)
    assert "resuming at 2.0 MiB of 4.0 MiB" in caplog.text
