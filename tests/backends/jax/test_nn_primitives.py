"""topos.nn compiled with backends.jax, against float64 NumPy references written by hand."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.jax import apply as apply_
from backends.jax import batched, compile, init
from backends.jax.core.compile import UNROLL_MAX
from backends.jax.core.primitives import IMPLEMENTATIONS
from topos import Fin, R, copy, nn
from topos.nn import primitives as P

RNG = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def close(got: Any, want: Any, tol: float = 2e-5) -> None:
    got64, want64 = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got64.shape == want64.shape, (got64.shape, want64.shape)
    scale = max(1.0, float(np.abs(want64).max(initial=0.0)))
    np.testing.assert_allclose(got64, want64, rtol=0, atol=tol * scale)


def f64(params: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float64) for k, v in params.items()}


def randomised(p: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Parameters of ``p`` with every leaf random (zeros/ones inits would hide mistakes)."""
    rng = np.random.default_rng(seed)
    return {
        k: (0.5 * rng.standard_normal(v.ob.shape)).astype(np.float32)
        for k, v in p.parameters().items()
    }


def apply(p: Any, params: Any, x: Any) -> Any:
    """``backends.jax.apply`` under one ``jax.jit`` (one compilation instead of one per op)."""
    return jax.jit(lambda ps, v: apply_(p, ps, v))(params, x)


# -- NumPy references --------------------------------------------------------------------


def np_gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def np_linear(p: dict[str, np.ndarray], name: str, x: np.ndarray) -> np.ndarray:
    out = x @ p[f"{name}.w"]
    return out + p[f"{name}.b"] if f"{name}.b" in p else out


def np_layer_norm(p: dict[str, np.ndarray], name: str, x: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * p[f"{name}.scale"] + p[f"{name}.bias"]


def np_attention(
    p: dict[str, np.ndarray], name: str, x: np.ndarray, heads: int, causal: bool, soft: bool = True
) -> np.ndarray:
    s, d = x.shape
    dh = d // heads
    q, k, v = (np_linear(p, f"{name}.{w}", x).reshape(s, heads, dh) for w in "qkv")
    out = np.zeros((s, heads, dh))
    for h in range(heads):
        scores = q[:, h] @ k[:, h].T / math.sqrt(dh)
        if causal:
            scores = np.where(np.tril(np.ones((s, s), bool)), scores, -1e9 if soft else 0.0)
        out[:, h] = (np_softmax(scores) if soft else scores) @ v[:, h]
    return np_linear(p, f"{name}.o", out.reshape(s, d))


def np_conv(x: np.ndarray, w: np.ndarray, padding: str) -> np.ndarray:
    """Cross-correlation, stride 1, channels last, 1-D or 2-D, by explicit loops."""
    nd = x.ndim - 1
    window = w.shape[:nd]
    if padding == "SAME":
        pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in window]
        x = np.pad(x, [*pads, (0, 0)])
    out_shape = tuple(n - k + 1 for n, k in zip(x.shape[:nd], window, strict=True))
    out = np.zeros((*out_shape, w.shape[-1]))
    for pos in np.ndindex(*out_shape):
        patch = x[tuple(slice(i, i + k) for i, k in zip(pos, window, strict=True))]
        out[pos] = np.tensordot(patch, w, axes=nd + 1)
    return out


# -- primitives ----------------------------------------------------------------------------

