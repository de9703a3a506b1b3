"""Composition for the render stage, as pure functions: frame timing, image fitting, ffconcat lists,
burned-in caption documents (ASS) and the Ken Burns motion filters.

Times are placed on a frame grid by rounding (never truncating); scene i is on screen from its start to
the next scene's start (the first from 0, the last to the end of the audio).
"""

from __future__ import annotations

import itertools
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageFilter, ImageOps

from media_pipeline.stages.captions import Cue

STILL_FPS = 25  # the concat demuxer's image clock; still mode's timestamps sit on this grid
MOTION_FPS = 30
FADE_SECONDS = 0.5
ZOOM = 0.08  # a Ken Burns move covers 8 % of the frame over the scene


def scene_frames(starts: Sequence[float], duration: float, fps: int = STILL_FPS) -> list[int]:
    """Frames each scene is on screen: scene i from its start (the first from 0) to the next's start.

    Boundaries are rounded to the nearest frame; every scene keeps at least one frame and the total is the
    audio's duration in frames.
    """
    total = max(round(duration * fps), len(starts))
    edges = [0] + [round(s * fps) for s in starts[1:]] + [total]
    for i in range(1, len(edges) - 1):
        # Keep order, give every scene a frame, and leave room for the scenes after this one.
        edges[i] = min(max(edges[i], edges[i - 1] + 1), total - (len(edges) - 1 - i))
    return [edges[i + 1] - edges[i] for i in range(len(edges) - 1)]


def edges_of(frames: Sequence[int]) -> list[int]:
    out = [0]
    for count in frames:
        out.append(out[-1] + count)
    return out


@dataclass(frozen=True)
class Entry:
    scene: int
    frames: int


def still_timeline(frames: Sequence[int], cuts: Sequence[int] = ()) -> list[Entry]:
    """One entry per scene, split where burned-in captions change (frame numbers in `cuts`).

    The last entry is split so that a one-frame closing entry starts on the final frame: the video then
    lasts exactly as long as the audio (a frame's duration is only known from the next frame's start).
    """
    edges = edges_of(frames)
    total = edges[-1]
    points = sorted({*edges, *(c for c in cuts if 0 < c < total)})
    entries: list[Entry] = []
    scene = 0
    for a, b in itertools.pairwise(points):
        while edges[scene + 1] <= a:
            scene += 1
        entries.append(Entry(scene, b - a))
    last = entries[-1]
    if last.frames > 1:
        entries[-1:] = [Entry(last.scene, last.frames - 1), Entry(last.scene, 1)]
    return entries


def still_concat_list(names: Sequence[str], entries: Sequence[Entry], fps: int = STILL_FPS) -> str:
    """An ffconcat list: each entry is one image shown for a whole number of frames (one encoded frame)."""
    lines = ["ffconcat version 1.0"]
    for entry in entries:
        lines += [f"file {names[entry.scene]}", f"duration {entry.frames / fps:.6f}"]
    return "\n".join(lines) + "\n"


