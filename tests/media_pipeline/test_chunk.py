from __future__ import annotations

import itertools

from hypothesis import example, given, settings
from hypothesis import strategies as st

from media_pipeline.stages.chunk import TimedWord, plan_scenes

WORD_TEXT = st.sampled_from(["bees", "swarm", "dance", "site", "scouts", "queen", "vote"])
PUNCT = st.sampled_from(["", "", "", ",", ".", "?"])


@st.composite
def timed_words(draw: st.DrawFn) -> list[TimedWord]:
    count = draw(st.integers(min_value=0, max_value=120))
    words, t = [], draw(st.floats(min_value=0, max_value=2))
    for _ in range(count):
        t += draw(st.floats(min_value=0, max_value=1.5))  # pause before the word
        length = draw(st.one_of(st.floats(min_value=0.01, max_value=0.9), st.floats(min_value=0.9, max_value=12)))
        words.append(TimedWord(t, t + length, draw(WORD_TEXT) + draw(PUNCT)))
        t += length
    return words


@settings(max_examples=300, deadline=None)
@given(words=timed_words(), max_seconds=st.floats(min_value=2, max_value=30))
def test_it_covers_every_word_once_in_order_without_overlap_within_the_bound(
    words: list[TimedWord], max_seconds: float
) -> None:
    scenes = plan_scenes(words, max_seconds)
    # Coverage and order: the scenes' word ranges tile the word list exactly.
    covered = [i for scene in scenes for i in range(scene.first, scene.last + 1)]
    assert covered == list(range(len(words)))
    for previous, scene in itertools.pairwise(scenes):
        assert previous.end <= scene.start  # no overlap
        assert previous.start < scene.start  # in order
    for scene in scenes:
        assert scene.start == words[scene.first].start and scene.end == words[scene.last].end
        assert scene.text == " ".join(w.text for w in words[scene.first : scene.last + 1])
        # The bound holds, except for a single word that is itself longer than the bound.
        assert scene.end - scene.start <= max_seconds or scene.first == scene.last


def _words(text: str, seconds_per_word: float = 0.4) -> list[TimedWord]:
    return [TimedWord(i * seconds_per_word, (i + 1) * seconds_per_word, w) for i, w in enumerate(text.split())]


def test_it_ends_scenes_on_a_sentence_boundary_when_one_is_near() -> None:
    first = "Bees swarm in spring when the colony grows too large."  # 10 words, 4 s of an 8 s window
    words = _words(first + " Scouts search for a new home and then they dance for the best site they find today.")
    scenes = plan_scenes(words, max_seconds=8.0)
    assert scenes[0].text == first
    assert all(s.end - s.start <= 8.0 for s in scenes)


def test_it_splits_a_single_long_segment_on_word_boundaries() -> None:
    # One 31-second sentence with no punctuation (the seed blog's first chunk) becomes several scenes.
    words = _words(" ".join(["word"] * 78), seconds_per_word=0.4)
    scenes = plan_scenes(words, max_seconds=8.0)
    assert len(scenes) >= 4
    assert all(s.end - s.start <= 8.0 for s in scenes)
    assert sum(s.last - s.first + 1 for s in scenes) == 78


def test_it_prefers_a_clause_boundary_to_cutting_mid_phrase() -> None:
    words = _words(
        "the scouts return slowly to the waiting swarm, and each one dances for the site she found with vigour"
    )
    scenes = plan_scenes(words, max_seconds=5.0)
    assert scenes[0].text.endswith("swarm,")


def _said(text: str, start: float = 0.0, pace: float = 0.4) -> list[TimedWord]:
    return [TimedWord(start + i * pace, start + i * pace + pace * 0.9, w) for i, w in enumerate(text.split())]


@settings(max_examples=200, deadline=None)
@example(  # found by hypothesis: a scene that began 6 ms before a section's wall ran through it
    words=[TimedWord(115.71412934673465, 116.21412934673465, "bees"), TimedWord(116.21412934673465, 117.0, "bees")],
    max_seconds=20.0,
    cuts=[116.0703125],
)
@given(
    words=timed_words(),
    max_seconds=st.floats(min_value=2, max_value=30),
    cuts=st.lists(st.floats(min_value=0, max_value=200), max_size=6),
)
def test_it_never_lets_a_scene_span_a_sections_start(
    words: list[TimedWord], max_seconds: float, cuts: list[float]
) -> None:
    scenes = plan_scenes(words, max_seconds, cuts)
    assert [w for s in scenes for w in range(s.first, s.last + 1)] == list(range(len(words)))
    for scene in scenes:
        for cut in cuts:
            inside = [w for w in words[scene.first : scene.last + 1] if w.start >= cut - 0.35]
            before = [w for w in words[scene.first : scene.last + 1] if w.start < cut - 0.35]
            assert not (inside and before), (cut, scene)


def test_a_new_section_starts_a_new_scene_even_when_the_recogniser_hears_it_a_little_early() -> None:
    words = _said("Bees vote on sites.") + _said("Next, the method. Scouts dance.", start=2.3)
    # The section starts at 2.5 s in the narration; the recogniser put its first word at 2.3 s.
    scenes = plan_scenes(words, 30.0, [2.5])
    assert [s.text for s in scenes] == ["Bees vote on sites.", "Next, the method. Scouts dance."]


def test_a_long_sentence_is_split_before_which_or_and_never_inside_a_phrase() -> None:
    words = _said("The scouts dance for the best cavity they found which the swarm then chooses after a long vote.")
    scenes = plan_scenes(words, 5.0)
    assert scenes[0].text == "The scouts dance for the best cavity they found"
    assert scenes[1].text.startswith("which the swarm")


def test_no_scene_is_only_the_end_of_a_sentence_before_a_new_section() -> None:
    """A scene of "date." alone (a second on screen) before the next section: the scene before it ends
    earlier, at a clause, so the last one holds a few seconds."""
    words = _said("Scouts find sites, and each one dances for the site she found until the swarm agrees on a date.")
    words += _said("Next, the method. Scouts dance for hours.", start=words[-1].end + 0.7)
    section = words[-7].start
    scenes = plan_scenes(words, 7.0, [section])
    before = [s for s in scenes if s.end <= section]
    assert all(s.end - s.start >= 3.0 for s in before[1:]), [s.text for s in scenes]
    assert scenes[[s.end <= section for s in scenes].index(False)].text.startswith("Next")
