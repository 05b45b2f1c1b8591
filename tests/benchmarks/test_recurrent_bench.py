"""``benchmarks/recurrent.py``: its reference lowering is the tree and leaves the registry as found.

The ``tree / chunked`` ratio times the parallel SSM traced with ``linear_scan`` lowered
to ``lax.associative_scan``; the trace must really hold the tree, compute the same
layer, and the chunked lowering must be registered again afterwards.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax import apply
from backends.jax.core.registry import registered

SPEC = importlib.util.spec_from_file_location(
    "recurrent_bench", Path(__file__).resolve().parents[2] / "benchmarks" / "recurrent.py"
)
assert SPEC is not None and SPEC.loader is not None
bench = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bench  # its Equinox modules are dataclasses: found by module name
SPEC.loader.exec_module(bench)


def test_the_tree_is_traced_then_the_chunked_lowering_restored() -> None:
    before = registered()["linear_scan"]
    par = bench.layer("ssm", 3, 20, 4, parallel=True)
    params = bench.random_params(par)
    xs = jnp.asarray(np.random.default_rng(0).standard_normal((20, 3)).astype(np.float32))
    tree = jax.jit(lambda q, x: apply(par, q, x))
    bench.traced_with(bench.tree_lowering, lambda: tree(params, xs))
    assert registered()["linear_scan"] == before
    assert "while" not in tree.lower(params, xs).as_text()  # jit kept the tree it traced
    chunked = jax.jit(lambda q, x: apply(par, q, x))
    assert "while" in chunked.lower(params, xs).as_text()  # the short scan across chunks
    np.testing.assert_allclose(tree(params, xs), chunked(params, xs), atol=1e-5)
    floor = bench.dense_floor(params, xs)
    assert floor.shape == xs.shape
