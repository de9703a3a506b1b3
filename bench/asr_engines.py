"""faster-whisper (CTranslate2) beside whisper-timestamped, on the same audio and the same checkpoint.

Usage: python bench/asr_engines.py [--checkpoint PATH] [--ct2-model DIR] [--threads 2] [--repeats 3]
                                   [--compute-type default] [--voice PATH]

1. Converts the openai-whisper checkpoint (default: ../shared/models/whisper/tiny.en.pt, or
   PAPERCAST_WHISPER_MODEL) into a CTranslate2 model directory in a child process (media_pipeline's
   ct2_convert, as `manage.py convert_whisper` does) and reports its wall time and peak memory; --ct2-model
   uses a converted directory instead.
2. Transcribes two clips with both engines through papercast's own backends (word timestamps, beam size 1,
   temperature fallback, CPU, --threads threads): the JFK fixture (11 s) and a piper reading of
   media_pipeline/samples/paragraph.txt (about 36 s; piper's output varies a little from run to run).
   For each: the word error rate against the known text, the real-time factor (median transcription
   seconds over --repeats runs / audio seconds, model loading excluded; the fastest run and the median CPU
   seconds beside it, as other load on the machine slows the wall clock) and the mean and largest absolute
   difference of word start times between the two engines, over the words both heard (matched by difflib
   on normalised words).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
JFK = SHARED / "fixtures" / "jfk.flac"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
PARAGRAPH = (ROOT / "media_pipeline" / "samples" / "paragraph.txt").read_text().strip()
CHECKPOINT = os.environ.get("PAPERCAST_WHISPER_MODEL") or str(SHARED / "models/whisper/tiny.en.pt")
VOICE = os.environ.get("PAPERCAST_PIPER_VOICE") or str(SHARED / "models/piper/en_US-joe-medium.onnx")
sys.path.insert(0, str(ROOT))


def convert_child(checkpoint: str, out_dir: str) -> None:
    """In a child process: convert, then print the wall seconds and this process's peak memory as JSON."""
    from media_pipeline.backends.ct2_convert import convert_checkpoint

    started = time.perf_counter()
    convert_checkpoint(Path(checkpoint), Path(out_dir))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def convert(checkpoint: str, out_dir: Path) -> dict[str, float]:
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--convert-child", checkpoint, str(out_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise SystemExit(f"the conversion failed:\n{child.stderr[-3000:]}")
    report: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    report["process_seconds"] = time.perf_counter() - started
    return report


def speak(text: str, voice_path: str, out: Path) -> Path:
    from piper import PiperVoice

    voice = PiperVoice.load(voice_path, config_path=voice_path + ".json")
    with wave.open(str(out), "wb") as wav:
        voice.synthesize_wav(text, wav)
    return out


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def transcribe(engine: Any, audio: Any, options: Any, repeats: int) -> tuple[list[float], list[float], list[Any]]:
    """The wall and CPU seconds of `repeats` runs (after an untimed warm-up run), and the last run's words."""
    engine.transcribe(audio, options)
    walls, cpus, words = [], [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), cpu_seconds()
        result = engine.transcribe(audio, options)
        walls.append(time.perf_counter() - started)
        cpus.append(cpu_seconds() - cpu)
        words = [w for segment in result.segments for w in segment.words]
    return walls, cpus, words


def start_differences(first: list[Any], second: list[Any]) -> list[float]:
    """|start difference| of the words both engines heard, paired by an alignment of the normalised words."""
    from media_pipeline.stages.align import normalize

    a, b = [normalize(w.text) for w in first], [normalize(w.text) for w in second]
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return [
        abs(first[block.a + k].start - second[block.b + k].start)
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=CHECKPOINT, help="the openai-whisper checkpoint (.pt)")
    parser.add_argument("--ct2-model", type=Path, help="a converted model directory (default: convert one)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for each engine")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per clip and engine (median)")
    parser.add_argument("--compute-type", default="default", help="faster-whisper's compute type")
    parser.add_argument("--voice", default=VOICE, help="the piper voice reading the paragraph")
    parser.add_argument("--convert-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.convert_child:
        convert_child(*args.convert_child)
        return 0

    from whisper.audio import SAMPLE_RATE, load_audio

    from media_pipeline.backends import faster_whisper, whisper
    from media_pipeline.backends.asr import AsrOptions
    from media_pipeline.stages.align import word_error_rate

    with tempfile.TemporaryDirectory(prefix="papercast-asr-engines-") as tmp:
        work = Path(tmp)
        model = args.ct2_model
        print(f"checkpoint: {args.checkpoint}")
        if model is None:
            model = work / "ct2"
            report = convert(args.checkpoint, model)
            print(
                f"conversion: {report['seconds']:.1f} s in the function, {report['process_seconds']:.1f} s with the "
                f"child's start-up and imports; peak memory {report['peak_mb']:.0f} MB"
            )
        size = (model / "model.bin").stat().st_size / 1e6
        print(f"CTranslate2 model: {model} (model.bin {size:.1f} MB), compute type {args.compute_type}")
        clips = {
            "JFK (fixture)": (JFK, JFK_TEXT),
            "paragraph (piper)": (speak(PARAGRAPH, args.voice, work / "paragraph.wav"), PARAGRAPH),
        }
        engines = {
            "whisper-timestamped": (whisper, args.checkpoint),
            "faster-whisper": (faster_whisper, str(model)),
        }
        options = {
            name: AsrOptions(
                model=engine_model,
                device="cpu",
                language="en",
                beam_size=1,
                threads=args.threads,
                compute_type=args.compute_type,
            )
            for name, (_, engine_model) in engines.items()
        }
        for name, (engine, _) in engines.items():
            started = time.perf_counter()
            engine.load_model(*_load_arguments(engine, options[name]))  # cached: the timed runs exclude it
            print(f"{name}: model loaded in {time.perf_counter() - started:.2f} s")
        print(f"beam size 1, CPU, {args.threads} threads, median of {args.repeats} runs after a warm-up run\n")
        for clip, (path, text) in clips.items():
            audio = load_audio(str(path))
            seconds = len(audio) / SAMPLE_RATE
            print(f"{clip}: {seconds:.1f} s of audio, {len(text.split())} words")
            heard: dict[str, list[Any]] = {}
            for name, (engine, _) in engines.items():
                walls, cpus, words = transcribe(engine, audio, options[name], args.repeats)
                heard[name] = words
                wer = word_error_rate([w.text for w in words], text.split())
                median = statistics.median(walls)
                print(
                    f"  {name:20s} WER {100 * wer:5.2f} %  {median:6.2f} s (fastest {min(walls):.2f} s, "
                    f"CPU {statistics.median(cpus):.2f} s)  RTF {median / seconds:.3f}"
                )
            differences = start_differences(heard["whisper-timestamped"], heard["faster-whisper"])
            if differences:
                print(
                    f"  word starts, faster-whisper vs whisper-timestamped, over {len(differences)} shared words: "
                    f"mean |difference| {statistics.mean(differences):.3f} s, largest {max(differences):.3f} s"
                )
            print(f"  faster-whisper heard: {' '.join(w.text for w in heard['faster-whisper'])}\n")
    return 0


def _load_arguments(engine: Any, options: Any) -> tuple[Any, ...]:
    """The arguments of the engine's load_model (cached per process, so the timed runs exclude loading)."""
    if engine.ENGINE == "faster-whisper":
        return options.model, options.device, options.compute_type, options.threads
    return options.model, options.device


if __name__ == "__main__":
    raise SystemExit(main())
