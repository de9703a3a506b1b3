"""Kill a worker mid-stage and time the recovery; then list what the crash left behind.

Usage: python bench/faults.py [--stages narrate,transcribe,...] [--timeout 900] [--fast] [--database-url URL]
                              [--redis-url URL] [--kill-after 1.0] [--text FILE] [--keep]

Starts real `manage.py qcluster` processes in a fresh temporary data dir (SQLite, local files; or the
PostgreSQL database of --database-url, which is migrated and whose queue these clusters serve; the queue in
the database, or Redis with --redis-url, a database of its own that is emptied first): the default cluster,
and the gpu cluster when a chosen stage goes there (transcribe). It creates a text paper and enqueues its
pipeline for them. Each chosen stage it catches running (first attempt) gets its worker killed: SIGKILL to the
whole process group of the qcluster that runs it, as the OOM killer or a lost machine would, then a new
qcluster is started at once, as a supervisor would. It measures the seconds from the kill to the run's next
attempt starting (the retry's started_at, from the database).

With the default settings (heartbeat every 5 s, a worker silent for 30 s is dead, the reaper scheduled
every minute on the default cluster) the number is what users get; the target is under 120 s. --fast
shortens them (heartbeat 0.5 s, timeout 3 s, this script calls the reaper every second) for a quick check.

When the paper is done it lists the leftovers, per stage (target: none): temp dirs `papercast-<pid>-*` of
processes that are gone (the clusters get a TMPDIR of their own so nobody else's count), processes of a
killed cluster still alive 2 s after the kill or at the end (its members found through /proc: the
descendants of the qcluster, and every process carrying the cluster's marker in its environment), files in
the media dir that no row points at, and duplicate outputs (more than one transcription or video per paper,
more image candidates than the project asks for, more than one run per stage).

Stages that finish in a few milliseconds (chunk, summarize) can rarely be caught; they are reported as such.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from benchsetup import ROOT

SHARED = ROOT.parent / "shared" / "models"
TAG = "PAPERCAST_FAULTS_CLUSTER"  # in each cluster's environment; its programs inherit it
TEXT_STAGES = ("narrate", "transcribe", "chunk", "summarize", "illustrate", "render")
FOLDER_STAGE = {"narration": "narrate", "scenes": "illustrate", "video": "render", "figures": "extract"}


# --- Processes ---------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time in clock ticks) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:100]


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def descendants(root: int) -> dict[int, int]:
    """{pid: start time} of `root` and every process below it, from the parent links in /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    starts: dict[int, int] = {}
    for pid in _pids():
        stat = _stat(pid)
        if stat is not None:
            children[stat[0]].append(pid)
            starts[pid] = stat[2]
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in starts and pid not in found:
            found[pid] = starts[pid]
            todo.extend(children.get(pid, []))
    return found


def tagged(tag: str) -> dict[int, int]:
    """{pid: start time} of the live processes whose environment carries this cluster's marker."""
    marker = f"{TAG}={tag}".encode()
    found: dict[int, int] = {}
    for pid in _pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        stat = _stat(pid)
        if stat is not None and marker in environ.split(b"\0"):
            found[pid] = stat[2]
    return found


def survivors(members: dict[int, int]) -> list[str]:
    """The processes of `members` that still run (same pid and start time, not a zombie)."""
    alive = []
    for pid, start in sorted(members.items()):
        stat = _stat(pid)
        if stat is not None and stat[2] == start and stat[1] not in "ZX":
            alive.append(f"process {pid} still runs: {_cmdline(pid)}")
    return alive


# --- Clusters ----------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    name: str
    generation: int
    tag: str
    proc: subprocess.Popen[bytes]
    log: Path


class Clusters:
    """The qcluster processes, one per cluster name, each leading a process group of its own."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: dict[str, Cluster] = {}
        self.generations: dict[str, int] = defaultdict(int)
        self.token = uuid.uuid4().hex[:8]

    def start(self, name: str) -> Cluster:
        self.generations[name] += 1
        generation = self.generations[name]
        tag = f"{self.token}-{name}-{generation}"
        env = {**self.env, TAG: tag}
        if name != "default":
            env["Q_CLUSTER_NAME"] = name
        log = self.logs / f"{name}-{generation}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: killed as one, as the kernel would
            )
        cluster = Cluster(name, generation, tag, proc, log)
        self.running[name] = cluster
        return cluster

    def kill(self, name: str) -> tuple[Cluster, dict[int, int]]:
        """SIGKILL the cluster's whole process group; returns it and its members as they were at the kill."""
        cluster = self.running.pop(name)
        members = {**descendants(cluster.proc.pid), **tagged(cluster.tag)}
        os.killpg(cluster.proc.pid, signal.SIGKILL)
        cluster.proc.wait()
        return cluster, members

    def stop_all(self) -> None:
        for cluster in self.running.values():
            cluster.proc.terminate()  # the qcluster stops its own processes
        for cluster in self.running.values():
            try:
                cluster.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.proc.pid, signal.SIGKILL)
                cluster.proc.wait()
        self.running.clear()


