"""The render stage: timing, modes, sizes, captions, music, safety. Scenes, words and images are made
directly (no models run); the narration is a generated tone."""

from __future__ import annotations

import io
import itertools
import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from media_pipeline.backends.errors import PermanentError
from media_pipeline.models import Chunk, Image, Segment, Summary, Transcription, Video, Word
from media_pipeline.stages import no_progress, render
from media_pipeline.stages.captions import Cue
from media_pipeline.stages.compose import ass_document, caption_font, fit_image
from projects.models import Paper, Project
from tests.conftest import make_audio_paper, make_tone
from tests.frames import shown_at

COLOURS = [(220, 40, 40), (40, 180, 60), (40, 70, 220), (230, 200, 40)]
AAC_PRIMING = 1024 / 48000


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (1600, 1200)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_video_paper(
    project: Project,
    tmp: Path,
    starts: list[float],
    duration: float,
    *,
    words: list[tuple[float, float, str]] | None = None,
    image_names: list[str] | None = None,
) -> Paper:
    """An audio paper with a transcript, scenes starting at `starts` and one selected image per scene."""
    paper = make_audio_paper(project, make_tone(tmp / "narration.wav", duration))
    transcription = Transcription.objects.create(
        paper=paper, engine="test", model="test", duration=duration, audio_fingerprint="x", input_fingerprint="x"
    )
    segment = Segment.objects.create(transcription=transcription, index=0, start=0, end=duration, text="")
    for i, (start, end, text) in enumerate(words or [(0.2, 0.8, "Hello.")]):
        Word.objects.create(transcription=transcription, segment=segment, index=i, start=start, end=end, text=text)
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else duration
        chunk = Chunk.objects.create(
            paper=paper, transcription=transcription, index=i, start=start, end=end, text=f"Scene {i}.",
            input_fingerprint="x",
        )  # fmt: skip
        Summary.objects.create(
            chunk=chunk, summary=f"Scene number {i + 1}", image_prompt="p", backend="t", prompt_version="t",
            input_fingerprint="x",
        )  # fmt: skip
        name = (image_names or [])[i] if image_names else f"projects/{project.pk}/papers/{paper.pk}/s{i}.png"
        stored = default_storage.save(name, ContentFile(_png(COLOURS[i % len(COLOURS)])))
        Image.objects.create(
            chunk=chunk, file=stored, prompt="p", seed=i, backend="t", width=1600, height=1200, sha256=f"{i}" * 8,
            selected=True, input_fingerprint="x",
        )  # fmt: skip
    return paper


def _render(paper: Paper) -> tuple[Video, Path]:
    render.run(paper, force=False, progress=no_progress)
    video = Video.objects.get(paper=paper)
    return video, Path(video.file.path)


def _assert_scenes_shown(video: Path, starts: list[float], duration: float) -> None:
    for i, start in enumerate(starts):
        until = starts[i + 1] if i + 1 < len(starts) else duration
        frame = shown_at(video, ((0.0 if i == 0 else start) + until) / 2)
        centre = frame[12:24, 24:40].reshape(-1, 3).mean(axis=0)
        distances = [float(np.abs(centre - np.array(c)).mean()) for c in COLOURS]
        assert int(np.argmin(distances)) == i % len(COLOURS), f"scene {i}: shows {centre}"
        assert distances[i % len(COLOURS)] < 12


