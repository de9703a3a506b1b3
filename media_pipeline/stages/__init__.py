"""One module per stage, each satisfying the written contract below (mypy checks it where pipeline.py lists
the stages). A stage imports neither pipeline.py nor another stage; what two stages share lives in
selectors.py, files.py or a backend. The other modules here (align, captions, compose, document, guard,
pieces) are pure helpers of the stages and import no stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from media_pipeline.models import Stage
    from projects.models import Paper

ProgressFn = Callable[[float], None]


@dataclass
class StageResult:
    fingerprint: str
    reused: bool
    metrics: dict[str, Any] = field(default_factory=dict)


def no_progress(fraction: float) -> None:
    return None


@runtime_checkable
class PipelineStage(Protocol):
    """What every stage module provides.

    - `name`: the Stage it implements.
    - `status(paper) -> (fingerprint, current)`: the fingerprint of the stage's inputs as they are now, and
      whether outputs made from exactly those inputs exist. Cheap: no engine is called.
    - `run(paper, *, force, progress) -> StageResult`: make the outputs, or reuse them when current (unless
      force). Idempotent: computes outside transactions and writes each output in one short transaction;
      a second run with the same inputs calls no engine.
    """

    @property
    def name(self) -> Stage: ...

    def status(self, paper: Paper) -> tuple[str, bool]: ...

    def run(self, paper: Paper, *, force: bool, progress: ProgressFn) -> StageResult: ...


@runtime_checkable
class RegeneratingStage(PipelineStage, Protocol):
    """A stage that can also add fresh candidates for some scenes, keeping the earlier ones (illustrate)."""

    def regenerate(self, paper: Paper, scene_indexes: list[int], count: int, progress: ProgressFn) -> StageResult: ...
