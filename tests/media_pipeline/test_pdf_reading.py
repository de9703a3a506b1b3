"""Reading real papers right (issue 14): each trap that real papers set for a PDF reader, in a small paper made
by tests.fakes.pdf_traps and read the way the extract stage reads it (read_document: the pages read, the
structure built, the figures and tables cut out).

The traps: text inside form XObjects, arXiv's rotated stamp, numbered headings in a "Medium" bold font, an author
block with affiliation marks, footnotes, ligatures and LaTeX accents, hyphenation beside real compounds, a ruled
table, a figure drawn as vector graphics, and a photo inside a drawn diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image as PILImage

from media_pipeline.stages.extract import MIN_TEXT_PER_PAGE, read_document
from tests.fakes import pdf_traps
from tests.fakes.pdf_traps import Box, Expected


def _read(make: Any, tmp_path: Path) -> tuple[Any, Path, Expected]:
    expected = make(tmp_path / f"{make.__name__}.pdf")
    out = tmp_path / "out"
    out.mkdir()
    return read_document(expected.path, out), out, expected


def prose(document: Any) -> str:
    """What gets narrated: the abstract and every paragraph of every section."""
    return " ".join([document.abstract, *(p.text for s in document.sections for p in s.paragraphs)])


def _assert_prose(document: Any, expected: Expected) -> None:
    text = prose(document)
    for phrase in expected.phrases:
        assert phrase in text
    for fragment in expected.absent:
        assert fragment not in text, f"{fragment!r} is in the prose"


def _covers(outer: list[float] | Box, inner: Box, slack: float) -> bool:
    return (
        outer[0] <= inner[0] + slack
        and outer[1] <= inner[1] + slack
        and outer[2] >= inner[2] - slack
        and outer[3] >= inner[3] - slack
    )


def _grown(box: Box, by: float) -> Box:
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


def _area(box: list[float] | Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _assert_picture(out: Path, item: Any) -> None:
    """The item's PNG is in out_dir, as large as its fields say, showing its box (same shape, at least 72 dpi)."""
    with PILImage.open(out / item.file) as image:
        assert image.format == "PNG"
        assert image.size == (item.width, item.height)
    box_width, box_height = item.box[2] - item.box[0], item.box[3] - item.box[1]
    assert abs((item.width / item.height) / (box_width / box_height) - 1) < 0.15
    assert item.width >= box_width * 0.95


def test_it_reads_text_drawn_inside_form_xobjects(tmp_path: Path) -> None:
    document, _, expected = _read(pdf_traps.form_xobject, tmp_path)
    assert document.page_count == expected.pages
    assert document.characters >= MIN_TEXT_PER_PAGE * document.page_count  # not taken for a scan needing OCR
    assert document.title == expected.title
    assert document.abstract == expected.abstract
    _assert_prose(document, expected)


def test_it_takes_the_title_from_the_page_not_from_a_larger_rotated_arxiv_stamp(tmp_path: Path) -> None:
    document, _, expected = _read(pdf_traps.rotated_stamp, tmp_path)
    assert document.title == expected.title
    _assert_prose(document, expected)


def test_it_finds_numbered_sections_in_a_medium_weight_bold_font_with_their_numbers_and_levels(
    tmp_path: Path,
) -> None:
    document, _, expected = _read(pdf_traps.bold_numbered_headings, tmp_path)
    assert document.title == expected.title
    assert [(s.number, s.title, s.level, s.kind) for s in document.sections] == expected.sections


def test_it_reads_plain_author_names_and_the_abstract_after_an_author_block_with_affiliations(
    tmp_path: Path,
) -> None:
    document, _, expected = _read(pdf_traps.author_block, tmp_path)
    assert document.title == expected.title
    assert document.authors == expected.authors == ["Kyle Lo", "Lucy Lu Wang", "Mark Neumann", "Daniel S. Weld"]
    assert document.abstract == expected.abstract


def test_it_keeps_footnote_marks_and_footnotes_out_of_the_prose(tmp_path: Path) -> None:
    document, _, expected = _read(pdf_traps.footnotes, tmp_path)
    _assert_prose(document, expected)