SIZES = [(1920, 1080), (1280, 720), (1080, 1920)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["still", "motion"])
@pytest.mark.parametrize("size", SIZES, ids=["1080p", "720p", "shorts"])
def test_each_scene_is_on_screen_for_its_span_in_every_mode_and_size(
    project: Project, tmp_dir: Path, mode: str, size: tuple[int, int]
) -> None:
    Project.objects.filter(pk=project.pk).update(
        render_mode=mode, video_width=size[0], video_height=size[1], image_fit="blur" if size[1] > size[0] else "cover"
    )
    project.refresh_from_db()
    starts, duration = [0.3, 1.9, 3.1, 4.6], 6.0  # the first scene's image shows from 0
    paper = make_video_paper(project, tmp_dir, starts, duration)
    video, path = _render(paper)
    _assert_scenes_shown(path, starts, duration)

    info = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
            check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip
    streams = {s["codec_type"]: s for s in info["streams"]}
    v, a = streams["video"], streams["audio"]
    assert (v["codec_name"], v["profile"], v["pix_fmt"], v["width"], v["height"]) == ("h264", "High", "yuv420p", *size)
    assert v.get("color_space") == "bt709" and v.get("has_b_frames", 0) == 0
    assert (a["codec_name"], a["profile"], a["sample_rate"], a["channels"]) == ("aac", "LC", "48000", 2)
    frame = 1 / (25 if mode == "still" else 30)
    for seconds in (float(v["duration"]), float(a["duration"])):
        assert abs(seconds - duration) <= frame + AAC_PRIMING + 1e-3  # AAC's priming delays both streams alike
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat") and b"elst" not in data[: data.index(b"mdat")]
    assert abs(video.duration - duration) <= 0.1 and (video.width, video.height) == size


@pytest.mark.django_db(transaction=True)
def test_still_mode_encodes_each_image_once_and_every_frame_is_a_keyframe(project: Project, tmp_dir: Path) -> None:
    starts, duration = [0.0, 2.0, 5.0], 9.0
    paper = make_video_paper(project, tmp_dir, starts, duration)
    _, path = _render(paper)
    listing = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-of", "json",
         str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    packets = json.loads(listing)["packets"]
    assert len(packets) == 4  # three scenes and the closing frame that carries the last one to the end
    assert all(p["flags"].startswith("K") for p in packets)
    pts = [float(p["pts_time"]) for p in packets]
    # Without an edit list, the AAC encoder's priming (1024 samples) delays the sound by 21 ms; every scene
    # change is delayed by exactly as much, so pictures stay in step with the narration.
    assert pts == pytest.approx([0.0, 2.0 + AAC_PRIMING, 5.0 + AAC_PRIMING, 9.0 - 0.04 + AAC_PRIMING], abs=1e-3)


def test_an_hour_does_not_drift() -> None:
    from media_pipeline.stages.compose import scene_frames, still_timeline

    starts = [i * 7.37 for i in range(489)]  # an hour of scenes at an awkward length
    frames = scene_frames(starts, 3600.0)
    edges = [sum(frames[:i]) for i in range(len(frames))]
    assert sum(frames) == 90000 and all(abs(e / 25 - s) <= 0.02 + 1e-9 for e, s in zip(edges, starts, strict=True))
    assert sum(e.frames for e in still_timeline(frames)) == 90000


@pytest.mark.django_db(transaction=True)
def test_hostile_image_names_cannot_break_the_input_list(project: Project, tmp_dir: Path) -> None:
    hostile = ["it's a 'quoted' name.png", "file with spaces\nfile /etc/passwd.png", "back\\slash%0a$HOME.png"]
    paper = make_video_paper(
        project, tmp_dir, [0.0, 1.5, 3.0], 4.5, image_names=[f"projects/{project.pk}/{n}" for n in hostile]
    )
    _, path = _render(paper)
    _assert_scenes_shown(path, [0.0, 1.5, 3.0], 4.5)


@pytest.mark.django_db(transaction=True)
def test_a_killed_ffmpeg_leaves_no_video_row_and_no_file(
    project: Project, tmp_dir: Path, settings: Any, tmp_path: Path
) -> None:
    paper = make_video_paper(project, tmp_dir, [0.0, 2.0], 4.0)
    killer = tmp_path / "ffmpeg-killed"
    # Starts writing the output (its last argument), then dies by SIGKILL, as an OOM-killed ffmpeg does.
    killer.write_text('#!/bin/sh\nfor last; do :; done\nprintf partial > "${last#file:}"\nkill -9 $$\n')
    killer.chmod(killer.stat().st_mode | stat.S_IEXEC)
    settings.PAPERCAST_FFMPEG = str(killer)
    with pytest.raises(PermanentError, match="ffmpeg could not render the video"):
        render.run(paper, force=False, progress=no_progress)
    assert not Video.objects.filter(paper=paper).exists()
    media = Path(settings.MEDIA_ROOT)
    assert not list(media.rglob("*.mp4")) and not (media / f"projects/{project.pk}/papers/{paper.pk}/video").exists()


