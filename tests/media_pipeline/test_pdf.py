"""Papers from PDFs: text, title, authors, abstract, sections with their pages and figures with captions, read
in a child process; and the PDFs that must fail cleanly (encrypted, scanned, truncated, a decompression bomb,
too long, too large, not a PDF) within the time and memory limits, keeping the upload."""

from __future__ import annotations

import io
import resource
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.pdf import read_pdf
from media_pipeline.models import Figure, PaperDocument, RunStatus, StageRun
from media_pipeline.stages import extract
from media_pipeline.stages.document import build_document
from media_pipeline.stages.extract import read_document
from media_pipeline.stages.pdftext import join_lines
from projects import services
from projects.models import Paper, Project
from tests.conftest import run_inline
from tests.fakes import pdfs

pytestmark = pytest.mark.django_db


@pytest.fixture
def paper_pdf(tmp_dir: Path) -> Path:
    return pdfs.make_paper_pdf(tmp_dir / "swarms.pdf")


def _read(path: Path, tmp_dir: Path) -> Any:
    out = tmp_dir / f"out-{path.stem}"
    out.mkdir()
    return read_document(path, out), out


def test_it_reads_the_structure_of_a_paper_with_its_pages_and_captioned_figures(paper_pdf: Path, tmp_dir: Path) -> None:
    document, out = _read(paper_pdf, tmp_dir)
    assert document.title == pdfs.TITLE
    assert document.authors == pdfs.AUTHORS
    assert document.abstract == pdfs.ABSTRACT
    assert document.page_count == 3
    assert [(s.number, s.title, s.level, s.kind) for s in document.sections] == [
        ("1", "Introduction", 1, "body"),
        ("2", "Methods", 1, "body"),
        ("3", "Results", 1, "body"),
        ("", "References", 1, "references"),
    ]
    texts = {s.title: [(p.text, p.pages) for p in s.paragraphs] for s in document.sections}
    assert texts["Introduction"] == [(p, [1]) for p in pdfs.INTRODUCTION]
    assert texts["Methods"] == [(p, [2]) for p in pdfs.METHODS]
    assert texts["Results"] == [(p, [3]) for p in pdfs.RESULTS]
    # Captions are not narrated as paragraphs; they belong to their figures.
    assert all("Figure 1:" not in text for text, _ in texts["Introduction"])
    assert [(f.number, f.page, f.caption) for f in document.figures] == [
        (1, 1, "Figure 1: A scout's waggle dance, traced over ten minutes."),
        (2, 2, "Figure 2: Time to quorum against the quality gap between sites."),
    ]
    for figure, colour in zip(document.figures, [(200, 120, 40), (40, 120, 200)], strict=True):
        with PILImage.open(out / figure.file) as image:
            assert image.size == (figure.width, figure.height) == (480, 300)
            assert image.convert("RGB").getpixel((4, 150)) == colour  # the picture itself, colours intact


def test_without_metadata_the_title_is_the_largest_text_on_the_first_page(tmp_dir: Path) -> None:
    document, _ = _read(pdfs.make_paper_pdf(tmp_dir / "bare.pdf", title_in_metadata=False), tmp_dir)
    assert document.title == pdfs.TITLE
    assert document.authors == pdfs.AUTHORS


def _line(text: str, y: float, size: float = 10.0, bold: bool = False) -> dict[str, Any]:
    return {"text": text, "box": [72.0, y, 540.0, y + size], "size": size, "bold": bold}


def _page(number: int, *boxes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "number": number,
        "size": [612.0, 792.0],
        "boxes": [{"box": [72.0, b[-1]["box"][1], 540.0, b[0]["box"][3]], "lines": b} for b in boxes],
        "images": [],
    }


def test_a_paragraph_running_onto_the_next_page_is_one_paragraph_on_both_pages() -> None:
    head = _line("Journal of Swarms 12 (2026)", 760.0)  # a running head on every page
    pages = [
        _page(1, [head], [_line("A Title For This Test", 700, 18, True)], [_line("1 Introduction", 640, 14, True)],
              [_line("Scouts search the country for cavi-", 600), _line("ties and come back to dance for", 588)],
              [_line("1", 30)]),
        _page(2, [{**head, "text": "Journal of Swarms 12 (2026)"}], [_line("them, long and often.", 700)],
              [_line("2", 30)]),
        _page(3, [head], [_line("2 Results", 700, 14, True)], [_line("Swarms chose well in most trials here.", 660)],
              [_line("3", 30)]),
    ]  # fmt: skip
    document = build_document({"info": {}, "pages": pages})
    intro = document.sections[0]
    assert (intro.number, intro.title) == ("1", "Introduction")
    assert [(p.text, p.pages) for p in intro.paragraphs] == [
        ("Scouts search the country for cavities and come back to dance for them, long and often.", [1, 2])
    ]
    everything = " ".join(p.text for s in document.sections for p in s.paragraphs)
    assert "Journal of Swarms" not in everything  # running heads and page numbers are not the paper's text


