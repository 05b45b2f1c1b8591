"""The hand-written baselines are the diagram model's architecture, and the benchmark runs.

The baselines (``benchmarks/baselines.py``) must have the diagram transformer's
parameter count, logits shape and, given the same parameters, its logits; their
train steps must train. ``benchmarks/transformer.py --quick`` is the smoke test of
the side-by-side benchmark.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))  # the benchmark scripts import their neighbours by name
baselines = importlib.import_module("baselines")


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_transformer", BENCH / "transformer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


from backends.jax import batched, init  # noqa: E402
from topos import nn  # noqa: E402

TINY = baselines.TINY  # the doctests' size too: one compilation cache for all
CONFIGS = [TINY, baselines.Config(vocab=7, seq=5, d=12, heads=3, layers=1, mlp_ratio=2)]


def _diagram(cfg: baselines.Config) -> tuple[object, dict[str, jax.Array]]:
    p = nn.transformer(cfg.vocab, cfg.seq, cfg.d, cfg.heads, cfg.layers, cfg.mlp_ratio)
    return p, init(p, jax.random.key(0))


def _models(cfg: baselines.Config) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for scan in (True, False):
        out.append(
            (f"eqx scan={scan}", baselines.EqxTransformer(cfg, jax.random.key(1), scan=scan))
        )
        out.append((f"nnx scan={scan}", baselines.NnxTransformer(cfg, seed=1, scan=scan)))
    return out


def _logits(model: object, tokens: jax.Array) -> jax.Array:
    if isinstance(model, baselines.EqxTransformer):
        return eqx.filter_jit(lambda m, x: jax.vmap(m)(x))(model, tokens)
    return nnx.jit(lambda m, x: m(x))(model, tokens)


def test_doctests() -> None:
    result = doctest.testmod(baselines, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("cfg", CONFIGS)
def test_parameter_counts_match_the_diagram(cfg: baselines.Config) -> None:
    p = nn.transformer(cfg.vocab, cfg.seq, cfg.d, cfg.heads, cfg.layers, cfg.mlp_ratio)
    n = sum(math.prod(param.ob.shape) for param in p.parameters().values())
    assert n == cfg.n_params()
    for scan in (True, False):  # shapes only: nothing is drawn or compiled
        eqx_model = eqx.filter_eval_shape(
            baselines.EqxTransformer, cfg, jax.random.key(0), scan=scan
        )
        nnx_model = nnx.eval_shape(lambda scan=scan: baselines.NnxTransformer(cfg, scan=scan))
        for model in (eqx_model, nnx_model):
            assert baselines.count_params(model) == n, (type(model).__name__, scan)


def test_same_parameters_same_logits() -> None:
    """Given the diagram model's parameters, every baseline computes its logits."""
    cfg = TINY
    p, params = _diagram(cfg)
    tokens = jax.random.randint(jax.random.key(2), (3, cfg.seq), 0, cfg.vocab)
    expected = np.asarray(jax.jit(batched(p))(params, tokens))
    assert expected.shape == (3, cfg.seq, cfg.vocab)
    for name, model in _models(cfg):
        loaded = baselines.load_params(model, params)
        got = np.asarray(_logits(loaded, tokens))
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-4, err_msg=name)


def test_initialisers_follow_the_contract() -> None:
    cfg = TINY
    model = baselines.EqxTransformer(cfg, jax.random.key(3))
    nnx_model = baselines.NnxTransformer(cfg, seed=3)
    for w in (model.embed, model.blocks.wq, model.blocks.w1, nnx_model.head_w[...]):
        assert 0.01 < float(jnp.std(w)) < 0.03 and abs(float(jnp.mean(w))) < 0.01
    for b in (model.blocks.bq, model.head_b, nnx_model.blocks.b2[...], nnx_model.lnf_bias[...]):
        assert not np.any(np.asarray(b))
    assert np.all(np.asarray(model.blocks.ln1_scale) == 1.0)


@pytest.mark.parametrize("library", ["eqx", "nnx"])
def test_library_jit_train_steps_reduce_the_loss(library: str) -> None:
    """``eqx.filter_jit`` and ``nnx.jit`` steps (the flat ones train in the doctests)."""
    cfg = TINY
    tokens = jax.random.randint(jax.random.key(4), (4, cfg.seq), 0, cfg.vocab)
    batch = (tokens, jnp.roll(tokens, -1, axis=1))  # a fixed batch to memorise
    if library == "eqx":
        model = baselines.EqxTransformer(cfg, jax.random.key(5))
        step, state, opt = baselines.eqx_train_step(model, optax.adam(1e-2), flat=False)
    else:
        model = baselines.NnxTransformer(cfg, seed=5)
        step, state, opt = baselines.nnx_train_step(model, optax.adam(1e-2), flat=False)
    losses = []
    for _ in range(15):
        state, opt, loss = step(state, opt, batch)
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("extra", [0, 1])
def test_repeat_unrolls_small_stacks_and_scans_deep_ones(extra: int) -> None:
    """The lowering the benchmark chose: unrolled up to UNROLL_MAX layers, a loop beyond."""
    from backends.jax.core.compile import UNROLL_MAX

    layers = UNROLL_MAX + extra
    cfg = baselines.Config(vocab=5, seq=4, d=8, heads=2, layers=layers, mlp_ratio=1)
    p = nn.transformer(cfg.vocab, cfg.seq, cfg.d, cfg.heads, cfg.layers, cfg.mlp_ratio)
    params = {
        k: jnp.zeros(math.prod(q.ob.shape)).reshape(q.ob.shape) for k, q in p.parameters().items()
    }
    tokens = jnp.zeros((2, cfg.seq), jnp.int32)
    hlo = jax.jit(batched(p)).lower(params, tokens).compile().as_text()
    assert (" while(" in hlo) == bool(extra)


def test_quick_benchmark_writes_its_report(tmp_path: Path) -> None:
    bench = _bench()
    out = tmp_path / "results.md"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    for heading in (
        "## Train step",
        "## First call",
        "## Cost analysis",
        "## Learning parity",
        "## Depth sweep",
        "## DSL costs",
    ):
        assert heading in text
    for claim in ("**Step ratio**", "**First-call ratio**", "**Flops**", "**Parity**"):
        assert claim in text
    assert "topos (diagram, repeat)" in text and "equinox" in text and "flax nnx" in text


def test_hlo_opcode_counter() -> None:
    bench = _bench()
    result = doctest.testmod(bench)
    assert result.attempted > 0 and result.failed == 0
    text = jax.jit(lambda x: jnp.tanh(x @ x.T).sum()).lower(jnp.ones((3, 4))).compile().as_text()
    ops = bench.hlo_ops(text)
    assert ops["parameter"] >= 1 and sum(ops.values()) >= 3
    assert "dot" in ops or "fusion" in ops