def test_images_are_fitted_without_distortion(tmp_path: Path) -> None:
    source = tmp_path / "square.png"
    image = PILImage.new("RGB", (800, 800), (255, 255, 255))
    image.paste((0, 0, 0), (300, 300, 500, 500))  # a black square in the middle
    image.save(source)
    for fit in ("cover", "blur"):
        for width, height in SIZES:
            fitted = np.asarray(fit_image(source, width, height, fit).convert("L"))
            assert fitted.shape == (height, width)
            dark = np.argwhere(fitted < 40)
            rows = dark[:, 0].max() - dark[:, 0].min() + 1
            cols = dark[:, 1].max() - dark[:, 1].min() + 1
            assert abs(rows - cols) <= 2, f"{fit} {width}x{height}: the square became {cols}x{rows}"
    assert np.asarray(fit_image(source, 1080, 1920, "blur"))[10, 540].mean() < 200  # blurred fill, not bars


@pytest.mark.parametrize(
    ("text", "family", "other"),
    [
        ("مرحبا بالعالم", "Noto Sans Arabic", "شكرا جزيلا لك"),
        ("नमस्ते दुनिया", "Noto Sans Devanagari", "धन्यवाद मित्र"),
        ("你好世界", "Noto Sans CJK SC", "谢谢朋友"),
        ("Hello world", "Noto Sans", "Other words"),
    ],
)
def test_burned_captions_use_a_font_that_covers_the_script(tmp_path: Path, text: str, family: str, other: str) -> None:
    assert caption_font(text) == family

    def burned(words: str) -> np.ndarray:
        ass = tmp_path / "c.ass"
        ass.write_text(ass_document([Cue(0.0, 2.0, (words,))], width=640, height=360, fps=25, total=50))
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=black:s=640x360:d=1", "-vf", f"subtitles={ass}",
             "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            check=True, capture_output=True, cwd=tmp_path,
        ).stdout  # fmt: skip
        return np.frombuffer(raw, dtype=np.uint8).reshape(360, 640)

    first, second = burned(text), burned(other)
    assert (first[250:] > 128).sum() > 50  # text is drawn near the bottom
    # Missing glyphs all render as the same box; real glyphs of different words differ.
    assert int(((first[250:] > 128) != (second[250:] > 128)).sum()) > 40


@pytest.mark.django_db(transaction=True)
def test_burned_in_captions_show_during_their_cue(project: Project, tmp_dir: Path) -> None:
    Project.objects.filter(pk=project.pk).update(burn_captions=True)
    project.refresh_from_db()
    words = [(1.0, 1.6, "Bees"), (1.6, 2.4, "vote."), (3.5, 4.0, "Then"), (4.0, 4.6, "fly.")]
    paper = make_video_paper(project, tmp_dir, [0.0, 3.0], 6.0, words=words)
    _, path = _render(paper)

    def bright_bottom(at: float) -> int:
        return int((shown_at(path, at, (320, 180))[140:, :, :].min(axis=2) > 200).sum())

    assert bright_bottom(0.5) == 0 and bright_bottom(1.8) > 8 and bright_bottom(2.9) == 0
    assert bright_bottom(4.2) > 8 and bright_bottom(5.5) == 0