X = R(3, 4)
PRIMITIVE_CASES: list[tuple[Any, Callable[..., Any], tuple[tuple[int, ...], ...]]] = [
    (P.einsum("ij,jk->ik", X, R(4, 2)), lambda a, b: a @ b, ((3, 4), (4, 2))),
    (P.einsum("hsd,htd->hst", R(2, 3, 4), R(2, 3, 4)), lambda a, b: a @ b.transpose(0, 2, 1),
     ((2, 3, 4), (2, 3, 4))),
    (P.mul(X, R(4)), lambda a, b: a * b, ((3, 4), (4,))),
    (P.add(X, R(3, 1)), lambda a, b: a + b, ((3, 4), (3, 1))),
    (P.sub(X, X), lambda a, b: a - b, ((3, 4), (3, 4))),
    (P.div(X, R(3, 1)), lambda a, b: a / b, ((3, 4), (3, 1))),
    (P.scale(X, -0.5), lambda a: -0.5 * a, ((3, 4),)),
    (P.reshape(X, 2, 6), lambda a: a.reshape(2, 6), ((3, 4),)),
    (P.transpose(R(2, 3, 4), (2, 0, 1)), lambda a: a.transpose(2, 0, 1), ((2, 3, 4),)),
    (P.broadcast(R(1, 4), 2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), ((1, 4),)),
    (P.concat(X, R(3, 2)), lambda a, b: np.concatenate([a, b], -1), ((3, 4), (3, 2))),
    (P.take(X, 2, 0), lambda a: a[2], ((3, 4),)),
    (P.reduce_sum(X, 0), lambda a: a.sum(0), ((3, 4),)),
    (P.reduce_mean(X, -1, keepdims=True), lambda a: a.mean(-1, keepdims=True), ((3, 4),)),
    (P.reduce_max(X, 1), lambda a: a.max(1), ((3, 4),)),
    (P.causal_mask(R(2, 3, 3), fill=-7.0),
     lambda a: np.where(np.tril(np.ones((3, 3), bool)), a, -7.0), ((2, 3, 3),)),
    (P.relu(X), lambda a: np.maximum(a, 0), ((3, 4),)),
    (P.gelu(X), np_gelu, ((3, 4),)),
    (P.tanh(X), np.tanh, ((3, 4),)),
    (P.exp(X), np.exp, ((3, 4),)),
    (P.softmax(R(2, 3, 4), 1), lambda a: np_softmax(a, 1), ((2, 3, 4),)),
    (P.conv(R(6, 2), R(3, 2, 4)), lambda a, b: np_conv(a, b, "SAME"), ((6, 2), (3, 2, 4))),
    (P.conv(R(5, 6, 2), R(2, 3, 2, 3), padding="VALID"), lambda a, b: np_conv(a, b, "VALID"),
     ((5, 6, 2), (2, 3, 2, 3))),
    (P.max_pool(R(4, 6, 2), (2, 3)),
     lambda a: a.reshape(2, 2, 2, 3, 2).max((1, 3)), ((4, 6, 2),)),
]  # fmt: skip


@pytest.mark.parametrize(("box", "ref", "shapes"), PRIMITIVE_CASES, ids=lambda c: str(c)[:20])
def test_each_primitive_agrees_with_numpy(box: Any, ref: Any, shapes: Any) -> None:
    args = [rand(*s) for s in shapes]
    x = args[0] if len(args) == 1 else tuple(args)
    close(jax.jit(compile(box))(x), ref(*(a.astype(np.float64) for a in args)))


def test_rsqrt_full_gather_and_one_hot() -> None:
    x = np.abs(rand(5)) + 0.1
    close(compile(P.rsqrt(R(5)))(x), 1 / np.sqrt(x.astype(np.float64)))
    np.testing.assert_array_equal(compile(P.full(R(2, 2), 3.5))(()), np.full((2, 2), 3.5))
    table, ix = rand(7, 3), np.array([6, 0, 2, 2], np.int32)
    close(compile(P.gather(R(7, 3), Fin(7, 4)))((table, ix)), table[ix])
    np.testing.assert_array_equal(compile(P.one_hot(Fin(7, 4)))(ix), np.eye(7)[ix])


