"""The search machinery on a tiny budget: records, resumption, the example's table and plot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from backends.jax import search as S

_PATH = Path(__file__).resolve().parents[3] / "examples" / "search.py"
_spec = importlib.util.spec_from_file_location("search_example", _PATH)
assert _spec is not None and _spec.loader is not None
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)


def _fake(spec: tuple[Any, ...], **_: Any) -> dict[str, list[float]]:
    return {"regression": [0.5, 0.7], "recall": [0.9, 0.8]}


def test_search_records_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake(spec: tuple[Any, ...], **kw: Any) -> dict[str, list[float]]:
        calls.append(spec)
        return _fake(spec, **kw)

    monkeypatch.setattr(S, "evaluate", fake)
    lines: list[str] = []
    rows = S.search(tmp_path, candidates=3, say=lines.append)
    assert [r["index"] for r in rows] == [0, 1, 2] and len(calls) == 3
    assert [r["lives_in"] for r in rows] == ["PL pretopos", "topos completion", "PL pretopos"]
    assert len(lines) == 3 and "[  3/3]" in lines[-1]
    again = S.search(tmp_path, candidates=4, say=None)  # resumes: only candidate 3 is new
    assert len(calls) == 4 and again[:3] == rows
    stored = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["index"] for r in stored] == [0, 1, 2, 3]
    text = example.table(again)
    assert "best topos completion" in text and "regression" in text and "recall" in text
    assert example.plot(again, tmp_path / "s.png").stat().st_size > 0


def test_evaluate_trains_every_task_and_seed() -> None:
    scores = S.evaluate(("arch", 4, ("res", ("lsa",))), steps=2, seeds=2, batch=4, test_size=8)
    assert sorted(scores) == ["recall", "regression"]
    assert all(len(v) == 2 and all(s > 0 for s in v) for v in scores.values())
