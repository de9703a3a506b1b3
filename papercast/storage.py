"""Local media storage that never keeps a half-written file.

Django's FileSystemStorage writes straight to the final name; when the write fails part-way (a full disk,
ENOSPC; a quota; an I/O error) the truncated file stays there under a name nothing points at, or worse, one
a later row could. Here a failed save removes what it wrote and raises the error unchanged.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from django.core.files.storage import FileSystemStorage


class LocalStorage(FileSystemStorage):
    def _save(self, name: str, content: Any) -> str:
        full_path = self.path(name)
        existed = os.path.lexists(full_path)
        try:
            return super()._save(name, content)  # type: ignore[misc]  # not in django-stubs, but Django's hook
        except BaseException:
            if not existed:
                with contextlib.suppress(OSError):
                    os.remove(full_path)
            raise