def np_erf(a: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(a)


def np_linear_scan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out, h = np.zeros_like(b), np.zeros_like(b[0])
    for t in range(len(b)):
        h = out[t] = a[t] * h + b[t]
    return out


ADDED_CASES = [
    (P.linear_scan(R(7, 3), R(7, 3)), np_linear_scan, ((7, 3), (7, 3))),
    (P.sigmoid(X), lambda a: 1 / (1 + np.exp(-a)), ((3, 4),)),
    (P.silu(X), lambda a: a / (1 + np.exp(-a)), ((3, 4),)),
    (P.sin(X), np.sin, ((3, 4),)),
    (P.cos(X), np.cos, ((3, 4),)),
    (P.erf(X), np_erf, ((3, 4),)),
    (P.slice_axis(R(3, 8), 2, 6), lambda a: a[:, 2:6], ((3, 8),)),
    (P.slice_axis(R(5, 2), 1, 4, axis=0), lambda a: a[1:4], ((5, 2),)),
    (P.compare(R(3, 1), R(4), "lt"), lambda a, b: (a < b).astype(np.float64), ((3, 1), (4,))),
    (P.compare(X, X, "ge"), lambda a, b: (a >= b).astype(np.float64), ((3, 4), (3, 4))),
    (P.einsum("...i,io->...o", R(2, 3, 4), R(4, 5)), lambda a, b: a @ b, ((2, 3, 4), (4, 5))),
    (P.einsum("h...d,...d->...h", R(2, 3, 4), R(3, 4)),
     lambda a, b: np.einsum("h...d,...d->...h", a, b), ((2, 3, 4), (3, 4))),
]  # fmt: skip


@pytest.mark.parametrize(("box", "ref", "shapes"), ADDED_CASES, ids=lambda c: str(c)[:20])
def test_each_added_primitive_agrees_with_numpy(box: Any, ref: Any, shapes: Any) -> None:
    args = [rand(*s) for s in shapes]
    x = args[0] if len(args) == 1 else tuple(args)
    close(jax.jit(compile(box))(x), ref(*(a.astype(np.float64) for a in args)))


def test_log_sqrt_arange_and_where_agree_with_numpy() -> None:
    x = np.abs(rand(5)) + 0.1
    close(compile(P.log(R(5)))(x), np.log(x.astype(np.float64)))
    close(compile(P.sqrt(R(5)))(x), np.sqrt(x.astype(np.float64)))
    close(compile(P.arange(6, 1.0, 0.5))(()), 1.0 + 0.5 * np.arange(6.0))
    c, a, b = (rand(4) > 0).astype(np.float32), rand(3, 4), rand()
    close(compile(P.where(R(4), R(3, 4), R()))(((c, a), b)), np.where(c != 0, a, b))


def test_bernoulli_is_deterministic_given_the_seed() -> None:
    mask = jax.jit(compile(P.bernoulli(Fin(2**31), (200, 50), 0.25)))
    m0, m1 = np.asarray(mask(np.int32(7))), np.asarray(mask(np.int32(8)))
    np.testing.assert_array_equal(m0, np.asarray(mask(np.int32(7))))
    assert set(np.unique(m0)) <= {0.0, 1.0} and not np.array_equal(m0, m1)
    assert abs(m0.mean() - 0.75) < 0.02


def test_fold_in_gives_independent_deterministic_seeds() -> None:
    seeds = {salt: jax.jit(compile(P.fold_in(Fin(2**31), salt))) for salt in range(3)}
    got = {salt: int(f(np.int32(7))) for salt, f in seeds.items()}
    assert got[0] == int(seeds[0](np.int32(7))) and len(set(got.values())) == 3
    assert all(0 <= v < 2**31 for v in got.values()) and int(seeds[0](np.int32(8))) != got[0]
    assert 0 <= int(compile(P.fold_in(Fin(5), 1))(np.int32(3))) < 5
    with pytest.raises(TypeError, match="fold_in: salt"):
        P.fold_in(Fin(5), -1)


def test_einsum_ellipsis_errors_name_the_spec() -> None:
    with pytest.raises(TypeError, match="must name distinct axes"):
        P.einsum("...i,io->o", R(2, 4), R(4, 5))
    with pytest.raises(TypeError, match="do not broadcast"):
        P.einsum("...i,...i->...", R(2, 4), R(3, 4))


def test_token_ids_out_of_range_are_refused_eagerly_and_under_jit() -> None:
    """Eagerly and under jit, raise; with ``check_ids=False`` (documented) ids >= V read the
    last row and negative ids wrap, as jnp indexing does."""
    table, ids = rand(5, 3), np.array([7, -1, 5], np.int32)
    lookup = compile(P.gather(R(5, 3), Fin(5, 3)))
    with pytest.raises(ValueError, match=r"token ids of Fin\(5, 3\) must be in 0..4, got 7"):
        lookup((table, ids))
    with pytest.raises(Exception, match=r"input\[1\]: a token id of Fin\(5, 3\) is outside 0..4"):
        jax.jit(lookup)((table, ids))  # it used to read row 4 for all three (issue 22, item 4)
    loose = jax.jit(compile(P.gather(R(5, 3), Fin(5, 3)), check_ids=False))
    np.testing.assert_array_equal(np.asarray(loose((table, ids))), table[[4, 4, 4]])


def np_linear_map(fn: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The matrix of a linear ``fn`` on arrays of ``shape``, column by column."""
    size = int(np.prod(shape))
    return np.stack([fn(np.eye(size)[k].reshape(shape)).ravel() for k in range(size)], axis=1)


def np_conv_transpose(g: np.ndarray, w: np.ndarray, size: tuple[int, ...], pad: str) -> Any:
    shape = (*size, w.shape[-2])
    return (np_linear_map(lambda x: np_conv(x, w, pad), shape).T @ g.ravel()).reshape(shape)


def np_conv_filter(x: np.ndarray, g: np.ndarray, window: tuple[int, ...], pad: str) -> Any:
    shape = (*window, x.shape[-1], g.shape[-1])
    return (np_linear_map(lambda w: np_conv(x, w, pad), shape).T @ g.ravel()).reshape(shape)


def np_argmax_windows(x: np.ndarray, window: tuple[int, ...]) -> dict[Any, Any]:
    """For each window (stride = window) and channel, the position of its first maximum."""
    out = {}
    grid = tuple(n // k for n, k in zip(x.shape[:-1], window, strict=True))
    for p in np.ndindex(*grid):
        for c in range(x.shape[-1]):
            patch = x[tuple(slice(i * k, (i + 1) * k) for i, k in zip(p, window, strict=True))]
            q = np.unravel_index(np.argmax(patch[..., c]), window)
            out[(*p, c)] = (*(i * k + j for i, k, j in zip(p, window, q, strict=True)), c)
    return out


def test_conv_transposes_and_max_pool_routing_agree_with_numpy() -> None:
    g, w = rand(6, 4), rand(3, 2, 4)
    got = compile(P.conv_transpose(R(6, 4), R(3, 2, 4), (6,)))((g, w))
    close(got, np_conv_transpose(g.astype(np.float64), w, (6,), "SAME"))
    x, g = rand(5, 6, 2), rand(4, 4, 3)
    got = compile(P.conv_filter(R(5, 6, 2), R(4, 4, 3), (2, 3), padding="VALID"))((x, g))
    close(got, np_conv_filter(x.astype(np.float64), g, (2, 3), "VALID"))
    x = np.round(rand(4, 6, 2))  # ties in most windows
    where = np_argmax_windows(x, (2, 3))
    g, t = rand(2, 2, 2), rand(4, 6, 2)
    scattered = np.zeros_like(x, np.float64)
    for p, q in where.items():
        scattered[q] += g[p]
    close(compile(P.max_pool_scatter(R(4, 6, 2), R(2, 2, 2), (2, 3)))((x, g)), scattered)
    selected = np.array([t[where[p]] for p in np.ndindex(2, 2, 2)]).reshape(2, 2, 2)
    close(compile(P.max_pool_select(R(4, 6, 2), R(4, 6, 2), (2, 3)))((x, t)), selected)


def test_window_transposes_refuse_mismatched_shapes_by_name() -> None:
    with pytest.raises(TypeError, match=r"conv_transpose: a conv of size \(7,\) .* gives \(7,\)"):
        P.conv_transpose(R(4, 3), R(3, 2, 3), (7,))
    with pytest.raises(TypeError, match="conv_filter: expected x = R"):
        P.conv_filter(R(4, 3), R(4, 3, 1), (2,))
    with pytest.raises(TypeError, match=r"max_pool_scatter: expected the cotangent R\(2, 2, 2\)"):
        P.max_pool_scatter(R(4, 4, 2), R(2, 2, 3), (2, 2))
    with pytest.raises(TypeError, match="max_pool_select: max_pool: window"):
        P.max_pool_select(R(2, 2), R(2, 2), (3,))


def test_every_primitive_is_implemented_and_tested() -> None:
    tested = {box.name for box, _, _ in PRIMITIVE_CASES} | {"rsqrt", "full", "gather", "one_hot"}
    tested |= {box.name for box, _, _ in ADDED_CASES}
    tested |= {"log", "sqrt", "arange", "where", "bernoulli", "fold_in"}
    tested |= {"top_k", "dispatch", "scatter_add"}  # tests/backends/jax/test_moe.py
    tested |= {"relative_buckets"}  # tests/backends/jax/test_t5.py
    tested |= {"foreign"}  # test_foreign_box_calls_its_primitive_back
    tested |= {"softmax_fold"}  # tests/backends/jax/test_fold.py
    tested |= {"conv_transpose", "conv_filter", "max_pool_scatter", "max_pool_select"}
    assert set(P.PRIMITIVES) == set(IMPLEMENTATIONS) == tested


def test_foreign_box_calls_its_primitive_back() -> None:
    from jax import lax

    from backends.jax.core.foreign import Bind

    call = Bind(lax.max_p, {}, ("float32", "float32"))
    box = P.foreign("max", R(3) * R(3), R(3), cls="pl", call=call)
    x, y = rand(3), rand(3)
    np.testing.assert_array_equal(np.asarray(compile(box)((x, y))), np.maximum(x, y))
    bare = P.foreign("max", R(3) * R(3), R(3), cls="pl")  # read back from JSON, say
    with pytest.raises(TypeError, match="carries no JAX operation to call back"):
        compile(bare)((x, y))


def test_square_through_copy_is_one_multiply() -> None:
    square = copy(R(3)) >> P.mul(R(3), R(3))
    text = jax.jit(compile(square)).lower(np.ones(3, np.float32)).as_text()
    assert text.count("stablehlo.multiply") == 1


# -- layers --------------------------------------------------------------------------------


def test_linear_and_mlp_agree_with_numpy() -> None:
    lin = nn.linear(4, 3, lead=(5,), name="fc")
    params = randomised(lin)
    x = rand(5, 4)
    close(apply(lin, params, x), np_linear(f64(params), "fc", x.astype(np.float64)))
    net = nn.mlp([4, 8, 8, 2], activation="tanh")
    params = randomised(net, 3)
    x = rand(4)
    p, h = f64(params), x.astype(np.float64)
    h = np.tanh(np_linear(p, "mlp.fc1", h))
    h = np.tanh(np_linear(p, "mlp.fc2", h))
    close(apply(net, params, x), np_linear(p, "mlp.fc3", h))


def test_activations_and_softmax_agree_with_numpy() -> None:
    x = rand(3, 5)
    x64 = x.astype(np.float64)
    close(apply(nn.relu(3, 5), {}, x), np.maximum(x64, 0))
    close(apply(nn.gelu(3, 5), {}, x), np_gelu(x64))
    close(apply(nn.tanh(3, 5), {}, x), np.tanh(x64))
    for built in (False, True):
        close(apply(nn.softmax(3, 5, axis=0, built=built), {}, x), np_softmax(x64, 0))
    big = 80.0 * rand(3, 5)  # the built softmax is stable too (it shifts by the max)
    close(apply(nn.softmax(3, 5, built=True), {}, big), np_softmax(big.astype(np.float64)))


def test_layer_norm_agrees_with_numpy() -> None:
    ln = nn.layer_norm(6, lead=(4,), name="ln")
    params = randomised(ln)
    x = 3.0 * rand(4, 6) + 1.0
    close(apply(ln, params, x), np_layer_norm(f64(params), "ln", x.astype(np.float64)))
    fresh = init(ln, jax.random.key(0))  # scale ones, bias zeros: zero mean, unit variance
    y = np.asarray(apply(ln, fresh, x), np.float64)
    close(y.mean(-1), np.zeros(4), 1e-5)
    close(y.var(-1), np.ones(4), 1e-3)


def test_embedding_is_a_lookup_and_agrees_with_the_copairing() -> None:
    emb = nn.embedding(5, 3, lead=(4,))
    params = randomised(emb)
    ix = np.array([4, 0, 0, 2], np.int32)
    close(apply(emb, params, ix), np.asarray(params["embed.table"])[ix])
    cases = nn.embedding_cases(5, 3)
    assert list(cases.parameters()) == list(emb.parameters())
    for i in range(5):
        close(apply(cases, params, label(5, i)), np.asarray(params["embed.table"])[i])


def label(n: int, i: int) -> Any:
    """The value of label ``i`` in ``labels(n) = One + (One + ...)`` (tagged triples)."""
    if n == 1:
        return ()
    if i == 0:
        return (jnp.array(False), (), _zero(n - 1))
    return (jnp.array(True), (), label(n - 1, i - 1))


def _zero(n: int) -> Any:
    return () if n == 1 else (jnp.array(False), (), _zero(n - 1))


def test_positional_adds_its_table() -> None:
    pos = nn.positional(4, 3)
    params = randomised(pos)
    x = rand(4, 3)
    close(apply(pos, params, x), x + np.asarray(params["pos.table"]))


@pytest.mark.parametrize(
    ("shape", "cout", "window", "padding"),
    [((8, 2), 3, (3,), "SAME"), ((6, 5, 1), 4, (3, 3), "SAME"), ((6, 5, 2), 2, (2, 3), "VALID")],
)
def test_conv_agrees_with_numpy(shape: Any, cout: int, window: Any, padding: str) -> None:
    c = nn.conv(shape, cout, window, padding=padding, name="c")
    params = randomised(c)
    x = rand(*shape)
    p = f64(params)
    close(apply(c, params, x), np_conv(x.astype(np.float64), p["c.w"], padding) + p["c.b"])


def test_max_pool_agrees_with_numpy() -> None:
    x = rand(6, 4, 3)
    want = x.astype(np.float64).reshape(3, 2, 2, 2, 3).max((1, 3))
    close(apply(nn.max_pool((6, 4, 3), (2, 2)), {}, x), want)
    close(apply(nn.max_pool((6, 3), (3,)), {}, x[:, 0]), x[:, 0].reshape(2, 3, 3).max(1))


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_rnn_agrees_with_numpy(act: str) -> None:
    r = nn.rnn(3, 4, 5, activation=act)
    params = randomised(r)
    p, xs = f64(params), rand(5, 3)
    f = np.tanh if act == "tanh" else (lambda z: np.maximum(z, 0))
    h = np.zeros(4)
    for t in range(5):
        h = f(xs[t] @ p["rnn.x.w"] + p["rnn.x.b"] + h @ p["rnn.h.w"])
    close(apply(r, params, xs), h)


def test_gcn_agrees_with_numpy_and_shares_the_adjacency() -> None:
    g = nn.gcn(5, 3, 4, name="g1") >> nn.gcn(5, 4, 2, activation=None, name="g2")
    net = g.as_cartesian()
    params = randomised(net)
    a = np.abs(rand(5, 5))
    a = a / a.sum(1, keepdims=True)
    x, p = rand(5, 3), f64(params)
    h = np.maximum(a @ x @ p["g1.w"] + p["g1.b"], 0)
    close(apply(net, params, (a, x)), a @ h @ p["g2.w"] + p["g2.b"])


@pytest.mark.parametrize(("heads", "causal"), [(1, False), (1, True), (2, True), (3, False)])
def test_attention_agrees_with_numpy(heads: int, causal: bool) -> None:
    a = nn.attention(4, 6, heads, causal=causal, name="at")
    params = randomised(a)
    x = rand(4, 6)
    want = np_attention(f64(params), "at", x.astype(np.float64), heads, causal)
    close(apply(a, params, x), want)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_attention_agrees_with_numpy_and_is_cubic(bias: bool) -> None:
    a = nn.attention(4, 6, 2, causal=True, softmax=False, bias=bias, name="at")
    params = randomised(a)
    x = rand(4, 6)
    want = np_attention(f64(params), "at", x.astype(np.float64), 2, True, soft=False)
    close(apply(a, params, x), want)
    if not bias:  # homogeneous of degree 3: f(t x) = t^3 f(x)
        close(apply(a, params, 2.0 * x), 8.0 * np.asarray(apply(a, params, x)), 1e-5)


def test_multi_head_attention_is_the_product_of_its_heads() -> None:
    """The batched-heads attention equals the literal product of single heads, concatenated,
    with the per-head weights sliced out of the fused ones (and the output map after)."""
    seq, d, heads = 4, 6, 3
    dh = d // heads
    fused = nn.attention(seq, d, heads, causal=True, name="at")
    params = randomised(fused)
    single = [head(seq, d, dh, f"h{i}") for i in range(heads)]
    product = nn.multi_head(single) >> nn.linear(d, d, lead=(seq,), name="o")
    sliced = {}
    for i in range(heads):
        cols = slice(i * dh, (i + 1) * dh)
        for w in "qkv":
            sliced[f"mha.h{i}.{w}.w"] = params[f"at.{w}.w"][:, cols]
            sliced[f"mha.h{i}.{w}.b"] = params[f"at.{w}.b"][cols]
    sliced["o.w"], sliced["o.b"] = params["at.o.w"], params["at.o.b"]
    x = rand(seq, d)
    close(apply(product, sliced, x), apply(fused, params, x))


def head(seq: int, d: int, dh: int, name: str) -> Any:
    """One causal head ``R(seq, d) -> R(seq, dh)``: choose ; ev with no output map."""
    from topos.arrows import curry, ev

    x, v = R(seq, d), R(seq, dh)

    def proj(w: str) -> Any:
        return nn.linear(d, dh, lead=(seq,), name=w)

    scores = P.einsum("sd,td->st", v, v)
    a = scores.cod
    pattern = scores >> P.scale(a, 1 / math.sqrt(dh)) >> P.causal_mask(a) >> P.softmax(a)
    choose = copy(x) >> (proj("q") * proj("k")) >> pattern
    mix = curry(P.einsum("st,td->sd", a, v))
    return nn.grouped(name, copy(x) >> ((choose >> mix) * proj("v")) >> ev(v, v))


# -- the transformer -----------------------------------------------------------------------

V, S, D, H, L = 11, 6, 8, 2, 2


def jnp_transformer(p: dict[str, Any], tokens: Any) -> Any:
    """A straightforward jnp decoder-only transformer on one sequence (the contract's),
    scanning over the stacked layer parameters as a hand-written deep model does."""

    def ln(x: Any, scale: Any, bias: Any) -> Any:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) * jax.lax.rsqrt(var + 1e-5) * scale + bias

    dh = D // H

    def block(x: Any, b: dict[str, Any]) -> tuple[Any, None]:
        h = ln(x, b["ln1.scale"], b["ln1.bias"])
        q, k, v = ((h @ b[f"attn.{w}.w"] + b[f"attn.{w}.b"]).reshape(S, H, dh) for w in "qkv")
        scores = jnp.einsum("shd,thd->hst", q, k) / math.sqrt(dh)
        scores = jnp.where(jnp.tril(jnp.ones((S, S), bool)), scores, -1e9)
        att = jnp.einsum("hst,thd->shd", jax.nn.softmax(scores, -1), v).reshape(S, D)
        x = x + att @ b["attn.o.w"] + b["attn.o.b"]
        h = ln(x, b["ln2.scale"], b["ln2.bias"])
        h = jax.nn.gelu(h @ b["mlp.fc1.w"] + b["mlp.fc1.b"], approximate=True)
        return x + h @ b["mlp.fc2.w"] + b["mlp.fc2.b"], None

    blocks = {k.removeprefix("blocks."): v for k, v in p.items() if k.startswith("blocks.")}
    # the same loop structure as the lowering of repeat (short stacks unrolled)
    unroll = len(next(iter(blocks.values()))) <= UNROLL_MAX
    x, _ = jax.lax.scan(block, p["embed.table"][tokens] + p["pos.table"], blocks, unroll=unroll)
    x = ln(x, p["ln_f.scale"], p["ln_f.bias"])
    return x @ p["head.w"] + p["head.b"]


@pytest.fixture(scope="module")
def lm() -> Any:
    return nn.transformer(V, S, D, H, L)


def test_transformer_parameters_follow_the_contract(lm: Any) -> None:
    ps = lm.parameters()
    assert (lm.dom, lm.cod) == (Fin(V, S), R(S, V))
    assert ps["embed.table"].ob == R(V, D) and ps["pos.table"].ob == R(S, D)
    assert ps["blocks.attn.q.w"].ob == R(L, D, D) and ps["blocks.attn.o.b"].ob == R(L, D)
    assert ps["blocks.mlp.fc1.w"].ob == R(L, D, 4 * D) and ps["head.w"].ob == R(D, V)
    inits = {k: repr(v.init) for k, v in ps.items()}
    assert inits["embed.table"] == inits["blocks.attn.k.w"] == inits["head.w"] == "normal(0.02)"
    assert inits["blocks.ln2.scale"] == "ones" and inits["head.b"] == "zeros"


def test_transformer_logits_agree_with_a_jnp_reimplementation(lm: Any) -> None:
    params = {k: jnp.asarray(v) for k, v in randomised(lm, 7).items()}
    tokens = jax.random.randint(jax.random.key(2), (3, S), 0, V)
    got = jax.jit(batched(lm))(params, tokens)
    want = jax.vmap(jnp_transformer, (None, 0))(params, tokens)
    close(got, want, 1e-5)


@given(st.integers(0, S - 1), st.integers(0, 2**31 - 1))
def test_the_transformer_is_causal(lm: Any, pos: int, seed: int) -> None:
    """Changing the token at ``pos`` leaves the logits before ``pos`` unchanged."""
    params = _params(lm)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, V, S).astype(np.int32)
    other = tokens.copy()
    other[pos] = (tokens[pos] + 1 + rng.integers(0, V - 1)) % V
    run = _run(lm)
    a, b = np.asarray(run(params, tokens)), np.asarray(run(params, other))
    np.testing.assert_array_equal(a[:pos], b[:pos])
    assert not np.allclose(a[pos], b[pos])  # the changed position itself does see it


_CACHE: dict[str, Any] = {}


def _params(lm: Any) -> Any:
    if "params" not in _CACHE:
        _CACHE["params"] = randomised(lm, 11)
    return _CACHE["params"]


def _run(lm: Any) -> Any:
    if "run" not in _CACHE:
        _CACHE["run"] = jax.jit(lambda p, x: apply(lm, p, x))
    return _CACHE["run"]


def test_the_compiled_transformer_costs_what_the_hand_written_one_costs(lm: Any) -> None:
    """Same matrix products and the same flops as the jnp reimplementation (nothing twice)."""
    params = {k: jnp.asarray(v) for k, v in randomised(lm).items()}
    tokens = jnp.zeros((4, S), jnp.int32)

    def loss(run: Any) -> Any:
        return jax.jit(jax.value_and_grad(lambda p, x: run(p, x).sum()))

    ours = loss(batched(lm)).lower(params, tokens).compile()
    theirs = loss(jax.vmap(jnp_transformer, (None, 0))).lower(params, tokens).compile()
    flops = [c.cost_analysis()["flops"] for c in (ours, theirs)]
    assert flops[0] <= 1.01 * flops[1]  # nothing computed twice: never more than by hand
    dots = [c.as_text().count(" dot(") for c in (ours, theirs)]
    assert dots[0] == dots[1] > 0
