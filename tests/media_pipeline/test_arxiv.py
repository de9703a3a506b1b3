"""arXiv intake against a local stand-in for export.arxiv.org: identifiers accepted and refused (URLs too),
no redirect followed to another host, at most one request per interval across workers, what was fetched
kept and never fetched twice."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from media_pipeline.backends.arxiv import get_arxiv_client
from media_pipeline.backends.errors import PermanentError, TransientError
from media_pipeline.models import ArxivRecord, PaperDocument, RunStatus, StageRun
from projects import services
from projects.identifiers import ArxivId, parse_arxiv_id
from projects.models import Paper, Project
from tests.conftest import run_inline
from tests.fakes import pdfs
from tests.fakes.arxiv_server import ArxivPaper, FakeArxiv, running_arxiv

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2202.08906", ArxivId("2202.08906")),
        ("2202.08906v2", ArxivId("2202.08906", 2)),
        ("arXiv:2202.08906", ArxivId("2202.08906")),
        ("  1706.03762v7 ", ArxivId("1706.03762", 7)),
        ("0704.0001", ArxivId("0704.0001")),
        ("hep-th/9901001", ArxivId("hep-th/9901001")),
        ("hep-th/9901001v3", ArxivId("hep-th/9901001", 3)),
        ("math.GT/0309136", ArxivId("math.GT/0309136")),
    ],
)
def test_identifiers_are_accepted_in_every_form_arxiv_uses(text: str, expected: ArxivId) -> None:
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("https://arxiv.org/abs/2202.08906", "looks like an address"),
        ("arxiv.org/abs/2202.08906", "looks like an address"),
        ("http://127.0.0.1:8000/pdf/2202.08906", "looks like an address"),
        ("export.arxiv.org/pdf/2202.08906", "looks like an address"),
        ("2213.08906", "13 is not a month"),
        ("1401.12345", "five-digit numbers began in 2015"),
        ("2202.0890", "since 2015 the number has five digits"),
        ("2202.08906v", "is not an arXiv identifier"),
        ("../../etc/passwd", "is not an arXiv identifier"),
        ("hep-th/99010011", "is not an arXiv identifier"),
        ("2202.08906 OR 1706.03762", "is not an arXiv identifier"),
        ("", "is not an arXiv identifier"),
    ],
)
def test_urls_and_malformed_identifiers_are_refused_before_anything_is_stored(
    text: str, reason: str, project: Project
) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_arxiv_id(text)
    with pytest.raises(ValidationError):
        services.paper_create_from_arxiv(project=project, arxiv_id=text)
    assert not Paper.objects.exists()


@pytest.fixture
def arxiv(tmp_path: Path, settings: Any) -> Iterator[FakeArxiv]:
    fake = FakeArxiv()
    fake.add(
        ArxivPaper(
            base="2202.08906",
            version=2,
            title=pdfs.TITLE,
            authors=["Ada Lovelace", "Alan Turing", "Grace Hopper"],
            abstract=pdfs.ABSTRACT,
            pdf=pdfs.make_paper_pdf(tmp_path / "arxiv.pdf").read_bytes(),
        )
    )
    fake.add(
        ArxivPaper(
            base="hep-th/9901001",
            version=1,
            title="Strings in Old Style",
            authors=["Ed Witten"],
            abstract="An old paper.",
            pdf=pdfs.make_paper_pdf(tmp_path / "old.pdf").read_bytes(),
        )
    )
    with running_arxiv(fake) as server:
        settings.PAPERCAST_ARXIV_URL = server.url
        settings.PAPERCAST_ARXIV_INTERVAL = 0.5
        yield server


def test_a_paper_is_fetched_once_by_identifier_and_read(arxiv: FakeArxiv, project: Project) -> None:
    paper = services.paper_create_from_arxiv(project=project, arxiv_id="2202.08906")
    assert (paper.title, paper.title_from_source, paper.source_kind) == ("arXiv:2202.08906", True, "arxiv")
    assert arxiv.requests == []  # creating the paper asks arXiv nothing
    run_inline(paper, until="extract")
    run = StageRun.objects.get(paper=paper)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert arxiv.paths() == ["/api/query?id_list=2202.08906&max_results=1", "/pdf/2202.08906v2"]
    paper.refresh_from_db()
    assert paper.title == pdfs.TITLE  # arXiv's metadata, not a guess from the PDF
    assert paper.authors == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    document = PaperDocument.objects.get(paper=paper)
    assert (document.arxiv_id, document.categories) == ("2202.08906v2", ["q-bio.PE", "cs.MA"])
    assert [(s["number"], s["title"]) for s in document.sections][:2] == [("1", "Introduction"), ("2", "Methods")]
    with paper.source_file.open("rb") as handle:
        assert handle.read()[:5] == b"%PDF-"  # the paper keeps its own copy
    assert paper.source_file.name.startswith(f"projects/{project.pk}/sources/")

    # Another paper from the same identifier, or its version: nothing is fetched again.
    for again in ("2202.08906", "arXiv:2202.08906v2"):
        other = services.paper_create_from_arxiv(project=project, arxiv_id=again)
        run_inline(other, until="extract")
        assert StageRun.objects.get(paper=other).status == RunStatus.SUCCEEDED
    assert len(arxiv.requests) == 2
    assert ArxivRecord.objects.count() == 1


def test_old_style_identifiers_are_fetched_too(arxiv: FakeArxiv, project: Project) -> None:
    paper = services.paper_create_from_arxiv(project=project, arxiv_id="hep-th/9901001")
    run_inline(paper, until="extract")
    paper.refresh_from_db()
    assert paper.title == "Strings in Old Style"
    assert arxiv.paths()[-1] == "/pdf/hep-th/9901001v1"


def test_unknown_and_malformed_identifiers_are_reported(arxiv: FakeArxiv) -> None:
    client = get_arxiv_client()
    with pytest.raises(PermanentError, match=r"arXiv has no paper 2301\.00001"):
        client.metadata(ArxivId("2301.00001"))
    with pytest.raises(PermanentError, match="refused the identifier"):
        client.metadata(ArxivId("not-an-id"))  # arXiv's own Error entry, with HTTP 200


def test_a_redirect_to_another_host_is_not_followed(arxiv: FakeArxiv, project: Project, tmp_path: Path) -> None:
    with running_arxiv(FakeArxiv()) as elsewhere:
        port = elsewhere.url.rsplit(":", 1)[1]
        arxiv.redirect_pdf_to = f"http://localhost:{port}/pdf/"  # another host name, another port
        paper = services.paper_create_from_arxiv(project=project, arxiv_id="2202.08906v2")
        run_inline(paper, until="extract")
        run = StageRun.objects.get(paper=paper)
        assert run.status == RunStatus.FAILED and "redirected" in run.error and "another host" in run.error
        assert elsewhere.requests == []  # nothing reached the other host
    # Within the same host, arXiv's own redirect (unversioned PDF -> newest version) is followed.
    arxiv.redirect_pdf_to = None
    target = tmp_path / "same.pdf"
    assert get_arxiv_client().pdf("2202.08906", target) > 0
    assert arxiv.paths()[-2:] == ["/pdf/2202.08906", "/pdf/2202.08906v2"]


def test_requests_keep_the_interval_even_from_several_workers_at_once(arxiv: FakeArxiv, settings: Any) -> None:
    settings.PAPERCAST_ARXIV_INTERVAL = 0.6
    errors: list[BaseException] = []

    def fetch(identifier: str) -> None:
        try:
            get_arxiv_client().metadata(parse_arxiv_id(identifier))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=fetch, args=(i,)) for i in ("2202.08906", "hep-th/9901001") * 3]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors
    times = sorted(moment for moment, _ in arxiv.requests)
    assert len(times) == 6
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.6 - 0.15, gaps  # unlimited, they would all come within milliseconds


def test_a_throttled_answer_is_retried_later_not_taken_as_the_paper(arxiv: FakeArxiv, project: Project) -> None:
    arxiv.throttle = 1
    with pytest.raises(TransientError, match="503"):
        get_arxiv_client().metadata(ArxivId("2202.08906"))
    assert get_arxiv_client().metadata(ArxivId("2202.08906")).title == pdfs.TITLE


def test_a_version_asked_for_is_that_version_even_when_another_is_kept(arxiv: FakeArxiv, project: Project) -> None:
    newest = services.paper_create_from_arxiv(project=project, arxiv_id="2202.08906")
    run_inline(newest, until="extract")
    arxiv.papers["2202.08906"].version = 1  # the stand-in now serves v1 when asked for it
    older = services.paper_create_from_arxiv(project=project, arxiv_id="2202.08906v1")
    run_inline(older, until="extract")
    assert PaperDocument.objects.get(paper=older).arxiv_id == "2202.08906v1"
    assert arxiv.paths()[-2:] == ["/api/query?id_list=2202.08906v1&max_results=1", "/pdf/2202.08906v1"]
    assert sorted(ArxivRecord.objects.values_list("arxiv_id", flat=True)) == ["2202.08906v1", "2202.08906v2"]
