"""A quality signal for editors: script sentences the recogniser misheard too much of are "hard to follow",
with the words it misheard, on the paper page and in makevideo's JSON, so an editor rewrites them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from media_pipeline import curation
from media_pipeline.models import Script, ScriptSentence, Segment, Transcription, Word
from media_pipeline.report import paper_report
from media_pipeline.selectors import sentence_hearing
from projects import services
from projects.models import Paper, Project

pytestmark = pytest.mark.django_db

WORD_SECONDS = 0.4
PAUSE = 0.3
# Each sentence as its script words with what the recogniser heard ("" where transcribe stores nothing).
MISHEARD = [("Scouts", ""), ("waggle", "wiggle"), ("for", ""), ("sites.", "sights")]  # 2 of 4 words wrong
HEARD_RIGHT = [("The", ""), ("swarm", ""), ("follows", ""), ("them.", "them")]  # only the full stop differs


def make_heard_paper(project: Project, sentences: list[list[tuple[str, str]]]) -> Paper:
    """An arXiv paper with a script, its narration spans and a transcription aligned to the script, as the
    script, narrate and transcribe stages leave them (no model runs)."""
    paper = services.paper_create_from_arxiv(project=project, arxiv_id="2202.08906")
    script = Script.objects.create(paper=paper, input_fingerprint="x", backend="test", target_minutes=1)
    transcription = Transcription.objects.create(
        paper=paper, engine="test", model="test", duration=60, audio_fingerprint="x", input_fingerprint="x",
        aligned_to_script=True,
    )  # fmt: skip
    segment = Segment.objects.create(transcription=transcription, index=0, start=0, end=60, text="")
    spans: list[dict[str, Any]] = []
    at, index = 0.0, 0
    for i, words in enumerate(sentences):
        sentence = ScriptSentence.objects.create(
            script=script, index=i, section="Introduction", text=" ".join(t for t, _ in words), pages=[1]
        )
        spans.append({"i": i, "sentence": sentence.pk, "start": at, "end": at + len(words) * WORD_SECONDS})
        for text, recognized in words:
            Word.objects.create(
                transcription=transcription, segment=segment, index=index, start=at + 0.02,
                end=at + WORD_SECONDS - 0.02, text=text, recognized=recognized,
            )  # fmt: skip
            at, index = at + WORD_SECONDS, index + 1
        at += PAUSE
    Paper.objects.filter(pk=paper.pk).update(narration_spans=spans)
    paper.refresh_from_db()
    return paper


def _ids(paper: Paper) -> list[int]:
    return [int(span["sentence"]) for span in paper.narration_spans]


@pytest.fixture
def paper(project: Project) -> Paper:
    return make_heard_paper(project, [MISHEARD, HEARD_RIGHT])


def test_it_flags_a_sentence_misheard_in_half_its_words_with_the_words_misheard(paper: Paper) -> None:
    hearing = sentence_hearing(paper)[_ids(paper)[0]]
    assert hearing.error_rate == 0.5 and hearing.words == 4
    assert hearing.misheard == [("waggle", "wiggle"), ("sites", "sights")]
    assert hearing.hard_to_follow


def test_it_does_not_flag_a_sentence_heard_right(paper: Paper) -> None:
    hearing = sentence_hearing(paper)[_ids(paper)[1]]
    assert (hearing.error_rate, hearing.misheard, hearing.hard_to_follow) == (0.0, [], False)


def test_it_follows_the_threshold_setting(paper: Paper, settings: Any) -> None:
    first = _ids(paper)[0]
    settings.PAPERCAST_HARD_TO_FOLLOW = 0.5  # "above" the threshold: half the words is not enough now
    assert not sentence_hearing(paper)[first].hard_to_follow
    settings.PAPERCAST_HARD_TO_FOLLOW = 0.49
    assert sentence_hearing(paper)[first].hard_to_follow


def test_it_gives_one_entry_to_neighbouring_words_misheard_together(project: Project) -> None:
    # transcribe gives each script word of one run of differences the run's whole heard text.
    paper = make_heard_paper(
        project, [[("Swarm", ""), ("decisions", "swam this isn't"), ("matter", "swam this isn't"), ("most.", "")]]
    )
    hearing = sentence_hearing(paper)[_ids(paper)[0]]
    assert hearing.misheard == [("decisions matter", "swam this isn't")] and hearing.error_rate == 0.5


def test_it_does_not_count_what_sounds_the_same_as_misheard(project: Project) -> None:
    # Numbers in digits or in words, apostrophes, words run together: a listener hears no difference.
    paper = make_heard_paper(
        project,
        [[("About", ""), ("ten", "10,000"), ("thousand", "10,000"), ("scouts'", "scout's"), ("dances", ""),
          ("outgrow", "out grow"), ("Figure", ""), ("1.", "one")]],
    )  # fmt: skip
    hearing = sentence_hearing(paper)[_ids(paper)[0]]
    assert (hearing.error_rate, hearing.misheard) == (0.0, [])


def test_it_finds_a_sentence_s_words_when_the_recogniser_times_them_into_the_next(paper: Paper) -> None:
    # Recognisers squeeze a sentence's last word towards the next one: "sites." timed past the pause.
    second_start = float(paper.narration_spans[1]["start"])
    Word.objects.filter(text="sites.").update(start=second_start + 0.05, end=second_start + 0.1)
    Word.objects.filter(text="The").update(start=second_start + 0.1)
    hearing = sentence_hearing(paper)
    assert hearing[_ids(paper)[0]].misheard == [("waggle", "wiggle"), ("sites", "sights")]
    assert hearing[_ids(paper)[1]].error_rate == 0.0


def test_it_knows_nothing_before_transcription_or_without_script_alignment(paper: Paper) -> None:
    Transcription.objects.filter(paper=paper).update(aligned_to_script=False)
    assert sentence_hearing(paper) == {}
    Transcription.objects.filter(paper=paper).delete()
    assert sentence_hearing(paper) == {}


def test_it_forgets_the_hearing_of_a_sentence_rewritten_since_it_was_heard(
    paper: Paper, users: dict[str, User]
) -> None:
    script = Script.objects.get(paper=paper)
    curation.script_edit(
        script, section="Introduction", text="Scouts dance for sites.\nThe swarm follows them.", user=users["bob"]
    )
    hearing = sentence_hearing(paper)
    first, second = _ids(paper)
    assert ScriptSentence.objects.filter(pk=first).exists()  # the same row, with new words
    assert first not in hearing and not hearing[second].hard_to_follow


def test_it_reads_the_hearing_in_queries_that_do_not_grow_with_sentences(
    project: Project, django_assert_num_queries: Callable[..., Any]
) -> None:
    few = make_heard_paper(project, [HEARD_RIGHT] * 3)
    many = make_heard_paper(project, [HEARD_RIGHT] * 30)
    with django_assert_num_queries(3):
        assert len(sentence_hearing(few)) == 3
    with django_assert_num_queries(3):
        assert len(sentence_hearing(many)) == 30


def test_it_puts_the_flags_in_the_report(paper: Paper) -> None:
    script = paper_report(paper)["script"]
    assert [s["flags"] for s in script] == [["hard_to_follow"], []]
    assert [s["error_rate"] for s in script] == [0.5, 0.0]
    assert script[0]["misheard"] == [{"said": "waggle", "heard": "wiggle"}, {"said": "sites", "heard": "sights"}]
    Transcription.objects.filter(paper=paper).delete()
    before = paper_report(paper)["script"]
    assert [(s["flags"], s["error_rate"], s["misheard"]) for s in before] == [([], None, [])] * 2


def test_it_shows_the_flag_on_the_paper_page(paper: Paper, users: dict[str, User]) -> None:
    client = Client()
    client.force_login(users["carol"])  # a viewer sees it too
    page = client.get(f"/admin/projects/paper/{paper.pk}/change/").content.decode()
    assert "1 sentence hard to follow" in page
    assert "hard to follow: heard “wiggle” for “waggle”, heard “sights” for “sites”" in page
    assert page.count("hard to follow: heard") == 1  # the sentence heard right is not marked
