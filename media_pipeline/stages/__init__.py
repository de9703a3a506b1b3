"""One module per stage. Each exposes:

- `status(paper) -> (fingerprint, current)`: the fingerprint of the stage's inputs as they are now, and
  whether outputs made from exactly those inputs exist. Cheap: no engine is called.
- `run(paper, *, force, progress) -> StageResult`: make the outputs, or reuse them when current (unless
  force). Computes outside transactions and writes each output in one short transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ProgressFn = Callable[[float], None]


@dataclass
class StageResult:
    fingerprint: str
    reused: bool
    metrics: dict[str, Any] = field(default_factory=dict)


def no_progress(fraction: float) -> None:
    return None
