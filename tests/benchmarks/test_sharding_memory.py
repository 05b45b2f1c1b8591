"""benchmarks/sharding.py: per-device parameter memory on the 1x8 mesh, from shapes only."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "sharding.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_sharding", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_transformer_on_1x8_holds_an_eighth_plus_5_percent() -> None:
    bench = _bench()
    f = bench.figures(*bench.MODELS["demo (vocab 97)"])
    assert f["8x1 megatron"] == 1.0  # pure data parallelism replicates the parameters
    assert f["1x8 megatron"] <= bench.BUDGET and f["1x8 fsdp"] <= bench.BUDGET
    assert f["4x2 fsdp"] <= bench.BUDGET
