"""HTTP for outside servers (LLMs, image generators): timeouts, retries with backoff and jitter, typed errors."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from media_pipeline.backends.errors import PermanentError, TransientError

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class HttpPolicy:
    connect_timeout: float
    read_timeout: float
    retries: int
    backoff: float


class HttpStatusError(PermanentError):
    """A 4xx answer, or an error answer the caller recognised as a refusal; the backend turns it into a
    message that says what to do."""

    def __init__(self, status: int, body: str, url: str) -> None:
        super().__init__(f"{url} answered {status}: {body[:500]}")
        self.status, self.body, self.url = status, body, url

    def server_message(self) -> str:
        """The error text inside the body ({"error": "..."}, {"error": {"message": "..."}} or {"detail": ...})."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return self.body[:300]
        error = data.get("error", data.get("detail", data)) if isinstance(data, dict) else data
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:300]


_session = requests.Session()


def _wait(attempt: int, policy: HttpPolicy, retry_after: str | None) -> None:
    delay = policy.backoff * (2**attempt) * random.uniform(0.5, 1.5)
    if retry_after and retry_after.isdigit():
        delay = max(delay, float(retry_after))
    time.sleep(min(delay, 60.0))


def send(
    method: str,
    url: str,
    *,
    policy: HttpPolicy,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    service: str = "The server",
    refusal: Callable[[requests.Response], bool] | None = None,
) -> requests.Response:
    """Send a request and return its 2xx response, retrying connection errors, timeouts, 429 and 5xx.

    A 4xx answer raises HttpStatusError at once (asking again cannot help), and so does any error answer
    `refusal` recognises (a server that reports a request it cannot do as a 500, say); running out of retries
    raises TransientError, so the pipeline tries the stage again later.
    """
    last = ""
    for attempt in range(policy.retries + 1):
        if attempt:
            _wait(attempt - 1, policy, None)
        try:
            response = _session.request(
                method,
                url,
                json=body,
                params=params,
                headers=headers,
                auth=auth,
                timeout=(policy.connect_timeout, policy.read_timeout),
                allow_redirects=False,
            )
        except requests.Timeout:
            last = f"no answer from {url} within {policy.read_timeout:g} s"
            continue
        except requests.ConnectionError as exc:
            last = f"could not connect to {url} ({type(exc).__name__})"
            continue
        if response.status_code >= 400 and refusal is not None and refusal(response):
            raise HttpStatusError(response.status_code, response.text, url)
        if response.status_code in RETRY_STATUSES:
            last = f"{url} answered {response.status_code}"
            if response.headers.get("Retry-After") and attempt < policy.retries:
                _wait(attempt, policy, response.headers.get("Retry-After"))
            continue
        if response.status_code >= 400:
            raise HttpStatusError(response.status_code, response.text, url)
        if 300 <= response.status_code < 400:
            # Redirects are not followed: credentials must not travel to another address.
            target = response.headers.get("Location", "?")
            raise PermanentError(f"{url} redirects to {target}; set the server's address to where it really is.")
        return response
    raise TransientError(f"{service} did not answer after {policy.retries + 1} attempts: {last}.")


def request_json(
    method: str,
    url: str,
    *,
    policy: HttpPolicy,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    service: str = "The LLM server",
    refusal: Callable[[requests.Response], bool] | None = None,
) -> dict[str, Any]:
    """`send`, then the reply's JSON object."""
    response = send(
        method, url, policy=policy, body=body, params=params, headers=headers, auth=auth, service=service,
        refusal=refusal,
    )  # fmt: skip
    try:
        data = response.json()
    except ValueError:
        raise TransientError(f"{url} answered with something that is not JSON: {response.text[:200]!r}") from None
    if not isinstance(data, dict):
        raise TransientError(f"{url} answered with JSON that is not an object.")
    return data