@pytest.mark.django_db(transaction=True)
def test_background_music_ducks_under_the_narration(project: Project, tmp_dir: Path, settings: Any) -> None:
    music = tmp_dir / "music.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=1000:duration=3", "-ar", "48000",
         str(music)], check=True,
    )  # fmt: skip
    with music.open("rb") as handle:
        project.music.save("music.wav", handle)
    project.music_volume_db = -12.0
    project.save()
    paper = make_video_paper(project, tmp_dir, [0.0, 3.0], 8.0)
    # Narration: speech (a 330 Hz tone) for 3 s, silence for 3 s, speech again.
    voice = tmp_dir / "voice.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=330:duration=8", "-af",
         "volume='if(between(t,3,6),0,1)':eval=frame", "-ar", "48000", str(voice)], check=True,
    )  # fmt: skip
    with voice.open("rb") as handle:
        paper.source_file.save("voice.wav", handle)
    _, path = _render(paper)
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "48000", "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    samples = np.frombuffer(pcm, dtype=np.float32)

    def music_level(start: float, end: float) -> float:
        window = samples[int(start * 48000) : int(end * 48000)]
        spectrum = np.abs(np.fft.rfft(window))
        freqs = np.fft.rfftfreq(len(window), 1 / 48000)
        return float(spectrum[(freqs > 950) & (freqs < 1050)].sum() / len(window))

    under_speech, alone = music_level(1.0, 2.5), music_level(4.0, 5.5)
    assert alone > 0 and under_speech < alone / 2  # at least 6 dB quieter while someone speaks
    assert music_level(1.0, 2.5) > 0  # still there, not cut


def test_chapters_follow_youtubes_rules() -> None:
    from media_pipeline.stages.captions import build_chapters

    scenes = [(0.0, "Intro"), (4.0, "Too short"), (12.0, "Second"), (25.0, "Third"), (33.0, "Tail")]
    chapters = build_chapters(scenes, 40.0)
    assert [c.title for c in chapters] == ["Intro", "Second", "Third"]
    assert chapters[0].timestamp == "0:00"
    spans = [b.start - a.start for a, b in itertools.pairwise(chapters)] + [40.0 - chapters[-1].start]
    assert all(span >= 10 for span in spans)
    assert build_chapters([(0.0, "A"), (10.0, "B")], 25.0) == []  # fewer than 3: YouTube ignores them, so none


@pytest.mark.django_db(transaction=True)
def test_the_thumbnail_is_the_short_title_or_the_scene_a_person_chose_as_it_is(project: Project, tmp_dir: Path) -> None:
    paper = make_video_paper(project, tmp_dir, [0.0, 2.0, 4.0], 6.0)
    Paper.objects.filter(pk=paper.pk).update(title="Swarms: how honeybees choose a home")
    paper.refresh_from_db()
    video, _ = _render(paper)
    with default_storage.open(video.thumbnail.name, "rb") as handle, PILImage.open(handle) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (1280, 720))
        assert video.thumbnail.size < 2 * 1024 * 1024
        grey = np.asarray(thumbnail.convert("L"))
        pixels = np.asarray(thumbnail.convert("RGB")).reshape(-1, 3)
    # By default: the short title ("Swarms"), large and light, on the project's theme; no scene picture.
    assert int((grey[200:520, 60:1220] > 200).sum()) > 5000
    assert not any(float(np.abs(pixels.mean(axis=0) - np.array(c)).mean()) < 25 for c in COLOURS)
    # A scene a person chose is the thumbnail, as it is: no text drawn over it.
    Paper.objects.filter(pk=paper.pk).update(thumbnail_scene=3)
    paper.refresh_from_db()
    render.run(paper, force=False, progress=no_progress)
    video = Video.objects.filter(paper=paper).latest("id")
    with default_storage.open(video.thumbnail.name, "rb") as handle, PILImage.open(handle) as thumbnail:
        whole = np.asarray(thumbnail.convert("RGB")).reshape(-1, 3)
    assert float(np.abs(whole - np.array(COLOURS[2])).mean()) < 25  # scene 3's picture, everywhere


