"""`python -m uploader login | run | once VIDEO_ID | status`.

Exit status: 0 done (`once`: the video is published; `run`: stopped, or idle with --exit-when-idle); 1 the
video was not published (failed, skipped, stopped, stuck) or papercast could not be asked; 2 a setting is
missing, papercast refuses the API token or YouTube wants a new login; 3 YouTube's quota is used up until it
resets.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlparse

from uploader.config import ConfigError, Settings, settings_from
from uploader.journal import PUBLISHED
from uploader.papercast import PapercastError, PapercastUnavailable
from uploader.progress import size
from uploader.publisher import NeedsLogin, Outcome, Publisher, QuotaPause, StopFlag
from uploader.youtube import SCOPES, Backoff, YouTubeError, client, retrying, save_credentials

log = logging.getLogger("uploader")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m uploader",
        description="Publish approved papercast videos to YouTube (see README.md, 'The YouTube uploader').",
    )
    parser.add_argument("--url", help="papercast's address (PAPERCAST_URL)")
    parser.add_argument("--token-file", help="a file holding the papercast API token (PAPERCAST_TOKEN_FILE)")
    parser.add_argument("--state-dir", help="journals, downloads, the YouTube token (UPLOADER_STATE_DIR)")
    parser.add_argument("--client-secrets", help="the Google OAuth client's JSON (UPLOADER_CLIENT_SECRETS)")
    parser.add_argument("--youtube-endpoint", help="another YouTube API address, for tests (UPLOADER_YOUTUBE_ENDPOINT)")
    parser.add_argument(
        "--chunk-mb", type=float, help="upload chunk size in MiB, a multiple of 0.25 (UPLOADER_CHUNK_MB)"
    )
    parser.add_argument("--playlist", help="add each video to this playlist id (UPLOADER_PLAYLIST)")
    parser.add_argument("--lease-seconds", type=int, help="how long a claim lasts (UPLOADER_LEASE_SECONDS)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    login = commands.add_parser("login", help="authorise the uploader for a YouTube channel (OAuth)")
    login.add_argument("--port", type=int, default=8080, help="the local port Google redirects to (default 8080)")
    login.add_argument("--console", action="store_true", help="paste the redirected address instead")

    run = commands.add_parser("run", help="poll papercast and publish what is approved, until stopped")
    run.add_argument("--interval", type=float, help="seconds between polls (UPLOADER_INTERVAL, default 60)")
    run.add_argument("--exit-when-idle", action="store_true", help="stop once a pass finds nothing to publish")

    once = commands.add_parser("once", help="publish one video now")
    once.add_argument("video", type=int, metavar="VIDEO_ID")

    commands.add_parser("status", help="the local journal and what papercast says")
    return parser


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("uploader").setLevel(logging.DEBUG if verbose else logging.INFO)
    # googleapiclient logs each retry of its own at WARNING; ours say the same with the backoff.
    logging.getLogger("googleapiclient.http").setLevel(logging.ERROR)


@contextmanager
def stop_on_signals(stop: StopFlag) -> Iterator[None]:
    """SIGTERM or Ctrl-C asks for a stop between two chunks (the upload can be resumed); a second Ctrl-C
    interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        sys.stderr.write(f"\n{signal.Signals(signum).name}: stopping after this chunk (Ctrl-C again to abort).\n")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        settings = settings_from(
            os.environ if environ is None else environ,
            url=args.url,
            token_file=args.token_file,
            state_dir=args.state_dir,
            client_secrets=args.client_secrets,
            youtube_endpoint=args.youtube_endpoint,
            chunk_mb=args.chunk_mb,
            playlist=args.playlist,
            interval=getattr(args, "interval", None),
            lease_seconds=args.lease_seconds,
            need_papercast=args.command != "login",
        )
    except ConfigError as exc:
        print(f"uploader: {exc}", file=sys.stderr)
        return 2
    if args.command == "login":
        return login(settings, port=args.port, console=args.console)
    stop = StopFlag()
    publisher = Publisher(settings, stop=stop)
    if args.command == "status":
        return status(settings, publisher)
    with stop_on_signals(stop):
        if args.command == "run":
            return publisher.run(exit_when_idle=args.exit_when_idle)
        return once(publisher, args.video)


