from __future__ import annotations

from tests.api.conftest import approved_video  # noqa: F401  (shared fixtures)
