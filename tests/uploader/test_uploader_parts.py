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
from uploader.journal import Journal, JournalStore
from uploader.lease import Lease, LeaseLost
from uploader.papercast import Claim, PapercastError, PapercastUnavailable
from uploader.progress import Progress
from uploader.publisher import quota_resets_at

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


def test_an_unreachable_papercast_does_not_stop_the_upload_and_is_asked_again() -> None:
    api, clock = StubApi([PapercastUnavailable("down"), Claim("L1", "", {})], []), Clock()
    lease = lease_with(api, clock, [])
    clock.now += 700
    lease.keep_alive()
    lease.keep_alive()
    assert api.calls == [("renew", "L1"), ("renew", "L1")]


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