def once(publisher: Publisher, video: int) -> int:
    stopped_by: Exception | None = None
    try:
        outcome = publisher.publish(video)
    except QuotaPause as exc:
        publisher.pause_for_quota(exc)
        outcome, stopped_by = Outcome.FAILED, exc
    except NeedsLogin as exc:
        outcome, stopped_by = Outcome.FAILED, exc
    except (PapercastError, PapercastUnavailable) as exc:
        print(f"uploader: video {video}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, PapercastError) and exc.token_refused else 1
    journal = publisher.journals.load(video)
    if journal is not None and journal.state == PUBLISHED:
        # Published, possibly with a step refused on the way (a quota or login problem comes after).
        print(f"Video {video} is published: https://youtu.be/{journal.youtube_id}")
        for step, result in journal.partial_failures.items():
            print(f"  but its {step} was not added: {result}")
        if stopped_by is not None:
            print(f"uploader: {stopped_by}", file=sys.stderr)
        return 0
    if isinstance(stopped_by, QuotaPause):
        print(f"uploader: video {video} was not published: {stopped_by}", file=sys.stderr)
        return 3
    if stopped_by is not None:
        print(f"uploader: video {video} was not published: {stopped_by}", file=sys.stderr)
        return 2
    print(f"uploader: video {video} was not published ({outcome.value}); see the log above.", file=sys.stderr)
    return 1


# --- login ----------------------------------------------------------------------------------------------------


def login(settings: Settings, *, port: int, console: bool) -> int:
    from google_auth_oauthlib.flow import InstalledAppFlow

    secrets = settings.client_secrets
    if not secrets.exists():
        print(
            f"uploader: no OAuth client at {secrets}. Create a 'Desktop app' OAuth client in the Google Cloud "
            "console (APIs & Services > Credentials), download its JSON there, or point UPLOADER_CLIENT_SECRETS "
            "at it.",
            file=sys.stderr,
        )
        return 2
    flow = InstalledAppFlow.from_client_secrets_file(str(secrets), scopes=SCOPES)
    creds: Any = None
    if not console:
        try:
            creds = flow.run_local_server(
                host="localhost",
                port=port,
                open_browser=False,
                authorization_prompt_message=(
                    "Open this address in a browser and allow access to the channel (on another machine, first "
                    f"forward the port: ssh -L {port}:localhost:{port} THIS-HOST):\n{{url}}"
                ),
                access_type="offline",
                prompt="consent",
            )
        except OSError as exc:
            print(f"Cannot listen on localhost:{port} ({exc.strerror}); pasting the address instead.", file=sys.stderr)
    if creds is None:
        creds = console_login(flow, port)
    save_credentials(creds, settings.token_file)
    print(f"Saved the YouTube credentials to {settings.token_file} (readable by you only).")
    api = client(creds, settings.youtube_endpoint)
    try:
        channels = retrying(
            lambda: api.channels().list(part="snippet", mine=True).execute(),
            "naming the channel",
            Backoff(max_retries=2),
        )
    except YouTubeError as exc:
        # Naming the channel is a courtesy: the login itself succeeded.
        print(f"(Could not name the channel: {exc})", file=sys.stderr)
        return 0
    for channel in channels.get("items", []):
        print(f"Uploads will go to the channel {channel['snippet']['title']!r} ({channel['id']}).")
    return 0


def console_login(flow: Any, port: int) -> Any:
    """No local server: the browser is sent to a localhost address that does not answer, and the person
    pastes that address (it carries the authorisation code)."""
    flow.redirect_uri = f"http://localhost:{port}/"
    url, _ = flow.authorization_url(access_type="offline", prompt="consent")
    print(
        "Open this address in a browser and allow access to the channel:\n"
        f"{url}\n"
        "The browser then fails to open a localhost page: copy the whole address from its address bar."
    )
    answer = input("Paste the address (or just the code): ").strip()
    code = parse_qs(urlparse(answer).query).get("code", [answer])[0] if answer.startswith("http") else answer
    flow.fetch_token(code=code)
    return flow.credentials


# --- status ---------------------------------------------------------------------------------------------------


def status(settings: Settings, publisher: Publisher) -> int:
    print(f"State directory: {settings.state_dir}")
    pause = publisher.quota_pause()
    if pause:
        until = datetime.fromisoformat(pause["until"]).astimezone(UTC)
        print(f"YouTube quota: used up ({pause['reason']}) until {until:%Y-%m-%d %H:%M} UTC; `run` waits for it.")
    journals = publisher.journals.all()
    print(f"Local journal: {len(journals)} video{'' if len(journals) == 1 else 's'}")
    for journal in journals:
        line = f"  video {journal.video}: {journal.state}"
        if journal.youtube_id:
            line += f", YouTube {journal.youtube_id}"
        elif journal.session_uri:
            total = f" of {size(journal.file_size)}" if journal.file_size else ""
            line += f", {size(journal.bytes_sent)}{total} uploaded"
        if journal.lease:
            line += f", lease {journal.lease}"
        steps = ", ".join(f"{step} {result}" for step, result in journal.steps.items() if result and step != "playlist")
        if steps and journal.youtube_id:
            line += f" ({steps})"
        if journal.error and journal.state != PUBLISHED:
            line += f"\n      last error: {journal.error}"
        print(line + f"  [{journal.updated_at}]")
    try:
        waiting = publisher.api.videos(status="approved", published="false")
        print(f"papercast ({settings.papercast_url}): {len(waiting)} approved video(s) waiting to be published")
        for video in waiting:
            lease = video.get("lease") or {}
            held = (
                f"lease held by {lease.get('holder')} until {lease.get('expires_at')}"
                if lease.get("held")
                else "available"
            )
            failures = (
                f", {video['upload_failures']} failed upload(s): {video.get('last_failure')}"
                if video.get("upload_failures")
                else ""
            )
            print(f"  video {video['id']} {video.get('title')!r}: {held}{failures}")
        for journal in journals:
            if journal.state != PUBLISHED and journal.video not in {v["id"] for v in waiting}:
                video = publisher.api.video(journal.video)
                youtube_id = video.get("youtube_id") or "-"
                print(f"  video {journal.video}: papercast says {video.get('status')}, YouTube id {youtube_id}")
    except (PapercastError, PapercastUnavailable) as exc:
        print(f"papercast: cannot ask ({exc})")
        return 2 if isinstance(exc, PapercastError) and exc.token_refused else 1
    return 0