def fit_image(source: Path, width: int, height: int, fit: str) -> PILImage.Image:
    """The image at exactly width x height without distortion.

    cover: scaled to fill the frame, the overflow cropped evenly. blur: the whole image scaled to fit,
    over a blurred, darkened copy that fills the frame (no black bars; good for 9:16 from 16:9 pictures).
    """
    with PILImage.open(source) as opened:
        image = opened.convert("RGB")
    if fit == "cover" or image.size == (width, height):
        return ImageOps.fit(image, (width, height), method=PILImage.Resampling.LANCZOS)
    background = ImageOps.fit(image, (max(width // 8, 1), max(height // 8, 1)), method=PILImage.Resampling.BILINEAR)
    background = background.filter(ImageFilter.GaussianBlur(6)).resize((width, height), PILImage.Resampling.BILINEAR)
    background = PILImage.blend(background, PILImage.new("RGB", (width, height)), 0.35)
    foreground = ImageOps.contain(image, (width, height), method=PILImage.Resampling.LANCZOS)
    background.paste(foreground, ((width - foreground.width) // 2, (height - foreground.height) // 2))
    return background


# --- Burned-in captions ---------------------------------------------------------------------------------

# Noto families (Debian: fonts-noto-core, fonts-noto-cjk) by Unicode script; libass falls back through
# fontconfig for anything the chosen family lacks.
_SCRIPT_FONTS = (
    ("ARABIC", "Noto Sans Arabic"),
    ("HEBREW", "Noto Sans Hebrew"),
    ("DEVANAGARI", "Noto Sans Devanagari"),
    ("BENGALI", "Noto Sans Bengali"),
    ("TAMIL", "Noto Sans Tamil"),
    ("THAI", "Noto Sans Thai"),
    ("HANGUL", "Noto Sans CJK KR"),
    ("HIRAGANA", "Noto Sans CJK JP"),
    ("KATAKANA", "Noto Sans CJK JP"),
    ("CJK", "Noto Sans CJK SC"),
)


def caption_font(text: str) -> str:
    """A font family that covers the script most of the text's letters are in."""
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        for script, family in _SCRIPT_FONTS:
            if name.startswith(script):
                counts[family] = counts.get(family, 0) + 1
                break
    if counts:
        return max(counts, key=lambda family: counts[family])
    return "Noto Sans"


def _ass_time(frame: int, fps: int) -> str:
    # Floor to centiseconds: the frame at `frame` (t = frame / fps) is then inside the event.
    centis = math.floor(frame * 100 / fps + 1e-9)
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    seconds, centis = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{seconds:02d}.{centis:02d}"


def _ass_text(lines: Sequence[str]) -> str:
    cleaned = [line.replace("\\", "\u2216").replace("{", "(").replace("}", ")") for line in lines]
    return "\\N".join(cleaned)


def cue_frames(cues: Sequence[Cue], fps: int, total: int) -> list[tuple[int, int, Cue]]:
    """Each cue's first frame and the first frame after it, on the video's grid; empty ones dropped."""
    out = []
    for cue in cues:
        start, end = min(round(cue.start * fps), total), min(round(cue.end * fps), total)
        if end > start:
            out.append((start, end, cue))
    return out


def ass_document(cues: Sequence[Cue], *, width: int, height: int, fps: int, total: int) -> str:
    """An ASS subtitle file for libass: white text with a dark outline, bottom centre, times on the grid."""
    text = " ".join(line for cue in cues for line in cue.lines)
    font = caption_font(text)
    size = round(min(height * 0.052, width * 0.9 / 42 / 0.52))
    outline = max(round(size * 0.08), 2)
    margin_v = round(height * (0.06 if height > width else 0.05))
    header = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 2",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
        "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
        "MarginR, MarginV, Encoding",
        f"Style: Default,{font},{size},&H00FFFFFF,&H000000FF,&H00101010,&H80000000,-1,0,0,0,100,100,0,0,1,"
        f"{outline},0,2,{round(width * 0.05)},{round(width * 0.05)},{margin_v},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    events = [
        f"Dialogue: 0,{_ass_time(a, fps)},{_ass_time(b, fps)},Default,,0,0,0,,{_ass_text(cue.lines)}"
        for a, b, cue in cue_frames(cues, fps, total)
    ]
    return "\n".join(header + events) + "\n"


def filter_path(path: Path) -> str:
    """A path quoted for use as a filter option value (libavfilter's escaping rules)."""
    escaped = str(path).replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return f"'{escaped}'"


# --- Motion (Ken Burns) ---------------------------------------------------------------------------------


def _move(scene: int, span: int, offset: int, width: int, height: int) -> str:
    """scale+crop filters for scene `scene`'s move, with frame n of this stream at `offset + n` of `span`."""
    p = f"min((n+{offset})/{max(span, 1)},1)"
    kind = scene % 4
    if kind == 0:  # zoom in, centred
        zoom, px, py = f"(1+{ZOOM}*{p})", "0.5", "0.5"
    elif kind == 1:  # zoom out, centred
        zoom, px, py = f"(1+{ZOOM}*(1-{p}))", "0.5", "0.5"
    elif kind == 2:  # pan left to right
        zoom, px, py = f"(1+{ZOOM})", p, "0.5"
    else:  # pan right to left
        zoom, px, py = f"(1+{ZOOM})", f"(1-{p})", "0.5"
    return (
        f"scale=w='2*ceil({width}*{zoom}/2)':h='2*ceil({height}*{zoom}/2)':eval=frame:flags=bicubic,"
        f"crop={width}:{height}:x='(iw-{width})*{px}':y='(ih-{height})*{py}'"
    )


def fade_frames(frames: Sequence[int], index: int, fps: int = MOTION_FPS) -> int:
    """Frames of the crossfade into scene `index` (0: none): half a second, less for short scenes."""
    if index == 0:
        return 0
    fade = min(round(FADE_SECONDS * fps), frames[index] // 3, frames[index - 1] // 3)
    return fade if fade >= 2 else 0


def motion_filter(
    frames: Sequence[int], index: int, *, width: int, height: int, fps: int = MOTION_FPS, captions: str = ""
) -> str:
    """The filter graph for scene `index`'s segment: input 0 is its image; input 1 (when fading) the previous.

    The segment has exactly frames[index] frames. The previous scene's move carries on under the fade, so
    the picture never jumps. `captions` is a filter (subtitles=...) applied at the segment's absolute time.
    """
    count = frames[index]
    fade = fade_frames(frames, index, fps)
    still = f"loop=loop=-1:size=1:start=0,setpts=N/{fps}/TB"
    parts = [
        f"[0:v]{still},{_move(index, count, 0, width, height)},trim=end_frame={count},setsar=1,format=yuv444p[cur]"
    ]
    label = "cur"
    if fade:
        previous = frames[index - 1]
        parts.append(
            f"[1:v]{still},{_move(index - 1, previous, previous, width, height)},trim=end_frame={fade},"
            "setsar=1,format=yuv444p[prev]"
        )
        parts.append(f"[prev][cur]xfade=transition=fade:duration={fade / fps:.6f}:offset=0[mixed]")
        label = "mixed"
    start = sum(frames[:index])
    tail = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
    if captions:
        tail = f"setpts=PTS+{start}/({fps}*TB),{captions},setpts=PTS-STARTPTS,{tail}"
    parts.append(f"[{label}]{tail}[v]")
    return ";".join(parts)