def test_hyphens_at_line_ends_are_joined_only_inside_words() -> None:
    assert join_lines(["a recog-", "nition step"]) == "a recognition step"
    assert join_lines(["from 1990-", "2000"]) == "from 1990- 2000"
    # S2ORC's abstract breaks "automatically-detected" at its hyphen: an adverb compound keeps it ...
    assert join_lines(["from automatically-", "detected layout"]) == "from automatically-detected layout"
    # ... while a word whose break falls after "ly" is still joined.
    assert join_lines(["by supply-", "ing water"]) == "by supplying water"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, src: pdfs.make_paper_pdf(d / "locked.pdf", encrypt="secret"), "protected by a password"),
        (lambda d, src: pdfs.make_truncated_pdf(d / "cut.pdf", src), "damaged"),
        (lambda d, src: pdfs.make_bomb_pdf(d / "bomb.pdf", inflated_mb=800), "memory"),
        (lambda d, src: _write(d / "fake.pdf", b"GIF89a not a pdf at all"), "not a PDF"),
        (lambda d, src: _write(d / "empty.pdf", b""), "empty"),
    ],
    ids=["encrypted", "truncated", "bomb", "not-a-pdf", "empty"],
)
def test_hostile_pdfs_fail_cleanly_within_the_limits(
    make: Any, message: str, paper_pdf: Path, tmp_dir: Path, settings: Any
) -> None:
    settings.PAPERCAST_PDF_MEMORY_MB = 512
    settings.PAPERCAST_PDF_TIMEOUT = 30
    path = make(tmp_dir, paper_pdf)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    out = tmp_dir / "out"
    out.mkdir()
    with pytest.raises(PermanentError, match=message):
        read_pdf(path, out)
    assert time.monotonic() - started < settings.PAPERCAST_PDF_TIMEOUT
    # The reading happened in the child: this process did not inflate anything.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_pdf_over_the_page_or_size_limit_is_refused(paper_pdf: Path, tmp_dir: Path, settings: Any) -> None:
    settings.PAPERCAST_PDF_MAX_PAGES = 2
    out = tmp_dir / "out"
    out.mkdir()
    with pytest.raises(PermanentError, match="more than 2 pages"):
        read_pdf(paper_pdf, out)
    settings.PAPERCAST_PDF_MAX_MB = 0
    with pytest.raises(PermanentError, match="PAPERCAST_PDF_MAX_MB"):
        read_pdf(paper_pdf, out)


def test_a_stalling_pdf_is_stopped_at_the_timeout(paper_pdf: Path, tmp_dir: Path, settings: Any) -> None:
    settings.PAPERCAST_PDF_TIMEOUT = 3
    slow = pdfs.make_stalling_pdf(tmp_dir / "slow.pdf")  # 60 KB of millions of drawing operators
    out = tmp_dir / "out"
    out.mkdir()
    started = time.monotonic()
    with pytest.raises(PermanentError, match=r"longer than 3 s \(PAPERCAST_PDF_TIMEOUT\)"):
        read_pdf(slow, out)
    assert time.monotonic() - started < 10


def _pdf_paper(project: Project, path: Path, title: str = "") -> Paper:
    with path.open("rb") as handle:
        return services.paper_create_from_pdf(project=project, file=handle, filename=path.name, title=title)


@pytest.mark.django_db(transaction=True)
def test_the_extract_stage_keeps_the_document_and_its_figures_and_reuses_them(
    project: Project, paper_pdf: Path, count_calls: Any
) -> None:
    paper = _pdf_paper(project, paper_pdf)
    assert paper.title == "swarms" and paper.title_from_source
    calls = count_calls("read", extract, "read_pdf")
    run_inline(paper, until="extract")
    paper.refresh_from_db()
    assert paper.title == pdfs.TITLE and paper.authors == pdfs.AUTHORS and paper.abstract == pdfs.ABSTRACT
    document = PaperDocument.objects.get(paper=paper)
    assert [(s["number"], s["title"]) for s in document.sections][:3] == [
        ("1", "Introduction"),
        ("2", "Methods"),
        ("3", "Results"),
    ]
    figures = list(Figure.objects.filter(document=document).order_by("number"))
    assert [(f.number, f.page) for f in figures] == [(1, 1), (2, 2)]
    for figure in figures:
        with default_storage.open(figure.file.name, "rb") as handle, PILImage.open(io.BytesIO(handle.read())) as png:
            assert png.format == "PNG" and png.size == (figure.width, figure.height)
        assert figure.file.name.startswith(f"projects/{project.pk}/papers/{paper.pk}/figures/")
    run_inline(paper, until="extract")  # current: the PDF is not read again
    assert calls["read"] == 1 and PaperDocument.objects.filter(paper=paper).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_title_someone_gave_is_kept(project: Project, paper_pdf: Path) -> None:
    paper = _pdf_paper(project, paper_pdf, title="Bees vote")
    run_inline(paper, until="extract")
    paper.refresh_from_db()
    assert paper.title == "Bees vote" and paper.authors == pdfs.AUTHORS


@pytest.mark.django_db(transaction=True)
def test_a_scanned_pdf_fails_saying_it_needs_ocr_and_keeps_the_upload(project: Project, tmp_dir: Path) -> None:
    scanned = pdfs.make_scanned_pdf(tmp_dir / "scan.pdf")
    paper = _pdf_paper(project, scanned)
    run_inline(paper)
    run = StageRun.objects.get(paper=paper)
    assert (run.stage, run.status, run.attempts) == ("extract", RunStatus.FAILED, 1)  # not retried
    assert "needs OCR" in run.error and "ocrmypdf" in run.error
    with paper.source_file.open("rb") as handle:
        assert handle.read() == scanned.read_bytes()
