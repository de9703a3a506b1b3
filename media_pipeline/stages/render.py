"""render: scene images + narration -> an MP4 (H.264 High yuv420p, AAC, moov first), SRT, VTT, chapters and
a thumbnail, stored through the configured storage and recorded in one Video row.

Timing: scene i is on screen from its start to the next scene's start (the first from 0, the last to the
end of the audio). Boundaries are placed on the video's frame grid by rounding (never truncating), which is
as exact as a constant-frame-rate video can be: within half a frame (20 ms at 25 fps).

Safety: ffmpeg reads a concat list written in a private temp dir that names copies of the images under
generated names, so the concat demuxer keeps its default safe=1; the audio is decoded with its probed format
forced. The output is checked with ffprobe before any row points at it; a failed render leaves no file.

Idempotency: the fingerprint covers the audio, each scene's span and image bytes, the size, the captions'
words and the encoder settings. A Video with that fingerprint is reused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from django.db import transaction
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter, ImageOps

from media_pipeline.backends import ffmpeg
from media_pipeline.backends.errors import PermanentError
from media_pipeline.backends.images.titlecard import load_font, wrap_text
from media_pipeline.files import delete_quietly, local_path, paper_folder, private_tempdir, save_file
from media_pipeline.fingerprint import fingerprint
from media_pipeline.models import Chunk, Image, Transcription, Video
from media_pipeline.selectors import narration_file
from media_pipeline.stages import ProgressFn, StageResult
from media_pipeline.stages.captions import build_chapters, build_cues, to_srt, to_vtt
from media_pipeline.stages.chunk import current_transcription
from projects.models import Paper

VERSION = "render-1"
# The concat demuxer times image entries on a 1/25 s clock, so the video's frame grid is the same.
FPS = 25
MAX_REFRESH_SECONDS = 2.0
ENCODER = {"preset": "veryfast", "tune": "stillimage", "crf": "20", "audio_bitrate": "192k", "audio_rate": "48000"}
DURATION_TOLERANCE = 0.1


def _inputs(paper: Paper) -> tuple[Transcription, list[Chunk], list[Image]]:
    chunks = list(Chunk.objects.filter(paper=paper).select_related("summary").order_by("index"))
    if not chunks:
        raise PermanentError("The paper has no scenes yet: run the chunk stage first.")
    selected = {img.chunk_id: img for img in Image.objects.filter(chunk__paper=paper, selected=True)}
    missing = [c for c in chunks if c.pk not in selected]
    if missing:
        shown = ", ".join(str(c.index + 1) for c in missing[:20]) + (" …" if len(missing) > 20 else "")
        errors = "; ".join(f"scene {c.index + 1}: {c.image_error}" for c in missing[:5] if c.image_error)
        raise PermanentError(
            f"Scenes {shown} have no selected image: illustrate them or pick a candidate first."
            + (f" The latest attempts failed: {errors}" if errors else "")
        )
    if narration_file(paper) is None:
        raise PermanentError("The paper has no narration audio.")
    transcription = current_transcription(paper)
    return transcription, chunks, [selected[c.pk] for c in chunks]


def _fingerprint(paper: Paper, transcription: Transcription, chunks: list[Chunk], images: list[Image]) -> str:
    words = list(transcription.words.order_by("index").values_list("start", "end", "text"))
    return fingerprint(
        VERSION,
        getattr(narration_file(paper), "name", ""),
        transcription.pk,
        [(c.start, img.sha256) for c, img in zip(chunks, images, strict=True)],
        [getattr(c, "summary", None) and c.summary.summary for c in chunks],
        paper.project.video_width,
        paper.project.video_height,
        paper.title,
        fingerprint(words),
        FPS,
        ENCODER,
    )


def status(paper: Paper) -> tuple[str, bool]:
    fp = _fingerprint(paper, *_inputs(paper))
    return fp, Video.objects.filter(paper=paper, settings_fingerprint=fp).exists()


def scene_frames(starts: list[float], duration: float, fps: int = FPS) -> list[int]:
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


def concat_list(names: list[str], frames: list[int], fps: int = FPS) -> str:
    """An ffconcat list that shows names[i] for frames[i] frames, repeating long scenes every 2 s."""
    lines = ["ffconcat version 1.0"]
    step = int(MAX_REFRESH_SECONDS * fps)
    for name, count in zip(names, frames, strict=True):
        left = count
        while left > 0:
            piece = min(left, step)
            lines += [f"file {name}", f"duration {piece / fps:.6f}"]
            left -= piece
    # The fps filter ends the video at the last frame's start; a closing entry carries the last image to
    # the end of the audio (the -t limit then cuts it exactly there).
    lines.append(f"file {names[-1]}")
    return "\n".join(lines) + "\n"


def run(paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult:
    transcription, chunks, images = _inputs(paper)
    fp = _fingerprint(paper, transcription, chunks, images)
    if not force and Video.objects.filter(paper=paper, settings_fingerprint=fp).exists():
        return StageResult(fp, reused=True)
    width, height = paper.project.video_width, paper.project.video_height
    saved: list[str] = []
    video = None
    try:
        with private_tempdir() as tmp:
            audio_path = local_path(narration_file(paper), tmp, "narration")
            audio = ffmpeg.probe_audio(audio_path)
            duration = audio.duration or transcription.duration
            names = []
            for i, image in enumerate(images):
                # Generated names only: nothing from a user or a storage key reaches the list file.
                name = f"scene{i:05d}.png"
                with image.file.open("rb") as source, (tmp / name).open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                names.append(name)
            frames = scene_frames([c.start for c in chunks], duration)
            (tmp / "scenes.ffconcat").write_text(concat_list(names, frames))
            out = tmp / "video.mp4"
            progress(0.05)
            ffmpeg.run_ffmpeg(
                _ffmpeg_args(
                    concat=tmp / "scenes.ffconcat",
                    audio=audio_path,
                    audio_format=audio.force_format,
                    out=out,
                    width=width,
                    height=height,
                    duration=duration,
                ),
                what="render the video",
                expected_seconds=duration,
                on_progress=lambda f: progress(0.05 + 0.85 * f),
            )
            probe = validate_video(out, expected_duration=duration, width=width, height=height)
            words = list(transcription.words.order_by("index").values_list("start", "end", "text"))
            cues = build_cues(words)
            (tmp / "captions.srt").write_text(to_srt(cues), encoding="utf-8")
            (tmp / "captions.vtt").write_text(to_vtt(cues), encoding="utf-8")
            chapters = build_chapters(
                [(c.start, c.summary.summary if hasattr(c, "summary") else c.text) for c in chunks], probe.duration
            )
            _thumbnail(tmp / names[0], paper.title, tmp / "thumbnail.jpg")
            folder = paper_folder(paper.project_id, paper.pk) + "/video"
            for local, suffix in (
                ("video.mp4", ".mp4"),
                ("captions.srt", ".srt"),
                ("captions.vtt", ".vtt"),
                ("thumbnail.jpg", ".jpg"),
            ):
                saved.append(save_file(folder, tmp / local, suffix))
        progress(0.98)
        with transaction.atomic():
            video = Video.objects.create(
                paper=paper,
                file=saved[0],
                srt=saved[1],
                vtt=saved[2],
                thumbnail=saved[3],
                chapters=[{"start": c.start, "timestamp": c.timestamp, "title": c.title} for c in chapters],
                duration=probe.duration,
                width=probe.width,
                height=probe.height,
                settings_fingerprint=fp,
            )
    finally:
        if video is None:
            delete_quietly(saved)
    return StageResult(
        fp, reused=False, metrics={"duration": round(probe.duration, 3), "scenes": len(chunks), "cues": len(cues)}
    )


def _ffmpeg_args(
    *, concat: Path, audio: Path, audio_format: str, out: Path, width: int, height: int, duration: float
) -> list[str]:
    fit = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease:flags=lanczos,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p,fps={FPS}"
    )
    return [
        "-protocol_whitelist", "file", "-f", "concat", "-i", "file:" + str(concat),
        "-protocol_whitelist", "file", "-format_whitelist", ffmpeg.AUDIO_FORMAT_WHITELIST,
        "-f", audio_format, "-i", "file:" + str(audio),
        "-map", "0:v:0", "-map", "1:a:0", "-vf", fit,
        "-c:v", "libx264", "-preset", ENCODER["preset"], "-tune", ENCODER["tune"], "-profile:v", "high",
        "-crf", ENCODER["crf"], "-g", str(FPS * 2), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", ENCODER["audio_bitrate"], "-ar", ENCODER["audio_rate"], "-ac", "2",
        "-t", f"{duration:.6f}", "-movflags", "+faststart", "-f", "mp4", "-y", "file:" + str(out),
    ]  # fmt: skip


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (to check that moov precedes mdat)."""
    boxes = []
    with path.open("rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                break
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(handle.read(8), "big")
                handle.seek(size - 16, 1)
            elif size == 0:
                boxes.append(kind)
                break
            else:
                handle.seek(size - 8, 1)
            boxes.append(kind)
    return boxes


def validate_video(path: Path, *, expected_duration: float, width: int, height: int) -> ffmpeg.VideoProbe:
    probe = ffmpeg.probe_video(path)
    problems = []
    if probe.video_codec != "h264" or probe.pix_fmt != "yuv420p":
        problems.append(f"video is {probe.video_codec}/{probe.pix_fmt}, not h264/yuv420p")
    if probe.audio_codec != "aac":
        problems.append(f"audio is {probe.audio_codec}, not aac")
    if (probe.width, probe.height) != (width, height):
        problems.append(f"size is {probe.width}x{probe.height}, not {width}x{height}")
    for what, seconds in (
        ("the file", probe.duration),
        ("the video stream", probe.video_duration),
        ("the audio stream", probe.audio_duration),
    ):
        if seconds is None or abs(seconds - expected_duration) > DURATION_TOLERANCE:
            problems.append(f"{what} lasts {seconds or 0:.3f} s, the narration {expected_duration:.3f} s")
    boxes = top_level_boxes(path)
    if "moov" not in boxes or "mdat" not in boxes or boxes.index("moov") > boxes.index("mdat"):
        problems.append(f"moov does not precede mdat ({json.dumps(boxes)})")
    if problems:
        raise PermanentError("The rendered video failed its checks: " + "; ".join(problems) + ".")
    return probe


def _thumbnail(image_path: Path, title: str, out: Path) -> None:
    """A 1280x720 JPEG title card: the first scene's image, blurred and darkened, under the title."""
    with PILImage.open(image_path) as source:
        background = ImageOps.fit(source.convert("RGB"), (1280, 720))
    background = background.filter(ImageFilter.GaussianBlur(24))
    canvas = PILImage.blend(background, PILImage.new("RGB", (1280, 720), (0, 0, 0)), 0.45)
    draw = ImageDraw.Draw(canvas)
    size = 96
    font = load_font(None, size)
    lines = wrap_text(draw, title, font, 1120)
    while size > 40 and len(lines) > 3:
        size -= 8
        font = load_font(None, size)
        lines = wrap_text(draw, title, font, 1120)
    line_height = round(size * 1.2)
    y = (720 - line_height * len(lines)) // 2
    for line in lines[:4]:
        x = (1280 - draw.textlength(line, font=font)) / 2
        draw.text((x + 3, y + 4), line, font=font, fill=(0, 0, 0))
        draw.text((x, y), line, font=font, fill=(255, 255, 255))
        y += line_height
    canvas.save(out, format="JPEG", quality=90)