# --- Measuring ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    stage: str
    cluster: str = ""
    caught: str = "not reached"
    to_pending: float | None = None
    to_retry: float | None = None
    final: str = ""
    killed: dict[int, int] = field(default_factory=dict)
    tag: str = ""
    leftovers: list[str] = field(default_factory=list)


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else (later - earlier).total_seconds()


def kill_and_measure(run: Any, clusters: Clusters, outcome: Outcome, reap: Any, deadline: float) -> None:
    """Kill the cluster running `run`'s first attempt, start another, wait for the run's next attempt."""
    from django.utils import timezone

    from media_pipeline.models import RunStatus
    from media_pipeline.pipeline import queue_for

    name = queue_for(run.stage)
    before_attempts, before_started = run.attempts, run.started_at
    killed_at = timezone.now()
    cluster, members = clusters.kill(name)
    clusters.start(name)
    outcome.cluster, outcome.killed, outcome.tag = name, members, cluster.tag
    print(f"  killed {name} cluster #{cluster.generation} ({len(members)} processes) during {run.stage}", flush=True)
    run.refresh_from_db()
    if run.status != RunStatus.RUNNING or run.attempts != before_attempts:
        outcome.caught = f"no, {run.status} first"
        return
    outcome.caught = f"yes, at {run.progress}%"
    checked_strays = False
    while time.monotonic() < deadline:
        reap()
        if not checked_strays and (timezone.now() - killed_at).total_seconds() >= 2:
            checked_strays = True
            outcome.leftovers += [f"{line} (2 s after the kill)" for line in survivors(members)]
        run.refresh_from_db()
        if run.status == RunStatus.PENDING and outcome.to_pending is None:
            outcome.to_pending = _seconds(run.heartbeat_at, killed_at)  # the reaper stamps its return
        if run.attempts > before_attempts and run.started_at != before_started:
            outcome.to_retry = _seconds(run.started_at, killed_at)
            print(f"  {run.stage}: attempt {run.attempts} started {outcome.to_retry:.1f} s after the kill", flush=True)
            return
        if run.status == RunStatus.FAILED:
            outcome.final = f"failed: {run.error[:80]}"
            return
        time.sleep(0.2)
    outcome.caught += "; no retry before --timeout"


# --- Leftovers ---------------------------------------------------------------------------------------------


def dead_tempdirs(tmp: Path) -> list[Path]:
    from media_pipeline.files import _alive

    found = []
    for entry in sorted(tmp.glob("papercast-*")):
        parts = entry.name.split("-")
        if entry.is_dir() and len(parts) > 2 and parts[1].isdigit() and not _alive(int(parts[1])):
            found.append(entry)
    return found


def referenced_files() -> set[str]:
    from django.apps import apps
    from django.db.models import FileField

    names: set[str] = set()
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            if isinstance(model_field, FileField):
                rows = model._default_manager.exclude(**{model_field.name: ""})
                names.update(str(value) for value in rows.values_list(model_field.name, flat=True) if value)
    return names


def orphan_files(media: Path) -> list[str]:
    referenced = referenced_files()
    stored = {str(path.relative_to(media)) for path in media.rglob("*") if path.is_file()}
    return sorted(stored - referenced)


def stage_of(name: str) -> str:
    for part in Path(name).parts:
        if part in FOLDER_STAGE:
            return FOLDER_STAGE[part]
    return "-"


def duplicates(paper: Any) -> dict[str, list[str]]:
    from django.db.models import Count

    from media_pipeline.models import Chunk, StageRun, Transcription, Video

    found: dict[str, list[str]] = defaultdict(list)
    transcriptions = Transcription.objects.filter(paper=paper).count()
    if transcriptions > 1:
        found["transcribe"].append(f"{transcriptions} transcriptions of the paper")
    videos = Video.objects.filter(paper=paper).count()
    if videos > 1:
        found["render"].append(f"{videos} videos of the paper")
    wanted = paper.project.image_candidates
    for chunk in Chunk.objects.filter(paper=paper).annotate(n=Count("images")).filter(n__gt=wanted):
        found["illustrate"].append(f"scene {chunk.index + 1} has {chunk.n} images (the project asks for {wanted})")
    for row in StageRun.objects.filter(paper=paper).values("stage").annotate(n=Count("id")).filter(n__gt=1):
        found[row["stage"]].append(f"{row['n']} runs of the stage")
    return found


