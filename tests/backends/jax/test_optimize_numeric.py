"""compile(f, optimize=True) computes what f computes (float32 tolerance, random inputs)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.jax import apply, compile, init, optimized
from topos import Id, R, fst, pair, snd
from topos.arrows import Arrow
from topos.nn import primitives as P
from topos.nn.transformer import transformer
from topos.para import Para
from topos.rewrite import RUN_MIN_GAIN, check, optimize
from topos.rewrite.examples import chain, linear_attention, multihead_linear_attention


def sample(ob: Any, key: jax.Array) -> Any:
    if hasattr(ob, "left"):
        k1, k2 = jax.random.split(key)
        return (sample(ob.left, k1), sample(ob.right, k2))
    return jax.random.normal(key, ob.shape)


def agree(f: Arrow, seed: int = 0, *, every_saving: bool = False) -> None:
    """The optimised ``f`` computes what ``f`` does: as ``compile(f, optimize=True)``
    runs it, or (``every_saving``) rewritten for any saving, small ones included."""
    x = sample(f.dom, jax.random.key(seed))
    fast = compile(optimize(f).arrow) if every_saving else compile(f, optimize=True)
    assert fast.arrow is not f
    np.testing.assert_allclose(jax.jit(fast)(x), jax.jit(compile(f))(x), rtol=2e-4, atol=2e-4)


def test_linear_attention_agrees_after_reassociation() -> None:
    agree(linear_attention(64, 8))


def test_multihead_linear_attention_agrees_after_reassociation() -> None:
    agree(multihead_linear_attention(32, 4, heads=3, batch=2))


def test_scores_scaled_and_shifted_agree() -> None:
    x = R(16, 4)
    scores = pair(fst(x, x), snd(x, x)) >> P.einsum("sd,td->st", x, x)
    f = scores >> P.scale(R(16, 16), 0.5) >> P.scale(R(16, 16), 0.25)
    agree(f, every_saving=True)  # merging the scales saves ~10%: below RUN_MIN_GAIN


@settings(max_examples=5)
@given(st.lists(st.integers(1, 12), min_size=3, max_size=5), st.integers(0, 2**16))
def test_random_chains_agree(shapes: list[int], seed: int) -> None:
    f = chain(shapes)
    out = optimize(f)
    assert check(out.certificate, f, out.arrow)
    x = sample(f.dom, jax.random.key(seed))
    np.testing.assert_allclose(
        jax.jit(compile(out.arrow))(x),
        jax.jit(compile(f))(x),
        rtol=2e-4,
        atol=2e-4 * max(shapes) ** 2,
    )


def test_the_stock_transformer_computes_the_same_after_optimize() -> None:
    lm = transformer(vocab=17, seq=8, d=16, heads=2, layers=2)
    out = optimize(lm.arrow)
    assert check(out.certificate, lm.arrow, out.arrow)
    if out.arrow is lm.arrow:  # nothing cheaper today: the very same program runs
        return
    q = Para._make(lm.P, out.arrow, lm.dom, lm.actegory, lm._own, lm._consts, lm._parts)
    params = init(lm, jax.random.key(0))
    tokens = jax.random.randint(jax.random.key(1), (8,), 0, 17)
    run_q = jax.jit(lambda pr, t: apply(q, pr, t))
    run_lm = jax.jit(lambda pr, t: apply(lm, pr, t))
    np.testing.assert_allclose(run_q(params, tokens), run_lm(params, tokens), rtol=1e-5)


def test_every_zoo_model_computes_the_same_after_optimize() -> None:
    from backends.jax.core.params import cartesian
    from topos.nn.zoo import ARCHITECTURES

    key = jax.random.key(0)
    rewritten = []
    for name, build in ARCHITECTURES.items():
        p = build(True)
        out = optimize(p.arrow)
        assert check(out.certificate, p.arrow, out.arrow), name
        if out.arrow is p.arrow:
            continue
        rewritten.append(name)
        q = Para._make(p.P, out.arrow, p.dom, p.actegory, p._own, p._consts, p._parts)
        params = init(p, key)
        x = _example(cartesian(p).dom, key)
        np.testing.assert_allclose(apply(q, params, x), apply(p, params, x), rtol=1e-4, atol=1e-5)
    assert "gcn (relu)" in rewritten  # A (X W) reassociated to (A X) W


def _example(ob: Any, key: jax.Array) -> Any:
    from topos.objects import Fin

    if isinstance(ob, Fin):
        return jax.random.randint(key, ob.shape, 0, ob.n)
    if hasattr(ob, "left"):
        k1, k2 = jax.random.split(key)
        return (_example(ob.left, k1), _example(ob.right, k2))
    return jax.random.normal(key, ob.shape)


DIMS = (2, 3, 5)
POOL = [R(r, c) for r in DIMS for c in DIMS]  # one input matrix per shape


def _pool_dom() -> Any:
    dom = POOL[0]
    for ob in POOL[1:]:
        dom = dom * ob
    return dom


def _input(i: int) -> Arrow:
    """The projection of the pool's product onto its ``i``-th matrix."""
    dom, out = _pool_dom(), []
    for _ in range(len(POOL) - 1, i, -1):
        out.append(fst(dom.left, dom.right))
        dom = dom.left
    out.append(snd(dom.left, dom.right) if i > 0 else Id(dom))
    acc = out[0]
    for g in out[1:]:
        acc = acc >> g
    return acc


