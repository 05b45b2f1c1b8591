"""The search machinery on a tiny budget: records, resumption, the example's table and plot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends.jax.experiments import search as S

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


def test_a_repeated_spec_is_not_retrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake(spec: tuple[Any, ...], **kw: Any) -> dict[str, list[float]]:
        calls.append(spec)
        return _fake(spec, **kw)

    twice = ("arch", 8, ("mix",))
    monkeypatch.setattr(S, "evaluate", fake)
    monkeypatch.setattr(
        S, "spec_of", lambda i, seed=0: twice if i in (0, 2) else ("arch", 8, ("lsa",))
    )
    lines: list[str] = []
    rows = S.search(tmp_path, candidates=3, say=lines.append)
    assert len(calls) == 2 and rows[2]["same_as"] == 0 and "same_as" not in rows[0]
    assert rows[2]["scores"] == rows[0]["scores"] and rows[2]["index"] == 2
    assert "= #0" in lines[2]
    again = S.search(tmp_path, candidates=4, say=None)  # resumed: the stored twin still counts
    assert len(calls) == 2 and again[3]["same_as"] == 1  # index 3 draws index 1's spec


def test_the_numpy_batches_are_the_tasks() -> None:
    data, test = S._data(3, 4, 2, 5)
    assert data.z.shape == (3, 4, 4, S.SEQ, S.WIDTH_IN) and data.y.shape == (3, 4, 4, 1)
    assert test.z.shape == (4, 5, S.SEQ, S.WIDTH_IN)
    recall_keys = np.asarray(data.z[:, 2:, :, :-1, :-1])  # runs 2, 3: recall, one-hot keys
    assert set(np.unique(recall_keys)) == {0.0, 1.0}
    assert not np.array_equal(np.asarray(data.z[:, 0]), np.asarray(data.z[:, 1]))  # seeds differ
    assert np.array_equal(np.asarray(test.z[0]), np.asarray(test.z[1]))  # one test set per task


def test_a_diverged_candidate_ranks_last_and_is_left_out_of_the_plot(tmp_path: Path) -> None:
    def row(i: int, params: int, kind: str, reg: list[float]) -> dict[str, Any]:
        return {"index": i, "params": params, "lives_in": kind, "show": f"c{i}",
                "scores": {"regression": reg, "recall": [0.5, 0.5]}}  # fmt: skip

    rows = [
        row(0, 500, "topos completion", [float("nan"), 0.1]),
        row(1, 600, "topos completion", [0.9, 0.7]),
        row(2, 700, "PL pretopos", [1.0, 1.0]),
    ]
    text = example.table(rows)
    assert "0.800 ± 0.100 (600 p: c1)" in text and "| all | median | 1.000 | inf |" in text
    assert example.table(rows[:1]).count("diverged (500 p: c0)") == 1
    assert example.plot(rows, tmp_path / "d.png").stat().st_size > 0
