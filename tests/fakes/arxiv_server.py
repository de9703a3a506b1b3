"""A stand-in for arXiv's export server on 127.0.0.1: /api/query?id_list=... answers in arXiv's Atom format
(an unknown id gives an empty feed, a malformed one an entry titled Error, both with HTTP 200, as arXiv
does), and /pdf/<id> serves the paper's PDF. It records when each request came, and can be told to
redirect, to throttle ("Rate exceeded."), or to fail."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from tests.fakes.serve import serve

FEED_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
    'xmlns:arxiv="http://arxiv.org/schemas/atom">\n'
    '  <link href="http://arxiv.org/api/query?id_list={query}" rel="self" type="application/atom+xml"/>\n'
    '  <title type="html">ArXiv Query: id_list={query}</title>\n'
    "  <id>http://arxiv.org/api/abc</id>\n  <updated>2026-12-01T00:00:00-05:00</updated>\n"
    "  <opensearch:totalResults>{total}</opensearch:totalResults>\n"
    "  <opensearch:startIndex>0</opensearch:startIndex>\n  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>\n"
)


@dataclass
class ArxivPaper:
    base: str
    version: int
    title: str
    authors: list[str]
    abstract: str
    pdf: bytes
    categories: list[str] = field(default_factory=lambda: ["q-bio.PE", "cs.MA"])


class FakeArxiv:
    def __init__(self) -> None:
        self.papers: dict[str, ArxivPaper] = {}
        self.requests: list[tuple[float, str]] = []
        self.redirect_pdf_to: str | None = None  # a URL prefix: /pdf/<id> answers 301 to it
        self.throttle = 0  # how many of the next requests answer "Rate exceeded." (503)
        self.lock = threading.Lock()
        self.url = ""

    def add(self, paper: ArxivPaper) -> None:
        self.papers[paper.base] = paper

    def paths(self) -> list[str]:
        return [path for _, path in self.requests]

    def _entry(self, paper: ArxivPaper) -> str:
        versioned = f"{paper.base}v{paper.version}"
        authors = "".join(f"    <author><name>{escape(a)}</name></author>\n" for a in paper.authors)
        categories = "".join(
            f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>\n' for c in paper.categories
        )
        # arXiv wraps titles and abstracts at about 80 columns.
        title = escape(paper.title).replace(" ", "\n  ", 1)
        return (
            "  <entry>\n"
            f"    <id>http://arxiv.org/abs/{versioned}</id>\n"
            "    <updated>2022-03-01T10:00:00Z</updated>\n    <published>2022-02-17T18:00:00Z</published>\n"
            f"    <title>{title}</title>\n    <summary>  {escape(paper.abstract)}\n</summary>\n{authors}"
            f'    <link href="http://arxiv.org/abs/{versioned}" rel="alternate" type="text/html"/>\n'
            f'    <link title="pdf" href="http://arxiv.org/pdf/{versioned}" rel="related" type="application/pdf"/>\n'
            f'    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{paper.categories[0]}" '
            'scheme="http://arxiv.org/schemas/atom"/>\n'
            f"{categories}  </entry>\n"
        )

    def feed(self, query: str) -> str:
        wanted = re.sub(r"v\d+$", "", query)
        if not any(c.isdigit() for c in query) or " " in query:
            error = (
                "  <entry>\n    <id>http://arxiv.org/api/errors#incorrect_id_format_for_" + escape(query) + "</id>\n"
                "    <title>Error</title>\n    <summary>incorrect id format for " + escape(query) + "</summary>\n"
                "  </entry>\n"
            )
            return FEED_HEAD.format(query=escape(query), total=1) + error + "</feed>\n"
        paper = self.papers.get(wanted)
        if paper is None:
            return FEED_HEAD.format(query=escape(query), total=0) + "</feed>\n"
        return FEED_HEAD.format(query=escape(query), total=1) + self._entry(paper) + "</feed>\n"


def _handler(fake: FakeArxiv) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with fake.lock:
                fake.requests.append((time.monotonic(), self.path))
                throttled = fake.throttle > 0
                fake.throttle -= 1 if throttled else 0
            if throttled:
                self._send(503, b"Rate exceeded.", "text/plain")
                return
            url = urlsplit(self.path)
            if url.path == "/api/query":
                query = parse_qs(url.query).get("id_list", [""])[0]
                self._send(200, fake.feed(query).encode(), "application/atom+xml; charset=utf-8")
                return
            if url.path.startswith("/pdf/"):
                versioned = url.path[len("/pdf/") :]
                if fake.redirect_pdf_to is not None:
                    self._send(301, b"", "text/html", {"Location": fake.redirect_pdf_to + versioned})
                    return
                base, _, version = versioned.rpartition("v")
                paper = fake.papers.get(base)
                if paper is None or not version.isdigit():
                    # arXiv sends a reader of an unversioned PDF to the newest version, on the same host.
                    paper = fake.papers.get(versioned)
                    if paper is not None:
                        self._send(302, b"", "text/html", {"Location": f"/pdf/{versioned}v{paper.version}"})
                        return
                    self._send(404, b"not found", "text/plain")
                    return
                self._send(200, paper.pdf, "application/pdf")
                return
            self._send(404, b"not found", "text/plain")

    return Handler


@contextmanager
def running_arxiv(fake: FakeArxiv) -> Iterator[FakeArxiv]:
    with serve(_handler(fake)) as url:
        fake.url = url
        yield fake
