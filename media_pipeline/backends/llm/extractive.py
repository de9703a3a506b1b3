"""The offline summarizer: picks the scene's most telling sentence(s); no model, fully deterministic."""

from __future__ import annotations

import math
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
    prompt_version = "extractive-3"  # 2: key phrases; 3: fewer prepositions and verbs in them

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
        return SceneSummary(
            summary=summary,
            image_prompt=prompt,
            negative_prompt=negative,
            model="",
            key_phrases=tuple(key_phrases(request.text)),
        )


_TOKEN = re.compile(r"[A-Za-z0-9][\w'’.-]*[\w]|[A-Za-z0-9]")
_QUANTITY = frozenset("million billion thousand percent times fold".split())
_WEAK = frozenset(
    """work approach method section figure table show shows shown use used using
    based propose proposed present presents new first second also however example describe describes authors
    author next finally look looks towards toward via across among within without upon despite throughout
    whereas while""".split()
)
_VERBS = frozenset(
    """consists consist contains contain include includes remain remains allows allow enables enable requires
    require makes provides provide gives give takes take leads lead yields yield likely less more directly
    overcome overcomes must specify specifies remove removes process processes generate generates identify
    identifies extract extracts obtain obtains retrieve retrieves achieve achieves improve improves therefore
    thus hence moreover furthermore additionally instead rely relies depend depends need needs help helps learn
    learns capture captures produce produces perform performs outperform outperforms predict predicts
    represent represents encode encodes focus focuses exist exists appear appears seem seems tend tends become
    becomes contribute contributes""".split()
)
# A phrase on a slide names a thing, not an action: "Introduce S2ORC" shows as "S2ORC".
_LEADING_VERBS = frozenset(
    """introduce introduces evaluate evaluates consider considers study studies find finds report reports build
    builds train trains compare compares measure measures collect collects apply applies define defines
    construct constructs analyze analyzes analyse analyses demonstrate demonstrates develop develops release
    releases provide provides""".split()
)


_PAPERCAST_SAYS = re.compile(
    r"^(?:This is an explainer of|First, here is|(?:First|Next), (?:we|the paper|the authors)|Now we come|"
    r"Finally, here is)\b"
)


def key_phrases(text: str, limit: int = 3) -> list[str]:
    """Up to `limit` short phrases a slide can show for a scene: runs of two to five content words from its
    narration (a number with what it counts, a name, a noun phrase, "of" allowed inside), the most telling
    first (words the scene repeats, numbers, names), shown in the order the scene says them. Never a whole
    sentence, and never an action ("Introduce S2ORC" is "S2ORC")."""
    words = [w.lower() for w in _WORD.findall(text)]
    counts = Counter(w for w in words if w not in STOPWORDS and len(w) > 2)
    candidates: dict[str, tuple[float, int]] = {}

    def add(run: list[str]) -> None:
        run = _trimmed(run)
        if not (2 <= len(run) <= 5 or (len(run) == 1 and _is_name(run[0]))):
            return
        phrase = " ".join(run)
        if phrase.lower() in (known.lower() for known in candidates):
            return
        score = sum(math.log1p(counts[w.lower()]) for w in run if w.lower() != "of") + 0.4 * min(len(run), 4)
        score += 1.5 if any(c.isdigit() for c in phrase) else 0.0
        score += (1.5 if len(run) == 1 else 1.0) if any(_is_name(w) for w in run) else 0.0
        candidates[phrase] = (score, len(candidates))

    for sentence in _SENTENCE.split(" ".join(text.split())):
        if _PAPERCAST_SAYS.match(sentence):
            continue  # the opening and the bridges papercast adds say nothing a slide should show
        tokens = _TOKEN.findall(sentence)
        run: list[str] = []
        for i, token in enumerate([*tokens, ""]):
            low = token.lower()
            joins = low == "of" and bool(run) and i + 1 < len(tokens) and tokens[i + 1].lower() not in STOPWORDS
            if token and ((low not in STOPWORDS and low not in _VERBS) or joins or (run and low in _QUANTITY)):
                run.append(token)
                continue
            if len(run) > 5:  # a long run: its best window of four words
                windows = [run[k : k + 4] for k in range(len(run) - 3)]
                run = max(windows, key=lambda w: sum(math.log1p(counts[x.lower()]) for x in w))
            add(run)
            run = []
    chosen: list[tuple[int, str]] = []
    used: set[str] = set()
    for phrase, (_, order) in sorted(candidates.items(), key=lambda item: (-item[1][0], item[1][1])):
        said = {w.lower() for w in phrase.split()} - {"of"}
        if said & used:
            continue
        chosen.append((order, phrase))
        used |= said
        if len(chosen) == limit:
            break
    return [p[:1].upper() + p[1:] for _, p in sorted(chosen)]


def _verbish(word: str, *, leading: bool) -> bool:
    low = word.lower()
    if low in _WEAK or low in _VERBS or (len(low) > 4 and low.endswith("ly")):
        return True
    return low.endswith(("ing", "ed")) or (leading and low in _LEADING_VERBS)


def _trimmed(run: list[str]) -> list[str]:
    """A run without the actions and fillers at its ends ("Corpus consists" -> "Corpus")."""
    while run and (run[-1].lower() == "of" or (len(run) > 1 and _verbish(run[-1], leading=False))):
        run = run[:-1]
    while run and (run[0].lower() == "of" or (len(run) > 1 and _verbish(run[0], leading=True))):
        run = run[1:]
    return run


def _is_name(token: str) -> bool:
    """An acronym or a name set in capitals inside a word ("S2ORC", "GROBID", "SciBERT")."""
    return len(token) > 1 and sum(c.isupper() for c in token) >= 2
