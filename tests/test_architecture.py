"""The house's layout, checked on the real import graph (grimp reads every import, lazy ones inside functions
included; imports only for type checking are left out): projects is the ground floor, stages stand alone,
and no module imports itself back through others."""

from __future__ import annotations

from functools import cache

import grimp
import pytest

from media_pipeline import pipeline
from media_pipeline.stages import PipelineStage, RegeneratingStage

PACKAGES = ("papercast", "projects", "media_pipeline")
STAGES = ("extract", "script", "narrate", "transcribe", "chunk", "summarize", "illustrate", "render")


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)


def imports_of(module: str) -> set[str]:
    return set(graph().find_modules_directly_imported_by(module))


def own_modules() -> list[str]:
    return sorted(m for m in graph().modules if m.split(".")[0] in PACKAGES)


def test_it_keeps_projects_free_of_media_pipeline() -> None:
    offending = {
        (module, target)
        for module in own_modules()
        if module.split(".")[0] == "projects"
        for target in imports_of(module)
        if target.split(".")[0] == "media_pipeline"
    }
    assert offending == set()


@pytest.mark.parametrize("stage", STAGES)
def test_it_keeps_each_stage_away_from_the_pipeline_and_the_other_stages(stage: str) -> None:
    module = f"media_pipeline.stages.{stage}"
    forbidden = {"media_pipeline.pipeline", "media_pipeline.tasks"} | {
        f"media_pipeline.stages.{other}" for other in STAGES if other != stage
    }
    assert imports_of(module) & forbidden == set()


def test_it_keeps_the_stage_helpers_away_from_the_stages() -> None:
    stages = {f"media_pipeline.stages.{name}" for name in STAGES}
    helpers = [m for m in own_modules() if m.startswith("media_pipeline.stages.") and m not in stages]
    assert helpers, "the helper modules (align, captions, ...) were not found"
    assert {(h, t) for h in helpers for t in imports_of(h) & stages} == set()


def _cycles(modules: list[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(imports_of(m) & set(modules)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if child < len(edges[node]):
                work.append((node, child + 1))
                target = edges[node][child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_it_has_no_import_cycles() -> None:
    assert _cycles(own_modules()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    # The check above must be able to fail: a -> b -> c -> a is one cycle, d stands alone.
    fake = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    original = imports_of
    try:
        globals()["imports_of"] = lambda module: set(fake[module])
        assert _cycles(["a", "b", "c", "d"]) == [["a", "b", "c"]]
    finally:
        globals()["imports_of"] = original


def test_every_stage_satisfies_the_written_contract() -> None:
    assert [str(name) for name in pipeline.STAGES] == [
        "extract", "script", "narrate", "transcribe", "chunk", "summarize", "illustrate", "render"
    ]  # fmt: skip
    for name, stage in pipeline.STAGES.items():
        assert isinstance(stage, PipelineStage) and stage.name == name
    regenerating = [name for name, stage in pipeline.STAGES.items() if isinstance(stage, RegeneratingStage)]
    assert regenerating == ["illustrate"]