@pytest.mark.django_db
def test_chapters_of_a_paper_are_its_sections_from_the_scene_where_each_begins(project: Project) -> None:
    from media_pipeline.models import Chunk, Script, ScriptSentence
    from media_pipeline.stages.captions import build_chapters
    from media_pipeline.stages.render import chapter_marks
    from projects.models import Paper, SourceKind

    paper = Paper.objects.create(project=project, title="Swarm votes", source_kind=SourceKind.PDF)
    script = Script.objects.create(paper=paper, input_fingerprint="x", backend="extractive", target_minutes=1)
    said = [("", 0.0), ("Abstract", 4.0), ("Introduction", 15.0), ("Introduction", 22.0), ("Methods", 31.0),
            ("Results", 46.0)]  # fmt: skip
    spans = []
    for index, (section, start) in enumerate(said):
        sentence = ScriptSentence.objects.create(script=script, index=index, section=section, text=f"Sentence {index}.")
        spans.append({"i": index, "sentence": sentence.pk, "start": start, "end": start + 3.0})
    Paper.objects.filter(pk=paper.pk).update(narration_spans=spans)
    paper.refresh_from_db()
    starts = [0.0, 7.5, 14.9, 24.0, 30.8, 38.0, 45.9, 52.0]  # the chunk stage starts a scene at each section
    chunks = [Chunk.objects.create(paper=paper, index=i, start=s, end=s + 5, text="…") for i, s in enumerate(starts)]
    marks = chapter_marks(paper, chunks)
    assert marks == [(0.0, "Overview"), (14.9, "Introduction"), (30.8, "Methods"), (45.9, "Results")]
    chapters = build_chapters(marks, 60.0)
    assert [(c.timestamp, c.title) for c in chapters] == [
        ("0:00", "Overview"), ("0:14", "Introduction"), ("0:30", "Methods"), ("0:45", "Results")
    ]  # fmt: skip


def _decoded(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-"], check=True, capture_output=True
    ).stdout
    return np.frombuffer(raw, np.int16).astype(np.float64)


def test_the_sound_encoded_in_pieces_on_several_cores_is_the_sound_encoded_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narration's AAC is encoded in pieces joined frame by frame (the encoder uses one core and the
    sound was most of the render): the same number of samples, and at every seam, even mid-word, nothing
    a listener could hear (the two encodings of a 1024-sample block differ 30 dB below the speech)."""
    from tests.conftest import JFK

    def encode(pieces: int, folder: Path) -> Path:
        folder.mkdir()
        monkeypatch.setattr(render.os, "cpu_count", lambda: pieces)
        monkeypatch.setattr(render, "AUDIO_PIECE_SECONDS", 1.0)
        job = render._Job(
            tmp=folder, names=[], starts=[0.0], duration=11.0, width=640, height=360, audio=JFK, audio_format="flac"
        )
        render._encode_audio(job, folder / "audio.aac")
        assert not (folder / "sound.wav").exists()  # the mix is not kept
        return folder / "audio.aac"

    whole, pieces = _decoded(encode(1, tmp_path / "one")), _decoded(encode(4, tmp_path / "four"))
    assert len(whole) == len(pieces) >= 11 * 48_000
    seams = [round(11 * 48_000 * k / 4 / 1024) * 1024 for k in (1, 2, 3)]
    for seam in seams:
        for block in range(seam - 2048, seam + 4096, 1024):
            speech = np.sqrt(np.mean(whole[block : block + 1024] ** 2))
            error = np.sqrt(np.mean((whole[block : block + 1024] - pieces[block : block + 1024]) ** 2))
            assert error <= max(speech / 30, 8.0), (seam, block, speech, error)  # 30 dB down, or silence


def test_a_damaged_aac_stream_is_refused_not_joined() -> None:
    from media_pipeline.backends import ffmpeg

    frame = bytes([0xFF, 0xF1, 0x50, 0x80, 0x01, 0x3F, 0xFC]) + b"\0" * 2  # a 9-byte frame
    assert ffmpeg.adts_frames(frame * 3) == [frame] * 3
    with pytest.raises(PermanentError, match="no AAC frame starts at byte 9"):
        ffmpeg.adts_frames(frame + b"junk" + frame)
    with pytest.raises(PermanentError, match="cut short"):
        ffmpeg.adts_frames(frame + frame[:5] + b"\0\0")
