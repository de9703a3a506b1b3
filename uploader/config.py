"""The uploader's settings: command-line flags first, then environment variables, then defaults.

Every environment variable the uploader reads is named here (and in README.md, "The YouTube uploader").
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CHUNK_UNIT = 256 * 1024  # YouTube's resumable protocol: every chunk but the last is a multiple of 256 KiB
DEFAULT_CHUNK_MB = 8.0
DEFAULT_INTERVAL = 60.0
DEFAULT_LEASE_SECONDS = 1800
DEFAULT_MAX_RETRIES = 10
DEFAULT_RETRY_SECONDS = 1.0


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and how to set it."""


@dataclass(frozen=True)
class Settings:
    papercast_url: str
    papercast_token: str
    state_dir: Path
    client_secrets: Path
    youtube_endpoint: str | None
    youtube_access_token: str | None
    chunk_bytes: int
    playlist: str | None
    interval: float
    lease_seconds: int
    max_retries: int
    retry_seconds: float

    @property
    def token_file(self) -> Path:
        """The YouTube OAuth token (`login` writes it; it holds a refresh token: 0600)."""
        return self.state_dir / "youtube-token.json"

    @property
    def journal_dir(self) -> Path:
        return self.state_dir / "journal"

    @property
    def download_dir(self) -> Path:
        return self.state_dir / "downloads"


def default_state_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".local" / "state")
    return Path(base) / "papercast-uploader"


def chunk_bytes(megabytes: float) -> int:
    """A chunk size in bytes: `megabytes` MiB rounded down to a multiple of 256 KiB (at least 256 KiB)."""
    if not megabytes > 0:
        raise ConfigError(
            f"UPLOADER_CHUNK_MB must be a positive number of MiB (0.25 is the smallest), not {megabytes}."
        )
    units = int(megabytes * 1024 * 1024) // CHUNK_UNIT
    return max(units, 1) * CHUNK_UNIT


def _number(name: str, value: str | float | None, default: float, *, minimum: float) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}.") from None
    if not math.isfinite(number):  # nan would make `run` poll without pause, inf wait for ever
        raise ConfigError(f"{name} must be a finite number, not {value!r}.")
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, not {value!r}.")
    return number


def _pick(flag: float | None, env: str | None) -> str | float | None:
    return flag if flag is not None else env


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def settings_from(
    environ: Mapping[str, str],
    *,
    url: str | None = None,
    token_file: str | None = None,
    state_dir: str | None = None,
    client_secrets: str | None = None,
    youtube_endpoint: str | None = None,
    chunk_mb: float | None = None,
    playlist: str | None = None,
    interval: float | None = None,
    lease_seconds: int | None = None,
    need_papercast: bool = True,
) -> Settings:
    """The settings for one command: each flag given wins over its environment variable.

    `need_papercast=False` (the `login` command) does not ask for papercast's URL and token.
    """
    papercast_url = _text(url) or _text(environ.get("PAPERCAST_URL")) or ""
    token = _text(environ.get("PAPERCAST_TOKEN"))
    token_path = _text(token_file) or _text(environ.get("PAPERCAST_TOKEN_FILE"))
    if token_file or (token_path and not token):
        try:
            token = _text(Path(os.path.expanduser(str(token_path))).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"Cannot read the papercast token file {token_path}: {exc.strerror}.") from None
    if need_papercast:
        if not papercast_url:
            raise ConfigError(
                "Set PAPERCAST_URL (or --url) to papercast's address, e.g. https://papercast.example.org."
            )
        if not papercast_url.startswith(("http://", "https://")):
            raise ConfigError(f"PAPERCAST_URL must start with http:// or https://, not {papercast_url!r}.")
        if not token:
            raise ConfigError(
                "Set PAPERCAST_TOKEN (or PAPERCAST_TOKEN_FILE / --token-file) to a papercast API token: "
                "POST /api/v1/auth/token/ or `python manage.py apitoken USER` on the server."
            )
    state = Path(os.path.expanduser(_text(state_dir) or _text(environ.get("UPLOADER_STATE_DIR")) or ""))
    if not str(state) or str(state) == ".":
        state = default_state_dir(environ)
    secrets = _text(client_secrets) or _text(environ.get("UPLOADER_CLIENT_SECRETS"))
    endpoint = _text(youtube_endpoint) or _text(environ.get("UPLOADER_YOUTUBE_ENDPOINT"))
    chunk = _number("UPLOADER_CHUNK_MB", _pick(chunk_mb, environ.get("UPLOADER_CHUNK_MB")), DEFAULT_CHUNK_MB, minimum=0)
    lease = _number(
        "UPLOADER_LEASE_SECONDS", _pick(lease_seconds, environ.get("UPLOADER_LEASE_SECONDS")), DEFAULT_LEASE_SECONDS,
        minimum=60,
    )  # fmt: skip
    return Settings(
        papercast_url=papercast_url.rstrip("/"),
        papercast_token=token or "",
        state_dir=state,
        client_secrets=Path(os.path.expanduser(secrets)) if secrets else state / "client_secret.json",
        youtube_endpoint=endpoint,
        youtube_access_token=_text(environ.get("UPLOADER_YOUTUBE_ACCESS_TOKEN")),
        chunk_bytes=chunk_bytes(chunk),
        playlist=_text(playlist) or _text(environ.get("UPLOADER_PLAYLIST")),
        interval=_number(
            "UPLOADER_INTERVAL", _pick(interval, environ.get("UPLOADER_INTERVAL")), DEFAULT_INTERVAL, minimum=0
        ),
        lease_seconds=int(lease),
        max_retries=int(
            _number("UPLOADER_MAX_RETRIES", environ.get("UPLOADER_MAX_RETRIES"), DEFAULT_MAX_RETRIES, minimum=0)
        ),
        retry_seconds=_number(
            "UPLOADER_RETRY_SECONDS", environ.get("UPLOADER_RETRY_SECONDS"), DEFAULT_RETRY_SECONDS, minimum=0
        ),
    )