@st.composite
def expressions(draw: Any, r: int, c: int, depth: int = 3) -> Arrow:
    """A random tensor expression ``pool -> R(r, c)``: products, transposes, sums, scales."""
    kind = draw(st.sampled_from(["in"] if depth == 0 else ["in", "mm", "mm", "tr", "add", "scale"]))
    if kind == "in":
        return _input(POOL.index(R(r, c)))
    if kind == "mm":
        k = draw(st.sampled_from(DIMS))
        a, b = draw(expressions(r, k, depth - 1)), draw(expressions(k, c, depth - 1))
        return pair(a, b) >> P.matmul(R(r, k), R(k, c))
    if kind == "tr":
        return draw(expressions(c, r, depth - 1)) >> P.transpose(R(c, r), (1, 0))
    if kind == "add":
        a, b = draw(expressions(r, c, depth - 1)), draw(expressions(r, c, depth - 1))
        return pair(a, b) >> P.add(R(r, c), R(r, c))
    x = draw(st.sampled_from([0.5, 2.0, -1.5]))
    return draw(expressions(r, c, depth - 1)) >> P.scale(R(r, c), x)


@settings(max_examples=15)
@given(expressions(2, 3), st.integers(0, 2**16))
def test_random_tensor_expressions_are_certified_and_agree(f: Arrow, seed: int) -> None:
    out = optimize(f)
    assert out.certificate.cost_after <= out.certificate.cost_before
    assert check(out.certificate, f, out.arrow)
    x = sample(f.dom, jax.random.key(seed))
    np.testing.assert_allclose(
        jax.jit(compile(out.arrow))(x), jax.jit(compile(f))(x), rtol=1e-3, atol=1e-3
    )


def test_programs_that_run_take_only_rewrites_at_least_twice_as_cheap() -> None:
    from topos.nn.zoo import ARCHITECTURES

    gcn = ARCHITECTURES["gcn (relu)"](True)
    out = optimize(gcn.arrow)  # any saving: (A H) W -> A (H W), 950 -> 650 flops
    assert out.arrow is not gcn.arrow and out.certificate.cost_after == 650
    kept = optimize(gcn.arrow, min_gain=RUN_MIN_GAIN)
    assert kept.arrow is gcn.arrow
    assert kept.certificate.note == "1 region(s) cheaper by less than min_gain 2: kept"
    assert optimized(gcn) is gcn  # what fit(..., optimize=True) trains: ran 1.5x slower batched
    assert compile(gcn.arrow, optimize=True).arrow is gcn.arrow
    attn = linear_attention(64, 8)  # 63x cheaper: taken
    assert compile(attn, optimize=True).arrow is not attn
    for bad in (0.5, float("nan"), float("inf"), True, "2"):
        with pytest.raises(ValueError, match="min_gain must be a finite number >= 1"):
            optimize(attn, min_gain=bad)  # type: ignore[arg-type]


# -- never silently wrong (issue 22, item 1) ------------------------------------------------


def test_a_reduction_over_a_negative_axis_keeps_its_values() -> None:
    from topos import Box

    x = R(3, 3)
    h = P.matmul(x, x) >> Box("reduce_sum", x, R(1, 3), axis=-2, keepdims=True)
    a = np.arange(9.0, dtype=np.float32).reshape(3, 3) + 1
    e = np.eye(3, dtype=np.float32)
    out = optimize(h)
    assert out.arrow.cod == R(1, 3) and check(out.certificate, h, out.arrow)
    np.testing.assert_array_equal(compile(h)((a, e)), [[12.0, 15.0, 18.0]])
    np.testing.assert_array_equal(compile(out.arrow)((a, e)), [[12.0, 15.0, 18.0]])


def test_signed_zero_constants_keep_their_sign_through_optimize() -> None:
    from topos.arrows import Const

    plus, minus, one = Const(R(), 0.0), Const(R(), -0.0), Const(R(), 1.0)
    twice = P.scale(R(), 2.0) >> P.scale(R(), 3.0)
    div = P.div(R(), R())
    f = pair(pair(one, plus >> twice) >> div, pair(one, minus >> twice) >> div)
    out = optimize(f)
    assert out.arrow is not f and check(out.certificate, f, out.arrow)
    assert [float(v) for v in compile(out.arrow)(())] == [np.inf, -np.inf]  # was inf, inf


def test_scaling_by_inf_keeps_its_nan_pattern() -> None:
    a, b = R(16, 64), R(64, 8)
    f = (P.scale(a, float("inf")) * Id(b)) >> P.matmul(a, b)
    x = sample(f.dom, jax.random.key(0))
    out = optimize(f)
    assert check(out.certificate, f, out.arrow)
    before, after = np.asarray(compile(f)(x)), np.asarray(compile(out.arrow)(x))
    np.testing.assert_array_equal(np.isnan(after), np.isnan(before))
    np.testing.assert_array_equal(after, before)


def test_merged_scales_that_underflow_in_float32_are_not_merged() -> None:
    a = R(2, 2)
    f = P.scale(a, 1e-30) >> P.scale(a, 1e-30)
    x = jnp.full((2, 2), 1e30, jnp.float32)
    out = optimize(f)
    np.testing.assert_allclose(compile(out.arrow)(x), compile(f)(x))
    assert float(compile(f)(x)[0, 0]) == pytest.approx(1e-30, rel=1e-5)
