"""papercast's API, as the uploader uses it: list, claim (and renew), download, report published or failed.

Every call sends `Authorization: Token <token>`. Calls that are safe to repeat (reads, renewing a named lease,
`published`, `failed` with a lease) are retried on connection errors, 5xx and 429 (honouring Retry-After); a
new claim is not: a claim whose answer was lost would hold a lease nobody knows the id of, so a failed one is
left to expire and tried again on the next pass.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

log = logging.getLogger("uploader")

BLOCK = 1024 * 1024
TIMEOUT = (10.0, 120.0)
AUTH_HINT = (
    "papercast refused the API token: set PAPERCAST_TOKEN (or PAPERCAST_TOKEN_FILE) to a valid token of an "
    "editor (POST /api/v1/auth/token/ or `python manage.py apitoken USER`)."
)


class PapercastError(Exception):
    """papercast answered with an error (`status`, its stable `code`, the `detail` for a person).

    `token_refused`: a 401, papercast does not take the token (no later pass fixes that)."""

    def __init__(self, status: int, code: str, detail: str, body: dict[str, Any] | None = None) -> None:
        hint = f" {AUTH_HINT}" if status == 401 else ""
        super().__init__(f"papercast answered {status} {code}: {detail}{hint}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body or {}

    @property
    def token_refused(self) -> bool:
        return self.status == 401


class PapercastUnavailable(Exception):
    """papercast could not be reached, or kept answering 5xx/429, after the retries."""


class DownloadError(Exception):
    """A download failed or did not match its sha256."""


@dataclass(frozen=True)
class Claim:
    lease: str
    expires_at: str
    video: dict[str, Any]


class Papercast:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        retries: int = 5,
        retry_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.base = url.rstrip("/") + "/api/v1/"
        self.retries = retries
        self.retry_seconds = retry_seconds
        self.sleep = sleep
        self.http = session or requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"
        self.http.headers["User-Agent"] = "papercast-uploader"

    def url(self, path: str) -> str:
        return urljoin(self.base, path)

    def _request(self, method: str, path: str, *, retry: bool, **kwargs: Any) -> dict[str, Any]:
        url = path if path.startswith(("http://", "https://")) else self.url(path)
        attempts = self.retries + 1 if retry else 1
        problem = ""
        for attempt in range(attempts):
            if attempt:
                self.sleep(random.random() * self.retry_seconds * 2**attempt)
            try:
                response = self.http.request(method, url, timeout=TIMEOUT, **kwargs)
            except requests.RequestException as exc:
                problem = f"cannot reach papercast at {url}: {exc}"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                problem = f"papercast answered {response.status_code} for {method} {url}"
                wait = response.headers.get("Retry-After", "")
                if response.status_code == 429 and wait.isdigit() and attempt + 1 < attempts:
                    self.sleep(float(wait))
                continue
            try:
                body = response.json()
            except ValueError:
                body = {}
            if response.status_code >= 400:
                if not isinstance(body, dict):
                    body = {}
                raise PapercastError(
                    response.status_code,
                    str(body.get("code") or response.status_code),
                    str(body.get("detail") or response.reason),
                    body,
                )
            return body if isinstance(body, dict) else {"results": body}
        raise PapercastUnavailable(problem)

    # --- reading ------------------------------------------------------------------------------------------

    def ready(self) -> list[dict[str, Any]]:
        """Approved, unpublished videos no lease holds now, oldest first (every page)."""
        return list(reversed(self.videos(status="approved", published="false", available="true")))

    def videos(self, **filters: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page: str | None = "videos/"
        params: dict[str, str] | None = {**filters, "page_size": "100"}
        while page:
            body = self._request("GET", page, retry=True, params=params)
            found.extend(body.get("results") or [])
            page, params = body.get("next"), None  # `next` carries the query
        return found

    def video(self, video: int) -> dict[str, Any]:
        return self._request("GET", f"videos/{int(video)}/", retry=True)

    # --- the lease protocol ---------------------------------------------------------------------------------

    def claim(self, video: int, seconds: int) -> Claim:
        body = self._request("POST", f"videos/{int(video)}/claim/", retry=False, json={"seconds": seconds})
        return Claim(str(body["lease"]), str(body["expires_at"]), body["video"])

    def renew(self, video: int, lease: str, seconds: int) -> Claim:
        body = self._request(
            "POST", f"videos/{int(video)}/claim/", retry=True, json={"lease": lease, "seconds": seconds}
        )
        return Claim(str(body["lease"]), str(body["expires_at"]), body["video"])

    def published(self, video: int, youtube_id: str, lease: str) -> dict[str, Any]:
        return self._request(
            "POST", f"videos/{int(video)}/published/", retry=True, json={"youtube_id": youtube_id, "lease": lease}
        )

    def failed(self, video: int, reason: str, lease: str) -> dict[str, Any]:
        # Retrying is safe: once the first call went through, the lease is released and a repeat is refused.
        return self._request(
            "POST", f"videos/{int(video)}/failed/", retry=True, json={"reason": reason[:5000], "lease": lease}
        )

    # --- downloads ------------------------------------------------------------------------------------------

    def download(
        self,
        link: dict[str, Any],
        target: Path,
        *,
        sha256: str | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> Path:
        """Download a file link of the API (`files.<kind>`) to `target`, resuming a partial download.

        A link with `requires_auth` gets the API token (papercast's own storage, byte ranges); a presigned one
        (S3) is fetched without it. With `sha256`, the file is checked, and a file already there that matches
        is not fetched again; a mismatch raises DownloadError after one fresh attempt.
        """
        if sha256 and target.exists() and file_sha256(target) == sha256:
            return target
        for fresh in (False, True):
            self._fetch(link, target, sha256=sha256, fresh=fresh, on_progress=on_progress)
            if not sha256:
                return target
            got = file_sha256(target)
            if got == sha256:
                return target
            target.unlink()
            log.warning("Download of %s did not match its sha256 (got %s); downloading it again.", target.name, got)
        raise DownloadError(f"The downloaded {target.name} does not match papercast's sha256 {sha256}.")

    def _fetch(
        self,
        link: dict[str, Any],
        target: Path,
        *,
        sha256: str | None,
        fresh: bool,
        on_progress: Callable[[int, int | None], None] | None,
    ) -> None:
        partial = target.with_name(target.name + ".part")
        have = 0 if fresh or not partial.exists() else partial.stat().st_size
        headers = {}
        if have and sha256:
            # papercast's ETag for the MP4 is its sha256: a range only while the file is the one we started.
            headers = {"Range": f"bytes={have}-", "If-Range": f'"{sha256}"'}
        url = str(link["url"])
        shown = redact(url, url)
        # A presigned URL must not carry the Authorization header (S3 would refuse the request).
        getter = self.http.get if link.get("requires_auth", True) else requests.get
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(random.random() * self.retry_seconds * 2**attempt)
                have = partial.stat().st_size if partial.exists() and sha256 else 0
                headers = {"Range": f"bytes={have}-", "If-Range": f'"{sha256}"'} if have else {}
            try:
                with getter(url, headers=headers, stream=True, timeout=TIMEOUT) as response:
                    if response.status_code == 416:  # the partial file is whole already (or not ours): start over
                        have, headers = 0, {}
                        partial.unlink(missing_ok=True)
                        problem = "range not satisfiable"
                        continue
                    if response.status_code >= 500 or response.status_code == 429:
                        problem = f"papercast answered {response.status_code} for {shown}"
                        continue
                    if response.status_code >= 400:
                        raise DownloadError(
                            f"papercast answered {response.status_code} for {shown}: {response.text[:300]}"
                        )
                    resumed = response.status_code == 206
                    size = link.get("size")
                    total = int(size) if size else None
                    done = have if resumed else 0
                    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    if on_progress:
                        on_progress(done, total)  # where this download starts: 0, or the bytes resumed
                    with partial.open("ab" if resumed else "wb") as out:
                        for block in response.iter_content(BLOCK):
                            out.write(block)
                            done += len(block)
                            if on_progress:
                                on_progress(done, total)
                partial.replace(target)
                return
            except requests.RequestException as exc:
                problem = redact(f"download of {shown} broke off: {exc}", url)
        raise DownloadError(problem)


def redact(text: str, url: str) -> str:
    """`text` without the query of `url`: a presigned link's signature is a credential (for a few minutes), not
    something for logs or for the failure reason papercast keeps."""
    query = urlsplit(url).query
    return text.replace(query, "…") if query else text


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
