"""Wall time per stage of the demo, end to end, on this machine.

Usage: python bench/e2e.py [--runs N] [--keep]
Runs the demo pipeline inline in a fresh temporary data dir (SQLite, local files) so earlier outputs
cannot be reused, prints one line per stage and the total, then a second pass to show what a resume costs
when everything is current. Set PAPERCAST_WHISPER_MODEL and PAPERCAST_PIPER_VOICE as for the demo.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time

from benchsetup import ROOT, fresh_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="repeat the fresh run this many times")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args()

    data_dir = fresh_django()
    from django.conf import settings

    from media_pipeline import pipeline
    from media_pipeline.models import StageRun
    from projects import services

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"whisper model: {settings.PAPERCAST_WHISPER_MODEL} | voice: {settings.PAPERCAST_PIPER_VOICE}")
    sample = ROOT / "media_pipeline" / "samples" / "demo.txt"
    project = services.project_get_or_create(slug="bench", name="Bench", owner=None)
    try:
        for attempt in range(1, args.runs + 1):
            with sample.open("rb") as handle:
                paper = services.paper_create_from_text(
                    project=project, title=f"Bench {attempt}", file=handle, filename="demo.txt"
                )
            for label, kwargs in (("fresh", {}), ("resume, all current", {})):
                started = time.perf_counter()
                with pipeline.inline():
                    first = pipeline.pipeline_start(paper, **kwargs)
                    pipeline.drain()
                total = time.perf_counter() - started
                print(f"\nrun {attempt} ({label}): {total:.2f} s wall" + ("" if first else " (nothing to do)"))
                if first is None:
                    continue
                for run in StageRun.objects.filter(paper=paper).order_by("created_at")[:6]:
                    detail = ", ".join(f"{k}={v}" for k, v in run.metrics.items() if k != "seconds")
                    print(f"  {run.stage:<10} {run.status:<9} {run.seconds or 0:7.2f} s  {detail}")
    finally:
        if args.keep:
            print(f"\ndata kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
