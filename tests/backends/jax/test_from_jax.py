"""from_jax: any JAX function or module read from its jaxpr into a diagram.

Round trips (the zoo compiled and re-imported, an Equinox transformer, a Flax NNX
MLP) compute what the original computes; the imported diagrams train, and
``analyze``, ``regions``/``explain`` and ``optimize`` read them as they read the
native ones. Unknown primitives stay opaque and say so; what cannot be imported
is refused naming the primitive.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _benchmarks import load
from flax import nnx

from backends.jax import (
    FromJaxError,
    apply,
    compile,
    fit,
    from_jax,
    imported_params,
    init,
)
from backends.jax.interop.from_jax import boxes
from backends.jax.logic import PLNet, explain, regions
from topos import Fin, R, Repeat
from topos.analysis import analyze
from topos.nn import mlp
from topos.nn.zoo import ARCHITECTURES
from topos.para import Para

SLOW_ZOO = ["cnn (relu)", "rnn (tanh)", "swiglu mlp", "transformer"]
ZOO = [
    "mlp (relu)",
    "linear attention",
    *(pytest.param(name, marks=pytest.mark.slow) for name in SLOW_ZOO),
]


def _zoo_input(p: Para) -> jax.Array:
    dom = p.dom
    if isinstance(dom, Fin):
        return jax.random.randint(jax.random.key(1), dom.shape, 0, dom.n)
    return jax.random.normal(jax.random.key(1), dom.shape)


@pytest.mark.parametrize("name", ZOO)
def test_zoo_round_trip_is_bit_exact(name: str) -> None:
    p = ARCHITECTURES[name](True)
    params = init(p, jax.random.key(0))
    x = _zoo_input(p)

    def native(params, x):
        return apply(p, params, x, check_ids=False)

    labels = [p.dom.n] if isinstance(p.dom, Fin) else None
    q = from_jax(native, x, params=params, labels=labels)
    assert isinstance(q, Para) and q.dom == p.dom and q.cod == p.cod
    assert set(q.parameters()) == set(p.parameters())
    want = jax.jit(native)(params, x)
    got = jax.jit(lambda params, x: apply(q, params, x, check_ids=False))(params, x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert analyze(q).lives_in == analyze(p).lives_in
    assert analyze(q).order == analyze(p).order


def test_a_scan_over_stacked_layers_becomes_a_repeat() -> None:
    def stack(ws, x):
        return jax.lax.scan(lambda h, w: (jnp.tanh(h @ w), None), x, ws)[0]

    ws, x = jax.random.normal(jax.random.key(0), (3, 4, 4)), jnp.ones(4)
    f = from_jax(stack, ws, x)
    assert any(isinstance(g, Repeat) for g in _nodes(f))
    np.testing.assert_array_equal(np.asarray(compile(f)((ws, x))), np.asarray(stack(ws, x)))


def _nodes(f):
    stack, out = [f], []
    while stack:
        g = stack.pop()
        out.append(g)
        stack.extend(g.children)
    return out


def test_plain_functions_with_several_inputs_and_outputs() -> None:
    def f(x, y):
        z = jnp.concatenate([x, y], axis=0)
        return jax.nn.softmax(z), jnp.sort(z)[::-1], (z > 0).sum()

    x, y = jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0, -1.0])
    arrow = from_jax(f, x, y)
    assert arrow.dom == R(2) * R(3)
    assert arrow.cod == (R(5) * R(5)) * Fin(2**31)
    (a, b), c = jax.jit(compile(arrow))((x, y))
    want = f(x, y)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(want[0]))
    np.testing.assert_array_equal(np.asarray(b), np.asarray(want[1]))
    assert int(c) == int(want[2])


def test_unknown_primitives_are_opaque_and_say_so() -> None:
    f = from_jax(lambda x: jnp.cumprod(jnp.exp(x)), jnp.ones(3))
    (op,) = [b for b in boxes(f) if b.name == "foreign"]
    assert op.attrs["op"] == "cumprod" and op.attrs["cls"] == "unknown"
    report = analyze(f)
    assert report.cls == "smooth"
    assert any("unknown box foreign cumprod" in w.reason for w in report.witnesses)
    x = jnp.array([0.1, 0.2, 0.3])
    np.testing.assert_array_equal(np.asarray(compile(f)(x)), np.asarray(jnp.cumprod(jnp.exp(x))))


def test_integer_inputs_take_their_number_of_labels() -> None:
    table = jnp.arange(12.0).reshape(4, 3)
    f = from_jax(lambda ids: table[ids], jnp.array([0, 3]), labels=[4])
    assert f.dom == Fin(4, 2)
    ids = jnp.array([3, 1])
    np.testing.assert_array_equal(np.asarray(compile(f)(ids)), np.asarray(table[ids]))
    with pytest.raises(ValueError, match=r"must be in 0..3, got 7"):
        compile(f)(jnp.array([7, 1]))
    with pytest.raises(FromJaxError, match="only an integer input takes a number of labels"):
        from_jax(lambda x: x, jnp.ones(2), labels=[4])


def test_effects_and_dtypes_without_objects_are_refused_by_name() -> None:
    def printing(x):
        jax.debug.print("{}", x)
        return x

    with pytest.raises(FromJaxError, match="'debug_print' has side effects"):
        from_jax(printing, jnp.ones(2))
    with pytest.raises(FromJaxError, match="dtype complex64 have no object"):
        from_jax(lambda x: jnp.fft.fft(x).real, jnp.ones(4))


# -- an Equinox transformer -------------------------------------------------------------


# the Equinox attention and block an Equinox user writes: benchmarks/from_jax.py's
_EQX = load("from_jax")
Attention, Block = _EQX.Attention, _EQX.Block


class Transformer(eqx.Module):
    blocks: list[Block]

    def __init__(self, d: int, heads: int, layers: int, key: jax.Array) -> None:
        self.blocks = [Block(d, heads, k, ratio=2) for k in jax.random.split(key, layers)]

    def __call__(self, x: jax.Array) -> jax.Array:
        for block in self.blocks:
            x = block(x)
        return x


def _eqx_transformer() -> tuple[Transformer, jax.Array]:
    model = Transformer(8, 2, 2, jax.random.key(0))
    return model, jax.random.normal(jax.random.key(1), (4, 8))


@pytest.mark.slow
def test_equinox_transformer_round_trip_and_parameters() -> None:
    model, x = _eqx_transformer()
    p = from_jax(model, x)
    params = imported_params(model)
    assert "blocks.0.attn.wq" in params and "blocks.1.up.weight" in params
    assert set(p.parameters()) == set(params)
    got = jax.jit(lambda params, x: apply(p, params, x))(params, x)
    np.testing.assert_allclose(
        np.asarray(got), np.asarray(eqx.filter_jit(model)(x)), rtol=0, atol=1e-6
    )


def test_equinox_transformer_analysis_matches_the_native_transformer() -> None:
    from topos.nn import transformer_block

    model, x = _eqx_transformer()
    imported = analyze(from_jax(model, x, sources=True))
    native = analyze(transformer_block(4, 8, 2))
    assert (
        (imported.order, imported.cls, imported.lives_in)
        == (
            native.order,
            native.cls,
            native.lives_in,
        )
        == ("higher", "smooth", "topos completion")
    )
    (order,) = [w for w in imported.witnesses if w.kind == "order"]
    assert "Attention.__call__" in order.where  # located in the attention, as the native one
    assert "attn" in next(w for w in native.witnesses if w.kind == "order").where


@pytest.mark.slow
def test_an_imported_model_trains_one_step_like_the_original() -> None:
    model, x = _eqx_transformer()
    p = from_jax(model, x)
    params = imported_params(model)
    target = jnp.zeros_like(x)

    def loss(params, batch):
        return jnp.mean((apply(p, params, batch) - target) ** 2)

    result = fit(loss, params, lambda step: x, optimizer=optax.sgd(0.1), steps=1, progress=False)
    tree, static = eqx.partition(model, eqx.is_inexact_array)
    grads = jax.grad(lambda t: jnp.mean((eqx.combine(t, static)(x) - target) ** 2))(tree)
    want = imported_params(eqx.combine(jax.tree.map(lambda a, g: a - 0.1 * g, tree, grads), static))
    for path, value in want.items():
        np.testing.assert_allclose(result.params[path], value, rtol=1e-5, atol=1e-6)


# -- a Flax NNX ReLU MLP ------------------------------------------------------------------


class NnxMLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs) -> None:
        self.fc1 = nnx.Linear(2, 6, rngs=rngs)
        self.fc2 = nnx.Linear(6, 3, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fc2(jax.nn.relu(self.fc1(x)))


def _nnx_and_native() -> tuple[Para, dict, Para, dict]:
    model = NnxMLP(nnx.Rngs(0))
    p = from_jax(model, jnp.ones(2))
    params = imported_params(model)
    native = mlp([2, 6, 3])
    names = {"fc1.kernel": "w", "fc1.bias": "b", "fc2.kernel": "w", "fc2.bias": "b"}
    native_params = {f"mlp.{k.split('.')[0]}.{names[k]}": v for k, v in params.items()}
    return p, params, native, native_params


def test_nnx_mlp_round_trip() -> None:
    model = NnxMLP(nnx.Rngs(0))
    p = from_jax(model, jnp.ones(2))
    assert sorted(p.parameters()) == ["fc1.bias", "fc1.kernel", "fc2.bias", "fc2.kernel"]
    xs = jax.random.normal(jax.random.key(2), (16, 2))
    got = jax.vmap(lambda x: apply(p, imported_params(model), x))(xs)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(jax.vmap(model)(xs)))


def test_nnx_relu_mlp_regions_and_explanations_equal_the_native_mlp() -> None:
    p, params, native, native_params = _nnx_and_native()
    assert analyze(p).lives_in == "PL pretopos"
    mine, theirs = PLNet(p, params), PLNet(native, native_params)
    found, want = regions(mine, [-2, 2]), regions(theirs, [-2, 2])
    assert found.exact and want.exact and len(found) == len(want) > 1
    for x in ([0.3, -0.2], [-1.1, 0.7]):
        e, f = explain(mine, x, box=[-2, 2]), explain(theirs, x, box=[-2, 2])
        assert e.decision == f.decision
        np.testing.assert_allclose(e.local.J, f.local.J, rtol=1e-12, atol=1e-12)
        assert (e.counterfactual is None) == (f.counterfactual is None)
        if e.counterfactual is not None and f.counterfactual is not None:
            assert e.counterfactual.decision == f.counterfactual.decision
            assert abs(e.counterfactual.distance - f.counterfactual.distance) < 1e-9


# -- optimize on an imported linear attention -------------------------------------------


@pytest.mark.parametrize("how", ["einsum", "matmul"])
def test_imported_linear_attention_is_reassociated_as_the_native_one(how: str) -> None:
    from topos.rewrite import optimize
    from topos.rewrite.examples import linear_attention

    def einsums(q, k, v):
        return jnp.einsum("st,td->sd", jnp.einsum("sd,td->st", q, k), v)

    def matmuls(q, k, v):
        return (q @ k.T) @ v

    q = jnp.ones((256, 8))
    imported = optimize(from_jax(einsums if how == "einsum" else matmuls, q, q, q))
    native = optimize(linear_attention(256, 8))
    assert [str(s.after) for s in imported.certificate.steps] == [
        str(s.after) for s in native.certificate.steps
    ]
    assert imported.certificate.cost_after == native.certificate.cost_after
    assert imported.certificate.cost_before == native.certificate.cost_before


def test_imported_max_records_its_branch_and_other_case_splits_are_refused() -> None:
    from backends.jax.logic import local_map
    from backends.jax.logic.pl import NotPiecewiseLinear

    w1, w2 = jax.random.normal(jax.random.key(0), (2, 2, 3))

    def maxout(x):
        return jnp.maximum(x @ w1, x @ w2).sum(keepdims=True)

    f = from_jax(maxout, jnp.ones(2))
    assert any(b.attrs.get("op") == "max" for b in boxes(f))
    net = PLNet(f, {})
    x = np.array([0.3, -0.7])
    jac = jax.jacfwd(lambda v: maxout(v.astype(jnp.float32)))(jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(local_map(net, x).J, np.asarray(jac), rtol=1e-6, atol=1e-6)
    masked = from_jax(lambda x: jnp.where(x > 0, x, 0.0).sum(keepdims=True), jnp.ones(2))
    with pytest.raises(NotPiecewiseLinear, match="the imported primitive '(gt|select_n)'"):
        PLNet(masked, {})
