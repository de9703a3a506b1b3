"""A text paper made without a title is named by its own heading, not by its file name ("fireflies")."""

from __future__ import annotations

import pytest

from projects.services import title_from_text


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("# Fireflies flash in sync\n\nMale fireflies of one species…", "Fireflies flash in sync"),
        ("\ufeff\n\n## How bees vote ##\nScouts dance.", "How bees vote"),
        ("Fireflies in the Smoky Mountains\n================\n\nEvery June…", "Fireflies in the Smoky Mountains"),
        ("Quorum sensing in honeybee swarms\n\nWhen a colony grows too large…", "Quorum sensing in honeybee swarms"),
        ("Male fireflies flash together. Nobody leads them.\nThey watch their neighbours.", ""),  # prose
        ("Fireflies flash in sync because each one watches its neighbours and they all adjust\nto one beat", ""),
        ("", ""),
        ("#\n\nText.", ""),
    ],
)
def test_a_text_s_heading_is_its_title(text: str, title: str) -> None:
    assert title_from_text(text) == title
