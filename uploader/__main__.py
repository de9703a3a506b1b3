"""`python -m uploader`: see uploader/cli.py."""

from __future__ import annotations

from uploader.cli import main

raise SystemExit(main())