def test_it_spells_out_ligatures_and_puts_latex_accents_on_their_letters(tmp_path: Path) -> None:
    document, _, expected = _read(pdf_traps.ligatures_accents, tmp_path)
    _assert_prose(document, expected)


def test_it_joins_words_hyphenated_at_line_ends_and_keeps_a_compounds_own_hyphen(tmp_path: Path) -> None:
    document, _, expected = _read(pdf_traps.hyphenation, tmp_path)
    _assert_prose(document, expected)
    text = prose(document)
    assert "from publicly-available sources" in text and "is publicly released" in text  # the other spellings


def test_it_keeps_a_ruled_table_out_of_the_prose_as_a_captioned_table_with_its_picture(tmp_path: Path) -> None:
    document, out, expected = _read(pdf_traps.table_grid, tmp_path)
    _assert_prose(document, expected)
    assert [(t.number, t.label, t.kind, t.page) for t in document.tables] == [(1, "Table 1", "table", 1)]
    [table] = document.tables
    assert table.caption.startswith("Table 1")
    grid = expected.boxes["grid"]
    assert _covers(table.box, grid, slack=4) and _covers(_grown(grid, 36), tuple(table.box), slack=0)
    _assert_picture(out, table)
    assert document.figures == []  # a ruled table is not a drawn figure
    assert any(o.kind == "table" and "Papers w/ PDF" in o.text for o in document.objects)  # kept aside, not lost


def test_it_finds_a_figure_drawn_with_vector_graphics_and_keeps_its_labels_out_of_the_prose(tmp_path: Path) -> None:
    document, out, expected = _read(pdf_traps.vector_figure, tmp_path)
    _assert_prose(document, expected)
    assert [(f.number, f.label, f.kind, f.page) for f in document.figures] == [(1, "Figure 1", "drawn", 1)]
    [figure] = document.figures
    assert figure.caption.startswith(expected.caption)
    drawing = expected.boxes["drawing"]
    assert _covers(figure.box, drawing, slack=8) and _covers(_grown(drawing, 20), tuple(figure.box), slack=0)
    _assert_picture(out, figure)
    assert any(o.kind == "figure_text" and "full text" in o.text for o in document.objects)  # kept aside


def test_it_frames_a_figure_around_the_whole_diagram_not_just_the_photo_inside_it(tmp_path: Path) -> None:
    document, out, expected = _read(pdf_traps.photo_in_drawing, tmp_path)
    _assert_prose(document, expected)
    [figure] = [f for f in document.figures if f.number == 3]
    assert (figure.label, figure.page) == ("Figure 3", 2)
    assert figure.caption.startswith("Figure 3: The extraction pipeline.")
    diagram, photo = expected.boxes["diagram"], expected.boxes["photo"]
    assert _covers(figure.box, diagram, slack=8) and _covers(_grown(diagram, 20), tuple(figure.box), slack=0)
    assert _area(figure.box) > 3 * _area(photo)
    _assert_picture(out, figure)


def test_a_picture_placed_larger_than_it_shows_is_cut_at_its_caption() -> None:
    """A photo whose placed box runs under its caption and the next paragraph (clipped in the PDF): the cut
    stops at the caption, and the picture's own pixels, hidden parts and all, are not used (NIPS 2008 Fig. 3)."""
    from media_pipeline.stages.regions import Caption, find_regions

    page = {
        "number": 1, "size": [612.0, 792.0], "origin": [0.0, 0.0], "graphics": [],
        "images": [{"box": [72.0, 150.0, 540.0, 700.0], "file": "image-1.png", "width": 1000, "height": 1200}],
    }  # fmt: skip
    caption = Caption("figure", 3, "Figure 3: Denoising results on an image from the test set.", 1, [72, 330, 540, 352])
    prose = [(1, [72.0, 250.0, 540.0, 320.0], True), (1, [72.0, 710.0, 540.0, 740.0], True)]
    [region] = find_regions([page], [caption], prose)
    assert region.box[1] >= 352 - 0.5 and region.box[3] <= 710  # above the caption, below the paragraph
    assert region.kind == "drawn" and region.file == "figure-003.png"  # rendered from the page, not the photo
