"""Forced alignment against recognition, on the same narration: cost, word timings, captions and scenes.

Usage: python bench/align.py [--text FILE] [--repeat 1]
Narrates a text paper (default: the demo and paragraph samples; --repeat makes it longer) in a fresh
temporary data dir, then transcribes the narration twice, by recognition and by forced alignment (the
transcribe stage itself, forced each time), and after each one plans the scenes (the chunk stage). Prints:
the CPU and wall seconds of each, the mean and largest difference of word starts (the words are the
script's in both), whether the caption cues say the same, and whether the scenes are the same sentences.
Set PAPERCAST_WHISPER_MODEL and PAPERCAST_PIPER_VOICE as for the demo.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import time
from pathlib import Path

from benchsetup import ROOT, cpu_seconds, fresh_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, help="the paper's text (default: the demo and paragraph samples)")
    parser.add_argument("--repeat", type=int, default=1, help="say the text this many times")
    args = parser.parse_args()
    data_dir = fresh_django("papercast-align-")
    try:
        from media_pipeline import pipeline
        from media_pipeline.selectors import transcription_current
        from media_pipeline.stages import chunk, transcribe
        from media_pipeline.stages.captions import build_cues
        from projects import services

        samples = ROOT / "media_pipeline" / "samples"
        text = (
            args.text.read_text()
            if args.text
            else "\n\n".join((samples / name).read_text() for name in ("demo.txt", "paragraph.txt"))
        )
        text = "\n\n".join([text] * args.repeat)
        project = services.project_create(name="Align bench", owner=None)
        paper = services.paper_create_from_text(
            project=project, title="Bench", file=io.BytesIO(text.encode()), filename="bench.txt"
        )
        with pipeline.inline():
            pipeline.pipeline_start(paper, until="narrate")
            pipeline.drain()
        paper.refresh_from_db()
        results = {}
        for method in ("recognise", "align"):
            began_cpu, began = cpu_seconds(), time.perf_counter()
            outcome = transcribe.run(paper, force=True, progress=lambda _: None, recognise=method == "recognise")
            cpu, wall = cpu_seconds() - began_cpu, time.perf_counter() - began
            transcription = transcription_current(paper)
            assert transcription is not None and transcription.method == method
            words = list(transcription.words.order_by("index").values_list("start", "end", "text"))
            chunk.run(paper, force=True, progress=lambda _: None)
            scenes = [c.text for c in paper.chunks.order_by("index")]
            results[method] = (cpu, wall, words, build_cues(words), scenes, outcome.metrics)
        audio = results["align"][5]["audio_seconds"]
        print(f"narration: {audio:.1f} s, {len(results['align'][2])} words")
        for method, (cpu, wall, _, cues, scenes, metrics) in results.items():
            print(
                f"  {method:<10} transcribe {wall:6.2f} s wall, {cpu:6.2f} s CPU ({cpu / audio:.3f} CPU s per s of "
                f"audio); {len(cues)} caption cues, {len(scenes)} scenes; engine {metrics.get('engine_seconds')} s"
            )
        recognised, aligned = results["recognise"][2], results["align"][2]
        same_words = [r[2] for r in recognised] == [a[2] for a in aligned]
        print(f"same words in both: {same_words}")
        if same_words:
            starts = [abs(r[0] - a[0]) for r, a in zip(recognised, aligned, strict=True)]
            ends = [abs(r[1] - a[1]) for r, a in zip(recognised, aligned, strict=True)]
            print(
                f"word starts: mean |difference| {statistics.mean(starts) * 1000:.0f} ms, median "
                f"{statistics.median(starts) * 1000:.0f} ms, largest {max(starts) * 1000:.0f} ms; "
                f"word ends: mean {statistics.mean(ends) * 1000:.0f} ms"
            )
        cue_texts = [" / ".join(" ".join(c.lines) for c in results[m][3]) for m in ("recognise", "align")]
        said = [" ".join(" ".join(c.lines) for c in results[m][3]) for m in ("recognise", "align")]
        print(
            f"caption cues say the same words: {said[0] == said[1]}; broken in the same places: "
            f"{cue_texts[0] == cue_texts[1]}"
        )
        print(f"scenes are the same sentences: {results['recognise'][4] == results['align'][4]}")
        for method in ("recognise", "align"):
            print(f"  {method} scenes: " + " | ".join(scene[-30:] for scene in results[method][4]))
        if same_words:
            worst = sorted(range(len(aligned)), key=lambda i: -abs(recognised[i][0] - aligned[i][0]))[:5]
            for i in worst:
                print(
                    f"  word {i} {aligned[i][2]!r}: recognised {recognised[i][0]:.2f}-{recognised[i][1]:.2f}, "
                    f"aligned {aligned[i][0]:.2f}-{aligned[i][1]:.2f}"
                )
        ends_ok = all(scene.rstrip().endswith((".", "!", "?", '"', ")")) for scene in results["align"][4])
        print(f"every aligned scene ends a sentence: {ends_ok}")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
