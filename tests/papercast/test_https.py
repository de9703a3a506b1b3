"""HTTPS behind a TLS proxy: the production settings of README.md ("Deploying on several machines") pass
`manage.py check --deploy`, and each protection can still be turned off on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# README.md, "Production settings": what a web machine behind a TLS proxy is given.
PRODUCTION = {
    "PAPERCAST_DEBUG": "0",
    "PAPERCAST_SECRET_KEY": "k3y-0f-fifty-characters-or-more-for-check-deploy-XyZ-0123456789",
    "PAPERCAST_ALLOWED_HOSTS": "papercast.example.org",
    "PAPERCAST_CSRF_TRUSTED_ORIGINS": "https://papercast.example.org",
    "PAPERCAST_SITE_URL": "https://papercast.example.org",
}

# Each defaults from the site URL; the machine running the tests must not decide them.
SWITCHES = {
    "PAPERCAST_TRUST_FORWARDED_PROTO", "PAPERCAST_SSL_REDIRECT", "PAPERCAST_SECURE_COOKIES", "PAPERCAST_HSTS_SECONDS",
    "PAPERCAST_HSTS_INCLUDE_SUBDOMAINS", "PAPERCAST_HSTS_PRELOAD",
}  # fmt: skip


def check_deploy(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    # Not the test run's own switches either (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process).
    skipped = {*SWITCHES, "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {name: value for name, value in os.environ.items() if name not in skipped}
    env.update({"PAPERCAST_DATA_DIR": str(tmp_path), **PRODUCTION, **extra})
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_it_passes_check_deploy_with_the_production_settings(tmp_path: Path) -> None:
    result = check_deploy(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stderr


def test_it_lets_the_operator_turn_each_protection_off(tmp_path: Path) -> None:
    result = check_deploy(
        tmp_path,
        PAPERCAST_SSL_REDIRECT="0",
        PAPERCAST_SECURE_COOKIES="0",
        PAPERCAST_HSTS_SECONDS="0",
    )
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr
