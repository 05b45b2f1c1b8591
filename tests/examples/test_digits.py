"""The zoo's MLP and CNN, compiled and trained with fit, classify the digits (>= 97%)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="scikit-learn (the 'data' extra) is not installed")

_PATH = Path(__file__).resolve().parents[2] / "examples" / "digits.py"
_spec = importlib.util.spec_from_file_location("digits_example", _PATH)
assert _spec is not None and _spec.loader is not None
digits = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(digits)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_reaches_97_percent_test_accuracy(name: str) -> None:
    out = digits.train(name, seed=0, progress=False)
    assert out["accuracy"] >= 0.97, out


def test_split_is_deterministic_and_disjoint() -> None:
    a = digits.load(0)
    b = digits.load(0)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert len(a[0]) + len(a[2]) == 1797
