"""Parameters of Para morphisms: init honours each Init, apply checks and runs, batching."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _jaxref import affine, mlp, reference, to64
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.jax import apply, batched, compile, init, register
from backends.jax.core.params import init_array, path_key
from topos.arrows import Box, Id
from topos.objects import Product, R
from topos.para import (
    Global,
    Init,
    Para,
    constant,
    glorot_uniform,
    normal,
    ones,
    repeat,
    uniform,
    unroll,
    zeros,
)

KEY = jax.random.key(0)


def one_leaf(ob: R, init: Init, path: str = "w") -> Para:
    return Para(ob, Box("test.first", ob * R(1), ob), {path: init})


register("test.first", lambda box, v: v[0], cls="linear", replace=True)


# -- init ------------------------------------------------------------------------------


def test_deterministic_initialisers_are_exact() -> None:
    for init_, want in ((zeros, 0.0), (ones, 1.0), (constant(2.5), 2.5)):
        w = init(one_leaf(R(3, 4), init_), KEY)["w"]
        assert w.shape == (3, 4) and w.dtype == jnp.float32
        np.testing.assert_array_equal(w, np.full((3, 4), want, np.float32))


def test_random_initialisers_have_their_distribution() -> None:
    w = np.asarray(init(one_leaf(R(200, 100), normal(0.02)), KEY)["w"])
    assert abs(w.mean()) < 0.001 and abs(w.std() - 0.02) < 0.001
    u = np.asarray(init(one_leaf(R(200, 100), uniform(0.5)), KEY)["w"])
    assert -0.5 <= u.min() < -0.49 and 0.49 < u.max() <= 0.5
    g = np.asarray(init(one_leaf(R(200, 100), glorot_uniform), KEY)["w"])
    limit = math.sqrt(6 / 300)
    assert -limit <= g.min() < -0.98 * limit and 0.98 * limit < g.max() <= limit


def test_init_lists_the_paths_in_parameter_order() -> None:
    net = mlp(3, 4, 2)
    assert list(init(net, KEY)) == list(net.parameters()) == ["l0.w", "l0.b", "l1.w", "l1.b"]


def test_init_respects_the_dtype_of_the_leaf() -> None:
    w = init(one_leaf(R(2, dtype="bfloat16"), normal(1.0)), KEY)["w"]
    assert w.dtype == jnp.bfloat16


def test_each_path_draws_from_its_own_key() -> None:
    a = init(affine(3, 4).named("l1") >> affine(4, 2).named("l2"), KEY)
    b = init(affine(3, 4).named("l1") >> affine(4, 4).named("new") >> affine(4, 2).named("l2"), KEY)
    np.testing.assert_array_equal(a["l1.w"], b["l1.w"])  # adding a layer changes nothing else
    np.testing.assert_array_equal(a["l2.w"], b["l2.w"])
    assert not np.array_equal(a["l1.w"][:, :2], a["l2.w"][:3, :])
    assert not np.array_equal(
        init(affine(3, 4), KEY)["w"], init(affine(3, 4), jax.random.key(1))["w"]
    )
    assert path_key(KEY, "l1.w").shape == KEY.shape


def test_stacked_leaves_are_drawn_slice_by_slice() -> None:
    block = Para(
        R(60, 40), Box("test.first", R(60, 40) * R(60, 40), R(60, 40)), {"w": glorot_uniform}
    )
    deep = repeat(block, 3)
    w = np.asarray(init(deep, KEY)["w"])
    assert w.shape == (3, 60, 40)
    limit = math.sqrt(6 / 100)  # the fans of one slice, not of the stack
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.98 * limit
    assert not np.array_equal(w[0], w[1]) and not np.array_equal(w[1], w[2])


def test_init_refuses_an_int_seed_naming_the_key_to_pass() -> None:
    p = affine(3, 4)
    with pytest.raises(TypeError, match=r"^init: key must be a JAX random key, got int 0; pass"):
        init(p, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"key must be a JAX random key .* got ArrayImpl float32"):
        init(p, jnp.zeros(2))
    with pytest.raises(TypeError, match=r"key must be a JAX random key .* got PRNGKeyArray"):
        init(p, jax.random.split(KEY, 3))  # a batch of keys, not one
    legacy = init(p, jax.random.PRNGKey(0))  # a raw uint32[2] key still draws
    assert [np.asarray(v).tobytes() for v in legacy.values()] == [
        np.asarray(v).tobytes()
        for v in init(p, jax.random.wrap_key_data(jax.random.PRNGKey(0))).values()
    ]
    drawn = jax.vmap(lambda k: init(p, k)["w"])(jax.random.split(KEY, 2))  # traced keys too
    assert drawn.shape == (2, *init(p, KEY)["w"].shape)


def test_init_array_rejects_an_unknown_kind() -> None:
    class Fake:
        kind, args = "orthogonal", ()

    with pytest.raises(ValueError, match="unknown initialiser kind 'orthogonal'"):
        init_array(Fake(), (2,), jnp.float32, KEY)


# -- apply -----------------------------------------------------------------------------


def _apply_agrees_with_the_float64_reference(a: int, b: int, c: int, seed: int) -> None:
    net = mlp(a, b, c)
    params = init(net, jax.random.key(seed))
    x = np.random.default_rng(seed).normal(size=a).astype(np.float32)
    want = reference(net.arrow)((to64(net.unflatten(jax.device_get(params))), to64(x)))
    np.testing.assert_allclose(apply(net, params, x), want, rtol=1e-5, atol=1e-5)


MLPS = (st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**16))


@settings(max_examples=10)  # each new shape compiles: the profile's size is in the slow tier
@given(*MLPS)
def test_apply_agrees_with_the_float64_reference(a: int, b: int, c: int, seed: int) -> None:
    _apply_agrees_with_the_float64_reference(a, b, c, seed)


@given(*MLPS)
def test_apply_agrees_with_the_float64_reference_at_full_size(
    a: int, b: int, c: int, seed: int
) -> None:
    _apply_agrees_with_the_float64_reference(a, b, c, seed)


def test_apply_is_compile_of_the_arrow_on_the_parameter_value() -> None:
    net = mlp(3, 5, 2)
    params = init(net, KEY)
    x = jnp.arange(3.0)
    direct = compile(net.arrow)((net.unflatten(params), x))
    np.testing.assert_array_equal(apply(net, params, x), direct)


def test_params_errors_name_the_path() -> None:
    net = mlp(3, 5, 2)
    params = init(net, KEY)
    x = jnp.zeros(3)
    missing = {k: v for k, v in params.items() if k != "l1.b"}
    with pytest.raises(ValueError, match=r"params: missing 'l1.b' \(R\(2\)\)"):
        apply(net, missing, x)
    with pytest.raises(ValueError, match=r"unexpected 'l9.w'"):
        apply(net, {**params, "l9.w": jnp.zeros(1)}, x)
    with pytest.raises(
        ValueError,
        match=r"params\['l0.w'\]: expected shape \(3, 5\) for R\(3, 5\), got shape \(5, 3\)",
    ):
        apply(net, {**params, "l0.w": jnp.zeros((5, 3))}, x)
    with pytest.raises(TypeError, match=r"params\['l0.b'\]: expected a floating array"):
        apply(net, {**params, "l0.b": jnp.zeros(5, jnp.int32)}, x)
    with pytest.raises(TypeError, match=r"params: expected a dict path -> array, got list"):
        apply(net, [1, 2], x)
    with pytest.raises(
        ValueError, match=r"input: expected shape \(3,\) for R\(3\), got shape \(4,\)"
    ):
        apply(net, params, jnp.zeros(4))
    with pytest.raises(TypeError, match="expected a topos.para.Para"):
        init(Id(R(3)), KEY)


def test_several_inputs_stand_for_the_factors_of_the_domain() -> None:
    register("test.sum3", lambda box, v: v[0][0] + v[0][1] + v[1], cls="linear", replace=True)
    p = Para.lift(Box("test.sum3", R(2) * R(2) * R(2), R(2)))
    a, b, c = jnp.ones(2), 2 * jnp.ones(2), 3 * jnp.ones(2)
    np.testing.assert_array_equal(apply(p, {}, a, b, c), apply(p, {}, ((a, b), c)))
    with pytest.raises(TypeError, match="got 4 inputs"):
        apply(p, {}, a, b, c, c)


def test_inputs_may_follow_any_bracketing_of_the_domain() -> None:
    a, b, c, e = R(1), R(2), R(3), R(4)
    register("test.last", lambda box, v: v[1][1], cls="linear", replace=True)
    p = Para.lift(Box("test.last", (a * b) * (c * e), e))
    xa, xb, xc, xe = (jnp.full(ob.shape, float(i)) for i, ob in enumerate((a, b, c, e)))
    want = np.full(4, 3.0)
    for xs in [(((xa, xb), (xc, xe)),), ((xa, xb), (xc, xe)), (xa, xb, xc, xe),
               ((xa, xb), xc, xe), (xa, xb, (xc, xe))]:  # fmt: skip
        np.testing.assert_array_equal(apply(p, {}, *xs), want)
    with pytest.raises(ValueError, match=r"input\[0\]\[1\]: expected shape \(2,\)"):
        apply(p, {}, xa, xc, xb, xe)  # out of order: the left-nested reading's mismatch
    with pytest.raises(TypeError, match="got 5 inputs"):
        apply(p, {}, xa, xb, xc, xe, xe)


@given(st.integers(2, 6), st.data())
def test_apply_takes_the_leaves_of_any_product_tree(n: int, data: Any) -> None:
    """A random bracketing of n factors R(i+1): the leaves given apart, and any regrouping."""

    def tree(lo: int, hi: int) -> Any:  # the factors lo..hi-1, randomly bracketed
        if hi - lo == 1:
            return R(lo + 1)
        cut = data.draw(st.integers(lo + 1, hi - 1))
        return tree(lo, cut) * tree(cut, hi)

    dom = tree(0, n)
    register("test.discard", lambda box, v: jnp.zeros(1), cls="linear", replace=True)
    p = Para.lift(Box("test.discard", dom, R(1)))
    leaves = [jnp.ones(i + 1) for i in range(n)]
    np.testing.assert_array_equal(apply(p, {}, *leaves), jnp.zeros(1))
    it = iter(leaves)

    def value(x: Any) -> Any:  # the nested tuple of a subtree, consuming its leaves
        return (value(x.left), value(x.right)) if isinstance(x, Product) else next(it)

    nested = value(dom.left)
    rest = list(it)  # the left subtree as one tuple, the right one's leaves apart
    np.testing.assert_array_equal(apply(p, {}, nested, *rest), jnp.zeros(1))
    it = iter(rest)
    np.testing.assert_array_equal(apply(p, {}, (nested, value(dom.right))), jnp.zeros(1))


def test_batched_is_vmap_of_apply() -> None:
    net = mlp(3, 4, 2)
    params = init(net, KEY)
    xs = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    ys = jax.jit(batched(net))(params, xs)
    for x, y in zip(xs, ys, strict=True):
        np.testing.assert_allclose(y, apply(net, params, x), rtol=1e-6)
    with pytest.raises(ValueError, match=r"one example of the batch.*expected shape \(3,\)"):
        batched(net)(params, np.zeros((7, 4), np.float32))


# -- reparametrisations, frozen parameters, other actegories ---------------------------------


def test_a_frozen_parameter_reads_its_value_and_gets_no_gradient() -> None:
    net = mlp(3, 4, 2)
    params = init(net, KEY)
    frozen = net.freeze("l0")
    assert set(init(frozen, KEY)) == set(params)  # frozen leaves are drawn, same values
    np.testing.assert_array_equal(init(frozen, KEY)["l0.w"], params["l0.w"])
    x = jnp.arange(3.0)
    np.testing.assert_array_equal(apply(frozen, params, x), apply(net, params, x))
    grads = jax.grad(lambda p: apply(frozen, p, x).sum())(params)
    assert not np.asarray(grads["l0.w"]).any() and np.asarray(grads["l1.w"]).any()
    with pytest.raises(ValueError, match=r"missing 'l0.w'"):
        apply(frozen, {k: v for k, v in params.items() if k != "l0.w"}, x)


def test_a_parameter_frozen_with_a_value_needs_no_entry() -> None:
    p = one_leaf(R(2), normal(1.0))
    q = p.freeze("w", value=(1.5, -2.0))
    assert init(q, KEY) == {}
    np.testing.assert_array_equal(apply(q, {}, jnp.zeros(1)), np.array([1.5, -2.0], np.float32))


def test_tied_parameters_read_one_array() -> None:
    enc, dec = affine(3, 3).named("enc"), affine(3, 3).named("dec")
    tied = (enc >> dec).tie("enc.w", "dec.w")
    params = init(tied, KEY)
    assert "dec.w" not in params
    x = jnp.arange(3.0)
    untied = {**params, "dec.w": params["enc.w"]}
    np.testing.assert_allclose(apply(tied, params, x), apply(enc >> dec, untied, x), rtol=1e-6)


def test_a_para_over_a_global_input_takes_the_pair() -> None:
    register("test.propagate", lambda box, v: v[0] @ v[1], cls="polynomial", replace=True)
    E, X, W = R(4, 4), R(4, 3), R(3, 3)
    G = Global(E)
    layer = Para(
        W,
        G.then(G.act_on(W, Box("test.propagate", E * X, X)), G.embed(Box("test.mm", W * X, X))),
        params={"w": glorot_uniform},
        actegory=G,
    )
    register("test.mm", lambda box, v: v[1] @ v[0], cls="polynomial", replace=True)
    net = layer.named("l1") >> layer.named("l2")
    params = init(net, KEY)
    rng = np.random.default_rng(0)
    e, x = rng.normal(size=(4, 4)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    want = e @ (e @ x @ params["l1.w"]) @ params["l2.w"]
    np.testing.assert_allclose(apply(net, params, e, x), want, rtol=1e-4, atol=1e-5)


# -- repeat ----------------------------------------------------------------------------


def _block() -> Para:
    register("test.tanh", lambda box, x: jnp.tanh(x), cls="smooth", replace=True)
    return affine(4, 4) >> Box("test.tanh", R(4), R(4))


def _unstack(params: dict[str, Any], n: int) -> dict[str, Any]:
    return {f"{i}.{k}": v[i] for k, v in params.items() for i in range(n)}


@pytest.mark.parametrize("n", [1, 3])
def test_repeat_agrees_with_the_unrolled_composite(n: int) -> None:
    deep = repeat(_block(), n)
    params = init(deep, KEY)
    x = jnp.linspace(-1, 1, 4)
    flat = unroll(deep)
    np.testing.assert_allclose(
        apply(deep, params, x), apply(flat, _unstack(params, n), x), rtol=1e-6, atol=1e-6
    )
    grads = jax.grad(lambda p: apply(deep, p, x).sum())(params)
    flat_grads = jax.grad(lambda p: apply(flat, p, x).sum())(_unstack(params, n))
    for k, g in grads.items():
        np.testing.assert_allclose(
            g, np.stack([flat_grads[f"{i}.{k}"] for i in range(n)]), rtol=1e-5, atol=1e-6
        )


def test_repeat_compiles_to_a_loop_with_the_body_once() -> None:
    deep = repeat(_block(), 6)
    params = init(deep, KEY)
    lowered = jax.jit(lambda p, x: apply(deep, p, x)).lower(params, jnp.zeros(4))
    jaxpr = jax.make_jaxpr(lambda p, x: apply(deep, p, x))(params, jnp.zeros(4))
    assert [e.primitive.name for e in jaxpr.jaxpr.eqns].count("scan") == 1
    hlo = lowered.compile().as_text()
    assert " while(" in hlo
    assert hlo.count("tanh(") == 1  # the body appears once, not six times


def test_repeat_nests() -> None:
    deep = repeat(repeat(_block(), 2), 3)
    params = init(deep, KEY)
    assert params["w"].shape == (3, 2, 4, 4)
    x = jnp.linspace(-1, 1, 4)
    want = x
    for i in range(3):
        for j in range(2):
            want = jnp.tanh(want @ params["w"][i, j] + params["b"][i, j])
    np.testing.assert_allclose(apply(deep, params, x), want, rtol=1e-5, atol=1e-6)


def test_a_parameter_array_of_another_dtype_is_refused_naming_the_path_and_both() -> None:
    # Issue 22, item 5: under JAX_ENABLE_X64 float64 arrays for parameters declared
    # float32 were accepted (only the kind was checked), and the model computed in mixed
    # precision. The dtype is part of the type; a float64 model is with_dtype(p, "float64").
    from topos import with_dtype

    net = mlp(3, 5, 2)
    params = {k: np.asarray(v, np.float64) for k, v in init(net, KEY).items()}
    x = np.zeros(3, np.float32)
    assert apply(net, params, x).dtype == jnp.float32  # float64 off: JAX holds float32
    with jax.enable_x64(True):
        with pytest.raises(
            TypeError,
            match=r"params\['l0.w'\]: R\(3, 5\) is declared float32, got float64 array of shape"
            r" \(3, 5\); .*topos.with_dtype\(p, 'float64'\)",
        ):
            apply(net, params, x)
        net64 = with_dtype(net, "float64")
        assert apply(net64, params, x.astype(np.float64)).dtype == jnp.float64
    with pytest.raises(TypeError, match=r"\(float32 in JAX\); .*float64 is off in JAX"):
        apply(net64, params, x)
    half = {k: jnp.asarray(v, jnp.bfloat16) for k, v in params.items()}
    with pytest.raises(TypeError, match=r"declared float32, got bfloat16 array"):
        apply(net, half, x)
