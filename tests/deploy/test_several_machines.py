"""papercast on several machines that share no disk: the deployment README.md describes, run for real.

The processes are the lines of docs/deploy/Procfile, each a separate process with its own PAPERCAST_DATA_DIR
and TMPDIR, as on separate machines: the web server (gunicorn with the production settings), a `default`
qcluster and a `gpu` qcluster. What they share is what machines share: PostgreSQL (a database of its own
on the server beside the tests), Redis as the broker, and moto's S3 server for every file. A paper created
through the API goes through every stage; the uploader's client downloads the finished video through its
presigned S3 links; no process wrote a file anywhere but S3. Then the GPU worker is killed (SIGKILL to its
whole process group) while it transcribes a second paper, a new one is started, and that paper finishes.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PIPER_VOICE, WHISPER_MODEL

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/11"
SAMPLES = ROOT / "media_pipeline" / "samples"


def procfile() -> dict[str, str]:
    lines = [line for line in (DEPLOY / "Procfile").read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split(": ", 1) for line in lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    tmp: Path
    env: dict[str, str]
    url: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def machine(self, role: str) -> dict[str, str]:
        """The environment of a process on a machine of its own: its own data dir and temp dir."""
        data, tmp = self.tmp / role / "data", self.tmp / role / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return {**self.env, "PAPERCAST_DATA_DIR": str(data), "TMPDIR": str(tmp)}

    def start(self, role: str, name: str | None = None, **extra: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name or role}.log").open("ab")
        process = subprocess.Popen(
            ["bash", "-c", "exec " + procfile()[role]],
            cwd=ROOT,
            env={**self.machine(name or role), **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole, as a machine going away
        )
        self.processes[name or role] = process
        return process

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def manage(self, code: str) -> str:
        """Run Python in `manage.py shell` on an operator's machine of its own (its output, stripped)."""
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            check=False,
            cwd=ROOT,
            env=self.machine("operator"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout.strip()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log"))


@pytest.fixture
def deployment(tmp_path: Path, s3_endpoint: str) -> Iterator[Deployment]:
    import boto3
    import psycopg
    import redis

    database = f"papercast_machines_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    bucket = f"papercast-machines-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    )  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    redis.Redis.from_url(REDIS_URL).flushdb()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERCAST_", "DATABASE_URL", "AWS_"))}
    env = {
        **inherited,
        # The venv's programs first, as an activated venv or the systemd units' full paths give them.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), inherited.get("PATH", "")]),
        "DJANGO_SETTINGS_MODULE": "papercast.settings",
        "PAPERCAST_SECRET_KEY": "several-machines-test-" + uuid.uuid4().hex * 2,
        "DATABASE_URL": f"{POSTGRES}/{database}",
        "PAPERCAST_REDIS_URL": REDIS_URL,
        "PAPERCAST_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PAPERCAST_ALLOWED_HOSTS": "127.0.0.1",
        "PAPERCAST_WHISPER_MODEL": WHISPER_MODEL,
        "PAPERCAST_PIPER_VOICE": PIPER_VOICE,
        "PAPERCAST_WHISPER_DEVICE": "cpu",
        "PAPERCAST_WORKERS": "1",
        # Recovery in seconds rather than a minute: a killed worker is silent after 3 s.
        "PAPERCAST_HEARTBEAT_SECONDS": "0.5",
        "PAPERCAST_HEARTBEAT_TIMEOUT": "3",
        "HF_HUB_OFFLINE": "1",
    }
    deployment = Deployment(tmp_path, env)
    try:
        release = subprocess.run(
            ["bash", "-c", procfile()["release"]], check=False, cwd=ROOT, env=deployment.machine("release"),
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert release.returncode == 0, release.stderr[-3000:]
        port = _free_port()
        deployment.start("web", PORT=str(port), WEB_CONCURRENCY="2")
        deployment.start("worker")
        deployment.start("gpu")
        deployment.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(deployment.url + "/api/v1/", timeout=10)
                break
            except requests.RequestException:  # not listening yet, or still loading the app
                assert time.monotonic() < deadline, deployment.logs()
                time.sleep(0.3)
        yield deployment
    finally:
        for name in list(deployment.processes):
            deployment.kill(name)
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        redis.Redis.from_url(REDIS_URL).flushdb()


def _wait_for(deployment: Deployment, session: requests.Session, paper: int, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = session.get(f"{deployment.url}/api/v1/papers/{paper}/", timeout=10).json()["pipeline"]
        if state["status"] in ("succeeded", "failed"):
            return dict(state)
        time.sleep(1)
    raise AssertionError(f"paper {paper} did not finish in {seconds:.0f} s\n{deployment.logs()}")


def test_a_paper_goes_through_web_default_and_gpu_machines_that_share_only_postgres_redis_and_s3(
    deployment: Deployment,
) -> None:
    from uploader.papercast import Papercast

    project, token = (
        deployment.manage(
            "from django.contrib.auth.models import User; from projects import services; "
            "from papercast.api.tokens import token_create; "
            "u = User.objects.create_user('alice', password='pw-alice', is_staff=True); "
            "p = services.project_create(name='Machines', owner=u, video_width=640, video_height=360); "
            "print(p.pk, token_create(u)[1])"
        )
        .splitlines()[-1]
        .split()
    )
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"

    # The Swagger UI and its assets, from the apps' static files: no collectstatic ran anywhere.
    docs = requests.get(f"{deployment.url}/api/docs/", timeout=10)
    assert docs.status_code == 200
    asset = next(part.split('"')[0] for part in docs.text.split('src="')[1:] if part.startswith("/static/"))
    served = requests.get(deployment.url + asset, timeout=10)
    assert served.status_code == 200 and len(served.content) > 10_000, asset

    text = (SAMPLES / "demo.txt").read_text()
    created = api.post(
        f"{deployment.url}/api/v1/papers/", json={"project": int(project), "title": "Bees", "text": text}, timeout=30
    )
    assert created.status_code == 201, created.text
    paper = created.json()["id"]
    started = api.post(f"{deployment.url}/api/v1/papers/{paper}/pipeline/", json={}, timeout=30)
    assert started.status_code == 202, started.text
    state = _wait_for(deployment, api, paper, 300)
    assert state["status"] == "succeeded", state

    deployment.manage(
        "from django.contrib.auth.models import User; from projects.models import Paper; "
        "from media_pipeline.curation import paper_approve; "
        f"paper_approve(Paper.objects.get(pk={paper}), user=User.objects.get(username='alice'))"
    )
    client = Papercast(deployment.url, token)
    ready = client.ready()
    assert [v["paper"] for v in ready] == [paper]
    video = client.video(ready[0]["id"])  # the detail carries the download links
    link = video["files"]["video"]
    assert link["requires_auth"] is False and link["url"].startswith(deployment.env["AWS_S3_ENDPOINT_URL"])
    target = client.download(link, deployment.tmp / "uploader" / "video.mp4", sha256=video["file_sha256"])
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(target)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert abs(float(probe.stdout) - video["duration"]) < 0.2

    # Nothing any machine stored went anywhere but S3: no media on any machine's disk.
    for role in ("web", "worker", "gpu", "release", "operator"):
        media = deployment.tmp / role / "data" / "media"
        stored = [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
        assert stored == [], (role, stored)

    # The GPU machine dies while it transcribes another paper; a new one takes over and the paper finishes.
    created = api.post(
        f"{deployment.url}/api/v1/papers/",
        json={
            "project": int(project),
            "title": "More bees",
            "text": text + "\n\n" + (SAMPLES / "paragraph.txt").read_text(),
        },
        timeout=30,
    )
    second = created.json()["id"]
    api.post(f"{deployment.url}/api/v1/papers/{second}/pipeline/", json={}, timeout=30)
    deadline = time.monotonic() + 300
    while True:
        stages = {
            s["stage"]: s
            for s in api.get(f"{deployment.url}/api/v1/papers/{second}/", timeout=10).json()["pipeline"]["stages"]
        }
        if stages["transcribe"]["status"] == "running":
            break
        assert time.monotonic() < deadline and stages["transcribe"]["status"] != "succeeded", (
            stages,
            deployment.logs(),
        )
        time.sleep(0.1)
    deployment.kill("gpu")
    deployment.start("gpu", "gpu-2")
    deadline = time.monotonic() + 120
    while True:  # the reaper, as the default cluster's schedule runs it every minute
        deployment.manage("from media_pipeline.pipeline import pipeline_reap; pipeline_reap()")
        stages = {
            s["stage"]: s
            for s in api.get(f"{deployment.url}/api/v1/papers/{second}/", timeout=10).json()["pipeline"]["stages"]
        }
        if stages["transcribe"]["attempts"] >= 2 or stages["transcribe"]["status"] == "succeeded":
            break
        assert time.monotonic() < deadline, (stages, deployment.logs())
        time.sleep(1)
    state = _wait_for(deployment, api, second, 300)
    transcribe = next(s for s in state["stages"] if s["stage"] == "transcribe")
    assert state["status"] == "succeeded" and transcribe["attempts"] == 2, state
    assert shlex.split(procfile()["gpu"])[:2] == ["env", "Q_CLUSTER_NAME=gpu"]


def test_the_systemd_units_and_the_compose_file_say_what_the_procfile_and_readme_say() -> None:
    """The deployment files users start from: each unit runs its Procfile line (the one the test above
    starts), reads the shared environment file, and stops its whole cluster; the compose file brings the
    three services the environment file points at."""
    import yaml

    lines = procfile()
    units = {
        "web": "papercast-web.service",
        "worker": "papercast-worker.service",
        "gpu": "papercast-gpu-worker.service",
    }
    env_file = (DEPLOY / "papercast.env.example").read_text()
    for role, unit in units.items():
        text = (DEPLOY / "systemd" / unit).read_text()
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
        assert fields["EnvironmentFile"] == "/etc/papercast/papercast.env"
        command = shlex.split(lines[role].replace("${PORT:-8000}", "8000").replace("${WEB_CONCURRENCY:-2}", "2"))
        if command[:2] == ["env", "Q_CLUSTER_NAME=gpu"]:
            assert fields["Environment"] == "Q_CLUSTER_NAME=gpu"
            command = command[2:]
        started = shlex.split(fields["ExecStart"])
        assert Path(started[0]).name == command[0] and started[1:3] == command[1:3], (unit, started, command)
        if role != "web":
            assert fields["KillMode"] == "mixed"  # the cluster's workers and their ffmpeg stop with it
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert {"db", "redis", "minio"} <= set(compose["services"])
    for setting in ("DATABASE_URL=postgres://", "PAPERCAST_REDIS_URL=redis://", "PAPERCAST_STORAGE=s3"):
        assert setting in env_file
    readme = (ROOT / "README.md").read_text()
    for path in ("docs/deploy/Procfile", "docs/deploy/systemd/", "docs/deploy/compose.yaml"):
        assert path in readme
