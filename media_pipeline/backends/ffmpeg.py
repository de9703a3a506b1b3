"""ffprobe and ffmpeg: probing against an allowlist, decoding, encoding and checking outputs.

Every call passes -protocol_whitelist file (and pipe where used) and, when reading user media, a
-format_whitelist: ffmpeg would otherwise follow what a file asks for (an HLS playlist renamed .mp3 opens
URLs). User media is decoded with the probed format forced, so a second detection cannot pick another.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from media_pipeline.backends.errors import PermanentError, TransientError
from media_pipeline.backends.process import resolve_program, run, run_streaming

# Demuxer name as ffprobe reports it -> the name to force with -f when decoding.
AUDIO_DEMUXERS: dict[str, str] = {
    "wav": "wav",
    "flac": "flac",
    "mp3": "mp3",
    "mov,mp4,m4a,3gp,3g2,mj2": "mov",
    "aac": "aac",
    "ogg": "ogg",
    "matroska,webm": "matroska",
}
AUDIO_FORMAT_WHITELIST = "wav,flac,mp3,mov,aac,ogg,matroska"
ALLOWED_AUDIO_DESCRIPTION = "WAV, FLAC, MP3, M4A/AAC, Ogg (Vorbis or Opus) or WebM"
IMAGE_FORMAT_WHITELIST = "png_pipe,image2"
PCM_SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AudioProbe:
    format_name: str
    force_format: str
    codec: str
    duration: float | None
    sample_rate: int | None
    channels: int | None
    title: str = ""  # the recording's own title tag (ID3, MP4, Vorbis comment), "" when it has none


@dataclass(frozen=True)
class VideoProbe:
    format_name: str
    duration: float
    video_codec: str
    video_profile: str
    pix_fmt: str
    width: int
    height: int
    audio_codec: str | None
    audio_sample_rate: int | None
    video_duration: float | None
    audio_duration: float | None
    raw: dict[str, Any]


def _ffprobe() -> str:
    return resolve_program(settings.PAPERCAST_FFPROBE)


def _ffmpeg() -> str:
    return resolve_program(settings.PAPERCAST_FFMPEG)


def _timeout() -> float:
    return float(settings.PAPERCAST_FFMPEG_TIMEOUT)


def _probe_json(path: Path, *, format_whitelist: str | None) -> dict[str, Any] | None:
    args = [_ffprobe(), "-v", "error", "-protocol_whitelist", "file"]
    if format_whitelist:
        args += ["-format_whitelist", format_whitelist]
    args += ["-show_format", "-show_streams", "-of", "json", "file:" + str(path)]
    proc = run(args, timeout=min(_timeout(), 120))
    if proc.returncode != 0:
        return None
    try:
        data: dict[str, Any] = json.loads(proc.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        return None
    return data


def _float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def probe_audio(path: Path) -> AudioProbe:
    """Identify user audio. Raises PermanentError naming what is wrong when it is not allowed audio."""
    data = _probe_json(path, format_whitelist=AUDIO_FORMAT_WHITELIST)
    if not data or "format" not in data:
        raise PermanentError(
            "The file is not audio in a format papercast accepts "
            f"({ALLOWED_AUDIO_DESCRIPTION}). Convert it to one of these and upload it again."
        )
    format_name = str(data["format"].get("format_name", ""))
    force = AUDIO_DEMUXERS.get(format_name)
    if force is None:
        raise PermanentError(
            f"The file is {format_name or 'of an unknown format'}, which papercast does not accept; "
            f"use {ALLOWED_AUDIO_DESCRIPTION}."
        )
    audio_streams = [s for s in data.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio_streams:
        raise PermanentError("The file has no audio stream. Upload the narration as an audio file.")
    stream = audio_streams[0]
    duration = _float(data["format"].get("duration")) or _float(stream.get("duration"))
    sample_rate = stream.get("sample_rate")
    return AudioProbe(
        format_name=format_name,
        force_format=force,
        codec=str(stream.get("codec_name", "")),
        duration=duration,
        sample_rate=int(sample_rate) if sample_rate and str(sample_rate).isdigit() else None,
        channels=stream.get("channels"),
        title=_title_tag(data["format"].get("tags"), stream.get("tags")),
    )


def _title_tag(*tags: object) -> str:
    """The first title tag (any case: ID3's TIT2 reads as "title", Vorbis comments as "TITLE"), one line."""
    for group in tags:
        if not isinstance(group, dict):
            continue
        for key, value in group.items():
            if str(key).lower() == "title" and isinstance(value, str):
                text = " ".join("".join(c for c in value if c.isprintable()).split())
                if text:
                    return text[:300]
    return ""


def decode_audio_to_file(path: Path, probe: AudioProbe, out: Path, *, max_seconds: float | None = None) -> int:
    """Decode to 16 kHz mono 16-bit PCM in a raw file, the probed format forced; returns the sample count.

    ffmpeg streams to disk, so memory stays flat however long the recording is.
    """
    args = [
        _ffmpeg(), "-nostdin", "-v", "error", "-protocol_whitelist", "file",
        "-format_whitelist", AUDIO_FORMAT_WHITELIST, "-f", probe.force_format, "-i", "file:" + str(path),
    ]  # fmt: skip
    if max_seconds is not None:
        args += ["-t", f"{max_seconds:.3f}"]
    args += [
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(PCM_SAMPLE_RATE),
        "-f",
        "s16le",
        "-acodec",
        "pcm_s16le",
        "-y",
        "file:" + str(out),
    ]
    proc = run(args, timeout=_timeout())
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no detail"]
        raise PermanentError(f"The audio could not be decoded ({detail[0]}). The file may be damaged.")
    samples = out.stat().st_size // 2
    if samples == 0:
        raise PermanentError("The audio decodes to nothing: the file holds no sound.")
    return samples


def audio_to_wav(path: Path, out: Path, *, sample_rate: int | None = None) -> None:
    """Any allowed audio as a mono 16-bit PCM WAV (at its own rate unless one is given), its format forced."""
    probe = probe_audio(path)
    args = [
        _ffmpeg(), "-nostdin", "-v", "error", "-protocol_whitelist", "file",
        "-format_whitelist", AUDIO_FORMAT_WHITELIST, "-f", probe.force_format, "-i", "file:" + str(path),
        "-vn", "-ac", "1", "-acodec", "pcm_s16le",
    ]  # fmt: skip
    if sample_rate:
        args += ["-ar", str(sample_rate)]
    args += ["-f", "wav", "-y", "file:" + str(out)]
    proc = run(args, timeout=_timeout())
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no detail"]
        raise PermanentError(f"The audio could not be converted ({detail[0]}).")


def probe_video(path: Path) -> VideoProbe:
    """Facts about a video papercast made, for validating it before it is published."""
    data = _probe_json(path, format_whitelist="mov")
    if not data:
        raise PermanentError("ffprobe could not read the rendered video.")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        raise PermanentError("The rendered file has no video stream.")
    return VideoProbe(
        format_name=str(data["format"].get("format_name", "")),
        duration=_float(data["format"].get("duration")) or 0.0,
        video_codec=str(video.get("codec_name", "")),
        video_profile=str(video.get("profile", "")),
        pix_fmt=str(video.get("pix_fmt", "")),
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        audio_codec=str(audio.get("codec_name")) if audio else None,
        audio_sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        video_duration=_float(video.get("duration")),
        audio_duration=_float(audio.get("duration")) if audio else None,
        raw=data,
    )


def run_ffmpeg(
    args: Sequence[str],
    *,
    what: str,
    expected_seconds: float | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> None:
    """Run ffmpeg with `-progress` on stdout, reporting the fraction done; kill the group on timeout.

    `args` are ffmpeg's arguments after the program name. Raises TransientError on timeout and
    PermanentError with ffmpeg's last error lines on failure.
    """
    full = [_ffmpeg(), "-nostdin", "-hide_banner", "-v", "error", "-progress", "pipe:1", "-nostats", *args]

    def on_line(line: str) -> None:
        if on_progress and expected_seconds and line.startswith("out_time_us="):
            value = line.split("=", 1)[1].strip()
            if value.lstrip("-").isdigit():
                on_progress(min(max(int(value) / 1e6 / expected_seconds, 0.0), 1.0))

    result = run_streaming(full, timeout=_timeout(), on_line=on_line)
    if result.timed_out:
        raise TransientError(f"ffmpeg did not {what} within {_timeout():.0f} s (PAPERCAST_FFMPEG_TIMEOUT).")
    if result.returncode != 0:
        raise _failure(what, result.stderr, result.returncode)


def _failure(what: str, stderr: bytes, returncode: int) -> PermanentError:
    detail = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
    return PermanentError(f"ffmpeg could not {what}: {' / '.join(detail) or f'exit code {returncode}'}")


def adts_frames(data: bytes) -> list[bytes]:
    """An AAC stream in ADTS (what `-f adts` writes) cut into its frames, each with its header.

    Raises PermanentError when the bytes are not a whole ADTS stream (a lost sync word, a frame that runs
    past the end): joining pieces of sound must never guess.
    """
    frames: list[bytes] = []
    at = 0
    while at < len(data):
        header = data[at : at + 7]
        if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0:
            raise PermanentError(f"The encoded sound is damaged: no AAC frame starts at byte {at}.")
        length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        if length < 7 or at + length > len(data):
            raise PermanentError(f"The encoded sound is damaged: the AAC frame at byte {at} is cut short.")
        frames.append(data[at : at + length])
        at += length
    return frames
