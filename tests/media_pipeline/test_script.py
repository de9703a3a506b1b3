"""The narration script from a paper: extracted offline or written by an LLM section by section, every sentence
with its pages; the target length; edits that keep pages; the review gate before narration; the admin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.test import Client

from media_pipeline import curation
from media_pipeline.models import RunStatus, Script, ScriptSentence, StageRun
from media_pipeline.pipeline import PipelineGated, pipeline_start
from media_pipeline.selectors import script_current, section_starts
from media_pipeline.stages import no_progress, script
from projects import services
from projects.models import Paper, Project
from tests.conftest import run_inline
from tests.fakes import pdfs
from tests.fakes.llm_server import FakeLLM, running

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pdf_paper(project: Project, tmp_dir: Path) -> Paper:
    path = pdfs.make_paper_pdf(tmp_dir / "swarms.pdf")
    with path.open("rb") as handle:
        paper = services.paper_create_from_pdf(project=project, file=handle, filename=path.name)
    run_inline(paper, until="extract")
    paper.refresh_from_db()
    return paper


def _sentences(paper: Paper) -> list[ScriptSentence]:
    current = script_current(paper)
    assert current is not None
    return list(ScriptSentence.objects.filter(script=current).order_by("index"))


def test_the_offline_script_opens_with_the_paper_and_keeps_each_sentence_s_pages(pdf_paper: Paper) -> None:
    result = script.run(pdf_paper, force=False, progress=no_progress)
    assert not result.reused
    sentences = _sentences(pdf_paper)
    assert sentences[0].text == f"This is an explainer of the paper “{pdfs.TITLE}”, by Ada Lovelace and Alan Turing."
    assert next(s.text for s in sentences if s.section == "Abstract") == pdfs.ABSTRACT.split(". ")[0] + "."
    sections = [s.section for s in sentences]
    assert {"Introduction", "Methods", "Results"} <= set(sections) and "References" not in sections
    body = {p: n for n, section in enumerate((pdfs.INTRODUCTION, pdfs.METHODS, pdfs.RESULTS), start=1) for p in section}
    bridges = [
        "First, here is the problem the paper takes on.",
        "Next, the authors describe their approach.",
        "Now we come to the results.",
    ]
    for sentence in sentences:
        if sentence.section in ("Introduction", "Methods", "Results") and sentence.text not in bridges:
            page = next(n for paragraph, n in body.items() if sentence.text in " ".join(paragraph.split()))
            assert sentence.pages == [page], sentence.text  # traceable to the page it came from
    # Each section is introduced by a spoken bridge papercast writes, pointing at the page the section begins on.
    assert [(s.text, s.pages) for s in sentences if s.text in bridges] == [
        (bridges[0], [1]),
        (bridges[1], [2]),
        (bridges[2], [3]),
    ]
    assert [s.text for s in sentences if s.text in bridges] == [
        "First, here is the problem the paper takes on.",
        "Next, the authors describe their approach.",
        "Now we come to the results.",
    ]
    mentions = {s.text: s.figures for s in sentences if s.figures}
    assert any(figures == [1] for figures in mentions.values()) and any(f == [2] for f in mentions.values())


# Varied prose, as a paper has it: long and short words, acronyms, numbers, clauses.
_PROSE = (
    "Scout bees that find a promising cavity return to the swarm and dance for it.",
    "The length of each dance grows with the quality of the site, so better sites recruit faster.",
    "We filmed 40 swarms over two summers, from 2019 to 2021, and logged 12,480 dances in all.",
    "Each video was annotated twice, and the two annotators agreed on 94.2 percent of the dances.",
    "Support for a poor site fades within an hour, while support for a good one keeps growing.",
    "A quorum of about 15 scouts at one site is enough to start the swarm's departure.",
    "Our model, a simple Markov chain, predicts the chosen site in 37 of the 40 swarms.",
    "The GPS tags added less than two percent to a scout's weight and did not change her flights.",
    "When two sites were equally good, the swarm split its votes until one side reached the quorum first.",
    "These results suggest that the swarm behaves like a single decision maker with a tunable threshold.",
)


def test_the_script_is_sized_at_the_voice_s_measured_pace_and_the_narration_lands_on_time(pdf_paper: Paper) -> None:
    from media_pipeline.models import VoicePace
    from media_pipeline.stages import narrate

    document = pdf_paper.documents.get()
    paragraphs = [" ".join(_PROSE[i:] + _PROSE[:i]) for i in range(10)]
    for section in document.sections:
        if section["title"] in ("Introduction", "Methods", "Results"):
            section["paragraphs"] = [{"text": t, "pages": [1]} for t in paragraphs]
    document.save()
    for minutes in (1, 2):
        Paper.objects.filter(pk=pdf_paper.pk).update(script_minutes=minutes)
        pdf_paper.refresh_from_db()
        result = script.run(pdf_paper, force=False, progress=no_progress)
        current = script_current(pdf_paper)
        assert current is not None and abs(current.seconds - 60 * minutes) <= 6 * minutes, current.seconds
        assert str(result.metrics["pace"]).startswith("measured: piper:")
    # The voice was measured once, and kept: every later script for it is sized the same.
    assert VoicePace.objects.count() == 1
    pace = VoicePace.objects.get()
    assert 110 < pace.words_per_minute < 200
    # Said aloud, the 2-minute script lasts 2 minutes, give or take 10 %.
    narrated = narrate.run(pdf_paper, force=False, progress=no_progress)
    assert 108 <= float(narrated.metrics["audio_seconds"]) <= 132, narrated.metrics  # type: ignore[arg-type]


def test_a_voice_that_cannot_speak_here_is_assumed_at_its_nominal_pace_and_the_run_says_so(
    pdf_paper: Paper, settings: Any
) -> None:
    settings.PAPERCAST_PIPER_VOICE = "en_US-nobody-medium"
    settings.PAPERCAST_TTS_FALLBACK = "none"
    result = script.run(pdf_paper, force=False, progress=no_progress)
    assert "assumed 150 words a minute" in str(result.metrics["note"])
    assert "en_US-nobody-medium" in str(result.metrics["note"])


def test_a_rerun_reuses_the_script_and_an_edited_one_survives_until_forced(
    pdf_paper: Paper, users: dict[str, User], count_calls: Any
) -> None:
    script.run(pdf_paper, force=False, progress=no_progress)
    assert script.run(pdf_paper, force=False, progress=no_progress).reused
    current = script_current(pdf_paper)
    assert current is not None
    curation.script_edit(current, section="Results", text="Swarms chose well.", user=users["bob"])
    Paper.objects.filter(pk=pdf_paper.pk).update(script_minutes=10)  # inputs change, but a person wrote this
    pdf_paper.refresh_from_db()
    assert script.run(pdf_paper, force=False, progress=no_progress).reused
    script.run(pdf_paper, force=True, progress=no_progress)
    assert Script.objects.filter(paper=pdf_paper).count() == 2
    assert "Swarms chose well." not in [s.text for s in _sentences(pdf_paper)]


def test_an_edit_keeps_pages_of_kept_and_replaced_sentences_and_marks_new_ones(
    pdf_paper: Paper, users: dict[str, User]
) -> None:
    script.run(pdf_paper, force=False, progress=no_progress)
    current = script_current(pdf_paper)
    assert current is not None
    before = [s for s in _sentences(pdf_paper) if s.section == "Introduction"]
    kept_ids = [s.pk for s in before]
    lines = [before[0].text, "Scouts then dance, as Figure 1 shows, for a long time."] + [s.text for s in before[2:]]
    lines.append("This line is the editor's own.")
    changed = curation.script_edit(current, section="Introduction", text="\n".join(lines), user=users["bob"])
    assert changed == 2
    after = [s for s in _sentences(pdf_paper) if s.section == "Introduction"]
    assert [s.text for s in after] == lines
    assert after[0].pk == kept_ids[0] and after[0].pages == before[0].pages and not after[0].edited
    assert after[1].pages == before[1].pages and after[1].edited and after[1].figures == [1]
    assert after[-1].pages == [] and after[-1].edited
    indexes = [s.index for s in _sentences(pdf_paper)]
    assert indexes == list(range(len(indexes)))
    assert curation.script_edit(current, section="Introduction", text="\n".join(lines), user=users["bob"]) == 0
    current.refresh_from_db()
    assert current.edited_by == users["bob"]


@pytest.fixture
def llm(settings: Any) -> Iterator[FakeLLM]:
    with running(FakeLLM()) as server:
        settings.PAPERCAST_LLM_BACKEND = "ollama"
        settings.PAPERCAST_LLM_URL = server.url
        settings.PAPERCAST_LLM_MODEL = "qwen2.5:7b"
        settings.PAPERCAST_LLM_BACKOFF = 0.0
        yield server


def test_an_llm_writes_the_script_section_by_section_citing_paragraphs_for_pages(
    pdf_paper: Paper, llm: FakeLLM
) -> None:
    result = script.run(pdf_paper, force=False, progress=no_progress)
    requests = llm.chat_requests()
    assert len(requests) == 3  # Introduction, Methods, Results: not the references
    first = requests[0]["body"]
    assert first["format"]["properties"]["sentences"]["type"] == "array"
    prompt = first["messages"][1]["content"]
    assert pdfs.TITLE in prompt and "[1] When a colony outgrows" in prompt and "Begin by saying" in prompt
    assert "Begin by saying" not in requests[1]["body"]["messages"][1]["content"]
    sentences = _sentences(pdf_paper)
    assert [s.pages for s in sentences if s.section == "Methods"] == [[2], [2]]
    assert result.metrics["tokens_out"] == 42 * 3
    current = script_current(pdf_paper)
    assert current is not None and (current.backend, current.model) == ("ollama", "qwen2.5:7b")
    # The LLM proposes each section's chapter title (its first section opens the video), and chapters use them.
    assert current.chapter_titles == {
        "Introduction": "What Introduction shows",
        "Methods": "What Methods shows",
        "Results": "What Results shows",
    }
    spans = [{"i": i, "sentence": s.pk, "start": 2.0 * i, "end": 2.0 * i + 1.5} for i, s in enumerate(sentences)]
    Paper.objects.filter(pk=pdf_paper.pk).update(narration_spans=spans)
    pdf_paper.refresh_from_db()
    assert [title for _, title in section_starts(pdf_paper)] == [
        "What Introduction shows",
        "What Methods shows",
        "What Results shows",
    ]
    assert script.run(pdf_paper, force=False, progress=no_progress).reused
    assert len(llm.chat_requests()) == 3  # no new request for the same inputs


def test_a_section_the_llm_cannot_write_is_extracted_offline_and_the_run_says_so(
    pdf_paper: Paper, llm: FakeLLM
) -> None:
    llm.script = ["invalid_json", "invalid_json"]  # the first section's answer and its repair are unusable
    result = script.run(pdf_paper, force=False, progress=no_progress)
    sentences = _sentences(pdf_paper)
    introduction = [s.text for s in sentences if s.section == "Introduction"]
    assert introduction and not any(text.startswith("The paper says that") for text in introduction)
    assert any(s.text.startswith("The paper says that") for s in sentences if s.section == "Methods")
    assert result.metrics["fallback_sections"] == 1
    assert "Introduction" in result.metrics["note"] and "extracted offline" in result.metrics["note"]


def test_with_review_narration_waits_for_an_editors_approval(
    pdf_paper: Paper, users: dict[str, User], settings: Any
) -> None:
    Project.objects.filter(pk=pdf_paper.project_id).update(script_review=True)
    pdf_paper.refresh_from_db()
    run_inline(pdf_paper)
    stages = list(StageRun.objects.filter(paper=pdf_paper).order_by("created_at").values_list("stage", "status"))
    assert stages == [("extract", RunStatus.SUCCEEDED), ("script", RunStatus.SUCCEEDED)]  # and no narration
    with pytest.raises(PipelineGated, match="waits for an editor's approval"):
        pipeline_start(pdf_paper)

    settings.PAPERCAST_QUEUE_SYNC = False  # the approval queues narration; the workers would run it
    bob, carol, mallory = (Client() for _ in range(3))
    bob.force_login(users["bob"])
    carol.force_login(users["carol"])
    mallory.force_login(users["mallory"])
    url = f"/admin/projects/paper/{pdf_paper.pk}/"
    page = bob.get(url + "change/").content.decode()
    assert "Approve the script and narrate" in page and "waits for an editor" in page and "p. 2" in page
    viewer = carol.get(url + "change/").content.decode()
    assert "Approve the script and narrate" not in viewer and "Edit this section" not in viewer
    assert carol.post(url + "script/approve/").status_code == 403
    assert mallory.post(url + "script/approve/").status_code == 404
    assert carol.post(url + "script/edit/", {"section": "Results", "text": "x."}).status_code == 403

    edited = bob.post(url + "script/edit/", {"section": "Results", "text": "Swarms chose the best site."})
    assert edited.status_code == 302
    assert "Swarms chose the best site." in [s.text for s in _sentences(pdf_paper)]
    assert bob.post(url + "script/approve/").status_code == 302
    current = script_current(pdf_paper)
    assert current is not None and current.approved_by == users["bob"]
    narrate = StageRun.objects.filter(paper=pdf_paper).order_by("-created_at").first()
    assert narrate is not None and (narrate.stage, narrate.status, narrate.requested_by) == (
        "narrate", RunStatus.PENDING, users["bob"],
    )  # fmt: skip
    log = list(LogEntry.objects.filter(object_id=str(pdf_paper.pk)).values_list("change_message", flat=True))
    assert any("Approved script" in m for m in log) and any("Edited" in m for m in log)


def test_the_offline_script_bridges_into_sections_and_keeps_a_sentence_with_the_one_it_leans_on() -> None:
    from media_pipeline.backends.llm.script import ExtractiveScriptWriter, ScriptSource, SourceParagraph, SourceSection
    from media_pipeline.backends.tts.pace import assumed

    method = (
        "Scouts recorded every dance in the forty swarms over two summers. "
        "This gave the timing of each vote to the nearest minute, which the model needs. "
        "The weather was mild on most days of the season."
    )
    formula = "q = n_s / (n_s + k) for every k > 0. This gives the best site in every trial we recorded."
    source = ScriptSource(
        title="Swarm votes",
        authors=("Ada Lovelace",),
        abstract="Honeybee swarms choose a new home by a distributed vote among scouts.",
        sections=(
            SourceSection(
                "1 Introduction",
                (
                    SourceParagraph(
                        "Swarms of honeybees must find a new home quickly. Scouts search the woods for a cavity.", (1,)
                    ),
                ),
            ),
            SourceSection("2 Background", (SourceParagraph("Bees have been studied for a very long time.", (1,)),)),
            SourceSection("3 Methods", (SourceParagraph(method, (2,)), SourceParagraph(formula, (3,)))),
        ),
        seconds=80.0,
        pace=assumed(150.0, 0.3, 0.7, "assumed"),
    )
    writer = ExtractiveScriptWriter()
    # A section with one sentence to say is not a chapter of its own: a bridge and a sentence, gone in seconds.
    assert writer.write_section(source, 1, "").lines == []
    methods = writer.write_section(source, 2, "").lines
    assert methods[0].text == "Next, the authors describe their approach." and methods[0].pages == [2]
    said = [line.text for line in methods[1:]]
    leaning = said.index("This gave the timing of each vote to the nearest minute, which the model needs.")
    assert said[leaning - 1].startswith("Scouts recorded")  # said right after the sentence it points back to
    # A sentence pointing back to a formula that cannot be read aloud is not said at all.
    assert not any(text.startswith("This gives") for text in said)
    first = writer.write_section(source, 0, "").lines
    assert first[0].text.startswith("This is an explainer of the paper “Swarm votes”")
    assert "First, here is the problem the paper takes on." in [line.text for line in first]


@pytest.mark.parametrize(
    ("proposed", "kept"),
    [
        ("How swarms vote", "How swarms vote"),
        ("  “Choosing a home.”  ", "Choosing a home"),
        ("", ""),
        (None, ""),
        ("This section explains in great detail how the scouts of a swarm vote for a new home site", ""),
        ("## Methods", ""),
        ('{"chapter": "x"}', ""),
    ],
)
def test_a_proposed_chapter_title_is_used_only_when_it_reads_as_one(proposed: Any, kept: str) -> None:
    from media_pipeline.backends.llm.script import chapter_title

    assert chapter_title(proposed) == kept


@pytest.mark.parametrize(
    ("written", "said"),
    [
        # S2ORC and LongEval print bold run-in headings that the text layer glues to the sentence.
        ("Selecting PDFs We remove PDFs which are less likely to be academic papers.",
         "We remove PDFs which are less likely to be academic papers."),
        ("Collecting FINE annotations: For both SQuALITY and PubMed, we collect annotations.",
         "For both SQuALITY and PubMed, we collect annotations."),
        # Sentences that only look like it stay whole.
        ("We evaluate on The Pile dataset.", "We evaluate on The Pile dataset."),
        ("In Figure 4 we plot the correlation.", "In Figure 4 we plot the correlation."),
    ],
)  # fmt: skip
def test_a_run_in_heading_glued_to_a_sentence_is_not_read_aloud(written: str, said: str) -> None:
    from media_pipeline.backends.llm.script import without_run_in

    assert without_run_in(written) == said


@pytest.mark.parametrize(
    "text",
    [
        # Met in the corpus: not sentences a listener should hear.
        'Example 1 (Sparsity and elementwise "1-norm).',
        "I. Statistical: uses one or more statistical models for predicting mention spans.",
        "Since by definition of scenario 3 T i + 1.",
        "Figure 3 Grand Average ERPs at electrode Cz for all types of feedback.",
        "Selecting PDFs which are less likely to be academic papers",
        "The rest of this paper is organized as follows.",
        "Contact us at someone@example.org for the data.",
    ],
)
def test_the_offline_script_leaves_out_what_is_not_a_sentence(text: str) -> None:
    from media_pipeline.backends.llm.script import _readable

    assert not _readable(text)


def test_the_offline_script_keeps_ordinary_sentences() -> None:
    from media_pipeline.backends.llm.script import _readable

    assert _readable("All cars start their routes at the same time.")
    assert _readable("In Figure 3 we show how long the swarm takes to decide.")
