"""arXiv: a paper's metadata from the export API (Atom) and its PDF, by identifier, politely.

- The user gives an identifier (2202.08906, 2202.08906v2, hep-th/9901001, math.GT/0309136v1), never a URL;
  papercast builds every address itself from PAPERCAST_ARXIV_URL (default https://export.arxiv.org, which
  arXiv asks programs to use).
- At most one request per PAPERCAST_ARXIV_INTERVAL seconds (3, arXiv's terms) goes out, counted across all
  workers on all machines; a redirect is followed only within the same host, never to another.
- What was fetched is cached by the caller (media_pipeline.stages.extract keeps ArxivRecord rows), so the
  same paper is fetched once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from defusedxml import ElementTree

from media_pipeline.backends.errors import PermanentError, TransientError
from projects.identifiers import ArxivId

_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
MAX_REDIRECTS = 3
USER_AGENT = "papercast/0.1 (research-to-video; one request per 3 s)"


@dataclass(frozen=True)
class ArxivEntry:
    arxiv_id: str  # versioned
    title: str
    authors: list[str]
    abstract: str
    categories: list[str]
    published: str


def _text(node: object | None) -> str:
    value = getattr(node, "text", None)
    return " ".join(str(value).split()) if value else ""


def parse_feed(xml: bytes, wanted: ArxivId) -> ArxivEntry:
    """The one entry of an id_list query. arXiv answers a bad id with HTTP 200 and an entry titled Error."""
    try:
        feed = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise TransientError(f"arXiv answered with something that is not an Atom feed ({exc}).") from None
    entries = feed.findall(f"{_ATOM}entry")
    total = _text(feed.find(f"{_OPENSEARCH}totalResults"))
    if not entries or total == "0":
        raise PermanentError(f"arXiv has no paper {wanted}. Check the identifier.")
    entry = entries[0]
    title = _text(entry.find(f"{_ATOM}title"))
    entry_id = _text(entry.find(f"{_ATOM}id"))
    if title == "Error" or "/api/errors" in entry_id:
        raise PermanentError(f"arXiv refused the identifier {wanted}: {_text(entry.find(f'{_ATOM}summary'))}")
    match = re.search(r"/abs/(.+?)$", entry_id)
    versioned = match.group(1) if match else str(wanted)
    if not versioned.startswith(wanted.base):
        raise PermanentError(f"arXiv answered for {versioned} when asked for {wanted}.")
    if "v" not in versioned.rsplit("/", 1)[-1]:
        versioned = f"{versioned}v{wanted.version or 1}"
    categories = [str(c.get("term")) for c in entry.findall(f"{_ATOM}category") if c.get("term")]
    primary = entry.find(f"{_ARXIV}primary_category")
    if primary is not None and primary.get("term") in categories:
        categories.remove(str(primary.get("term")))
        categories.insert(0, str(primary.get("term")))
    return ArxivEntry(
        arxiv_id=versioned,
        title=title,
        authors=[
            _text(a.find(f"{_ATOM}name")) for a in entry.findall(f"{_ATOM}author") if _text(a.find(f"{_ATOM}name"))
        ],
        abstract=_text(entry.find(f"{_ATOM}summary")),
        categories=categories,
        published=_text(entry.find(f"{_ATOM}published")),
    )


class ArxivClient:
    def __init__(self, base_url: str, *, interval: float, timeout: float, max_bytes: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.interval = interval
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.host = urlsplit(self.base_url).netloc

    def _get(self, url: str, params: dict[str, str] | None = None) -> requests.Response:
        from media_pipeline.slots import wait_turn

        origin = urlsplit(url)
        for _ in range(MAX_REDIRECTS + 1):
            wait_turn(f"arxiv:{self.host}", interval=self.interval, max_wait=max(600.0, self.interval * 100))
            try:
                response = requests.get(
                    url,
                    params=params,
                    timeout=(10.0, self.timeout),
                    allow_redirects=False,
                    stream=True,
                    headers={"User-Agent": USER_AGENT},
                )
            except requests.RequestException as exc:
                raise TransientError(f"arXiv could not be reached at {url} ({type(exc).__name__}).") from None
            if response.is_redirect:
                target = urljoin(response.url, response.headers.get("Location", ""))
                response.close()
                moved = urlsplit(target)
                if (moved.scheme, moved.netloc) != (origin.scheme, origin.netloc):
                    raise PermanentError(
                        f"arXiv redirected {url} to another host ({moved.netloc or target}); papercast does not "
                        "follow that. Check PAPERCAST_ARXIV_URL."
                    )
                url, params = target, None
                continue
            if response.status_code in (429, 503) or response.status_code >= 500:
                response.close()
                raise TransientError(f"arXiv answered {response.status_code} for {url}; it will be asked again later.")
            return response
        raise PermanentError(f"arXiv redirected {url} more than {MAX_REDIRECTS} times.")

    def metadata(self, wanted: ArxivId) -> ArxivEntry:
        response = self._get(f"{self.base_url}/api/query", {"id_list": str(wanted), "max_results": "1"})
        with response:
            body = response.content
            if response.status_code != 200:
                raise PermanentError(f"arXiv refused the query for {wanted} ({response.status_code}).")
        if body.strip().startswith(b"Rate exceeded"):
            raise TransientError("arXiv asks to slow down (Rate exceeded); it will be asked again later.")
        return parse_feed(body, wanted)

    def pdf(self, versioned: str, target: Path) -> int:
        """Download the PDF of a versioned identifier to `target`; returns its size in bytes."""
        response = self._get(f"{self.base_url}/pdf/{versioned}")
        with response:
            if response.status_code == 404:
                raise PermanentError(f"arXiv has no PDF for {versioned} (some papers have only other formats).")
            if response.status_code != 200:
                raise PermanentError(f"arXiv refused the PDF of {versioned} ({response.status_code}).")
            size = 0
            with target.open("wb") as sink:
                for block in response.iter_content(256 * 1024):
                    size += len(block)
                    if size > self.max_bytes:
                        raise PermanentError(
                            f"The PDF of {versioned} is larger than {self.max_bytes // 1_000_000} MB "
                            "(PAPERCAST_PDF_MAX_MB)."
                        )
                    sink.write(block)
        with target.open("rb") as handle:
            if not handle.read(1024).lstrip().startswith(b"%PDF-"):
                raise PermanentError(f"arXiv's answer for the PDF of {versioned} is not a PDF.")
        return size


def get_arxiv_client() -> ArxivClient:
    from django.conf import settings

    return ArxivClient(
        settings.PAPERCAST_ARXIV_URL,
        interval=settings.PAPERCAST_ARXIV_INTERVAL,
        timeout=settings.PAPERCAST_ARXIV_TIMEOUT,
        max_bytes=settings.PAPERCAST_PDF_MAX_MB * 1024 * 1024,
    )