# --- Main ----------------------------------------------------------------------------------------------------


def setup(args: argparse.Namespace) -> tuple[Path, dict[str, str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="papercast-faults-"))
    tmp = data_dir / "tmp"
    tmp.mkdir()
    env = {
        "PAPERCAST_DATA_DIR": str(data_dir),
        "PAPERCAST_QUEUE_SYNC": "false",
        "TMPDIR": str(tmp),
        "DJANGO_SETTINGS_MODULE": "papercast.settings",
        "HF_HUB_OFFLINE": "1",
    }
    voice, whisper = SHARED / "piper/en_US-joe-medium.onnx", SHARED / "whisper/tiny.en.pt"
    if "PAPERCAST_PIPER_VOICE" not in os.environ and voice.is_file():
        env["PAPERCAST_PIPER_VOICE"] = str(voice)
    if "PAPERCAST_WHISPER_MODEL" not in os.environ and whisper.is_file():
        env["PAPERCAST_WHISPER_MODEL"] = str(whisper)
    if args.fast:
        env.update({"PAPERCAST_HEARTBEAT_SECONDS": "0.5", "PAPERCAST_HEARTBEAT_TIMEOUT": "3"})
    else:
        for name in ("PAPERCAST_HEARTBEAT_SECONDS", "PAPERCAST_HEARTBEAT_TIMEOUT", "PAPERCAST_STAGE_TIMEOUT"):
            os.environ.pop(name, None)  # the defaults, so the number is what users get
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    if args.redis_url:
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()  # the queues of an earlier run would be served first
        env["PAPERCAST_REDIS_URL"] = args.redis_url
    else:
        os.environ.pop("PAPERCAST_REDIS_URL", None)
    os.environ.update(env)
    tempfile.tempdir = str(tmp)  # this process's reaper (--fast) sweeps where the clusters write
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir, {**os.environ}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", default=",".join(TEXT_STAGES), help="stages to kill a worker in (comma-separated)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds in all")
    parser.add_argument("--fast", action="store_true", help="short heartbeat and reaper, for a quick check")
    parser.add_argument("--database-url", help="a PostgreSQL database of its own (default: SQLite in the data dir)")
    parser.add_argument("--redis-url", help="Redis as the broker: a database of its own, emptied first")
    parser.add_argument("--kill-after", type=float, default=1.0, help="kill this long after a stage is seen running")
    parser.add_argument("--text", type=Path, help="the paper's text (default: the demo and paragraph samples)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir (and the cluster logs)")
    args = parser.parse_args()
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(TEXT_STAGES))
    if unknown or not stages:
        parser.error(f"unknown stages {', '.join(unknown)}; a text paper's stages are {', '.join(TEXT_STAGES)}")
    until = max(stages, key=TEXT_STAGES.index)

    # `timeout` or a supervisor's SIGTERM unwinds like Ctrl-C, so the clusters are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data_dir, env = setup(args)
    from django.conf import settings

    from media_pipeline import pipeline
    from media_pipeline.models import RunStatus, StageRun
    from projects import services

    logs = data_dir / "logs"
    logs.mkdir()
    clusters = Clusters(env, logs)
    samples = ROOT / "media_pipeline" / "samples"
    text = (
        args.text.read_text()
        if args.text
        else "\n\n".join((samples / name).read_text() for name in ("demo.txt", "paragraph.txt"))
    )
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(
        f"{'fast' if args.fast else 'default'} settings: heartbeat every {settings.PAPERCAST_HEARTBEAT_SECONDS:g} s, "
        f"dead after {settings.PAPERCAST_HEARTBEAT_TIMEOUT:g} s, reaper "
        f"{'called every 1 s by this script' if args.fast else 'scheduled every minute (default cluster)'}; "
        f"{db}, {'Redis' if args.redis_url else 'database'} queue; {os.cpu_count()} cores; data in {data_dir}",
        flush=True,
    )
    last_reap = [0.0]

    def reap() -> None:
        if args.fast and time.monotonic() - last_reap[0] >= 1.0:
            last_reap[0] = time.monotonic()
            pipeline.pipeline_reap()

    outcomes = {stage: Outcome(stage) for stage in stages}
    deadline = time.monotonic() + args.timeout
    final_note = ""
    try:
        ran = TEXT_STAGES[: TEXT_STAGES.index(until) + 1]
        for name in sorted({pipeline.queue_for(stage) for stage in ran} | {"default"}):  # default: the reaper
            clusters.start(name)
        project = services.project_create(name="Faults", owner=None)
        paper = services.paper_create_from_text(project=project, title="Faults", text=text)
        pipeline.pipeline_start(paper, until=until)
        seen: dict[str, float] = {}
        while True:
            if time.monotonic() > deadline:
                final_note = f"gave up after --timeout {args.timeout:g} s"
                break
            reap()
            runs = {run.stage: run for run in StageRun.objects.filter(paper=paper).order_by("created_at", "id")}
            if any(run.status == RunStatus.FAILED for run in runs.values()):
                break
            if until in runs and runs[until].status == RunStatus.SUCCEEDED:
                break
            for stage, run in runs.items():
                outcome = outcomes.get(stage)
                if outcome is None or outcome.caught != "not reached":
                    continue
                if run.status == RunStatus.SUCCEEDED:
                    outcome.caught = f"no (done in {run.seconds or 0:.2f} s)"
                elif run.status == RunStatus.RUNNING and run.attempts == 1:
                    first = seen.setdefault(stage, time.monotonic())
                    if run.progress > 0 or time.monotonic() - first >= args.kill_after:
                        kill_and_measure(run, clusters, outcome, reap, deadline)
            time.sleep(0.05)

        for stage, run in {r.stage: r for r in StageRun.objects.filter(paper=paper)}.items():
            if stage in outcomes and not outcomes[stage].final:
                outcomes[stage].final = f"{run.status}, {run.attempts} attempt{'s' if run.attempts != 1 else ''}"
                if run.status == RunStatus.FAILED:
                    outcomes[stage].final += f": {run.error[:80]}"
        time.sleep(2)  # what the last attempt's worker may still be tidying
        other: list[str] = []
        notes: list[str] = []
        for outcome in outcomes.values():
            if outcome.killed:
                outcome.leftovers += [f"{line} (at the end)" for line in survivors(outcome.killed)]
                outcome.leftovers += [f"{line} (at the end)" for line in survivors(tagged(outcome.tag))]
        killed_pids = {pid: o for o in outcomes.values() for pid in o.killed}
        for path in dead_tempdirs(data_dir / "tmp"):
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            line = f"temp dir {path.name} ({size // 1024} KB)"
            owner = killed_pids.get(int(path.name.split("-")[1]))
            (owner.leftovers if owner else other).append(line)
        for name in orphan_files(Path(settings.MEDIA_ROOT)):
            line = f"file no row points at: {name}"
            (outcomes[stage_of(name)].leftovers if stage_of(name) in outcomes else other).append(line)
        for stage, lines in duplicates(paper).items():
            (outcomes[stage].leftovers if stage in outcomes else other).extend(lines)
        from django_q.models import OrmQ

        held = OrmQ.objects.count()  # a killed worker's task stays locked until django-q2's retry passes
        if held:
            retry = settings.Q_CLUSTER["retry"]
            notes.append(
                f"queue: {held} task(s) of killed workers still held; redelivered after {retry} s, then refused"
            )
    finally:
        clusters.stop_all()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    print(f"\n{'stage':<11} {'cluster':<8} {'caught':<28} {'kill->pending':>13} {'kill->retry':>11}  final")
    for outcome in outcomes.values():
        pending = "-" if outcome.to_pending is None else f"{outcome.to_pending:.1f} s"
        retry = "-" if outcome.to_retry is None else f"{outcome.to_retry:.1f} s"
        print(
            f"{outcome.stage:<11} {outcome.cluster or '-':<8} {outcome.caught:<28} {pending:>13} {retry:>11}  "
            f"{outcome.final}"
        )
        for line in dict.fromkeys(outcome.leftovers) or ["leftovers: none"]:
            print(f"    {line}")
    for line in other:
        print(f"  (other) {line}")
    for line in notes:
        print(f"  note: {line}")
    retries = [o.to_retry for o in outcomes.values() if o.to_retry is not None]
    if retries:
        print(f"\nslowest recovery: {max(retries):.1f} s (target: under 120 s)")
    if final_note:
        print(final_note)
    if args.keep:
        print(f"data and cluster logs kept in {data_dir}")
    failed = any(o.final.startswith("failed") for o in outcomes.values())
    return 1 if failed or final_note else 0


if __name__ == "__main__":
    raise SystemExit(main())
