"""The offline summarizer: picks the scene's most telling sentence(s); no model, fully deterministic."""

from __future__ import annotations

import re
from collections import Counter

from media_pipeline.backends.llm.base import SceneRequest, SceneSummary

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just like me more most my myself
    no nor not now of off on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours yourself
    yourselves one two us may might must shall let lets get got make makes made way ways thing things really
    much many well even still yet whether within without across another every
    """.split()
)
MAX_SUMMARY_WORDS = 40
NEGATIVE_PROMPT = "text, letters, watermark, logo, signature, blurry, low quality, deformed, distorted"


def keywords(text: str, limit: int = 5) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    counts = Counter(w for w in words if w not in STOPWORDS and len(w) > 3)
    # Ties keep first-appearance order, so the result is stable for the same text.
    order = {w: i for i, w in reversed(list(enumerate(words)))}
    return [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], order[item[0]]))[:limit]]


def _trim(sentence: str, limit: int) -> str:
    words = sentence.split()
    if len(words) <= limit:
        return sentence
    return " ".join(words[:limit]).rstrip(",;:") + "…"


def summarize_text(text: str) -> str:
    """One or two of the scene's own sentences, the ones densest in its key words, in their order."""
    text = " ".join(text.split())
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    if not sentences:
        return ""
    if len(sentences) == 1:
        return _trim(sentences[0], MAX_SUMMARY_WORDS)
    key = set(keywords(text, limit=8))

    def score(sentence: str) -> float:
        tokens = [w.lower() for w in _WORD.findall(sentence)]
        return sum(1 for t in tokens if t in key) / (len(tokens) ** 0.5 or 1)

    ranked = sorted(range(len(sentences)), key=lambda i: (-score(sentences[i]), i))
    chosen = sorted(ranked[:2])
    if sum(len(sentences[i].split()) for i in chosen) > MAX_SUMMARY_WORDS:
        chosen = [ranked[0]]
    return _trim(" ".join(sentences[i] for i in chosen), MAX_SUMMARY_WORDS)


class ExtractiveSummarizer:
    name = "extractive"
    prompt_version = "extractive-1"

    def identity(self, model: str) -> str:
        return f"{self.name}:{self.prompt_version}"

    def summarize(self, request: SceneRequest) -> SceneSummary:
        summary = summarize_text(request.text) or request.paper_title
        subjects = ", ".join(keywords(request.text)) or request.paper_title
        prompt = (
            f'{request.style}. An illustration for a video about "{request.paper_title}", '
            f"showing {subjects}. The scene: {summary} Detailed, well composed, no text in the image."
        )
        negative = request.negative_prompt or NEGATIVE_PROMPT
        return SceneSummary(summary=summary, image_prompt=prompt, negative_prompt=negative, model="")
