"""The T5-style encoder–decoder against a float64 NumPy T5 written from the paper, and
cross-attention's masks as laws."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.jax import apply, compile, init
from backends.jax.core.primitives import bucket_table
from topos.nn import primitives as P
from topos.nn.cross_attention import cross_attention
from topos.nn.t5 import count, encoder_decoder, t5


def _bucket(rel: int, buckets: int, max_distance: int, bidirectional: bool) -> int:
    """Raffel et al. 2020 (2.1) / mesh-tensorflow: the bucket of the distance key - query."""
    out = 0
    if bidirectional:
        buckets //= 2
        out += buckets if rel > 0 else 0
        n = abs(rel)
    else:
        n = max(-rel, 0)
    exact = buckets // 2
    if n < exact:
        return out + n
    large = exact + int(math.log(n / exact) / math.log(max_distance / exact) * (buckets - exact))
    return out + min(large, buckets - 1)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_buckets_follow_the_published_rule(bidirectional: bool) -> None:
    rows = cols = 300
    got = bucket_table(rows, cols, 32, 128, bidirectional)
    want = np.array([[_bucket(j - i, 32, 128, bidirectional) for j in range(cols)]
                     for i in range(rows)])  # fmt: skip
    np.testing.assert_array_equal(got, want)
    box = P.relative_buckets(5, 7, 32, 128, bidirectional=bidirectional)
    np.testing.assert_array_equal(np.asarray(compile(box)(())), want[:5, :7])


# -- a float64 NumPy T5 -------------------------------------------------------------------


def _rms(x, scale):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * scale


def _softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _attend(xq, xk, w, heads, bias=None, causal=False):
    q, k, v = (a @ w[n] for a, n in ((xq, "q"), (xk, "k"), (xk, "v")))
    split = lambda a: a.reshape(a.shape[0], heads, -1).transpose(1, 0, 2)  # noqa: E731
    scores = split(q) @ split(k).transpose(0, 2, 1)  # T5 does not scale by 1/sqrt(d_kv)
    if bias is not None:
        scores = scores + bias
    if causal:
        n = scores.shape[-1]
        scores = np.where(np.tril(np.ones((n, n), bool)), scores, -1e9)
    mixed = (_softmax(scores) @ split(v)).transpose(1, 0, 2).reshape(xq.shape[0], -1)
    return mixed @ w["o"]


def _bias(table, n, bidirectional):
    ids = np.array([[_bucket(j - i, table.shape[0], 128, bidirectional) for j in range(n)]
                    for i in range(n)])  # fmt: skip
    return table[ids].transpose(2, 0, 1)


def _layer(p, prefix, i, names):
    return {n: np.asarray(p[f"{prefix}.{n}.w"][i], np.float64) for n in names}


def numpy_t5(p, src, tgt, heads, layers, tie):
    """The published architecture in float64: p are topos' parameters, by path."""
    g = {k: np.asarray(v, np.float64) for k, v in p.items()}
    emb = g["shared.table"]
    x = emb[src]
    bias = _bias(g["encoder.rel_bias"], len(src), True)
    for i in range(layers):
        b = "encoder.blocks"
        h = _rms(x, g[f"{b}.ln_attn.scale"][i])
        x = x + _attend(h, h, _layer(g, f"{b}.attn", i, "qkvo"), heads, bias)
        h = _rms(x, g[f"{b}.ln_ff.scale"][i])
        x = x + np.maximum(h @ g[f"{b}.mlp.fc1.w"][i], 0) @ g[f"{b}.mlp.fc2.w"][i]
    mem = _rms(x, g["encoder.ln_f.scale"])
    y = emb[tgt]
    bias = _bias(g["decoder.rel_bias"], len(tgt), False)
    for i in range(layers):
        b = "decoder.blocks"
        h = _rms(y, g[f"{b}.ln_attn.scale"][i])
        y = y + _attend(h, h, _layer(g, f"{b}.attn", i, "qkvo"), heads, bias, causal=True)
        h = _rms(y, g[f"{b}.ln_cross.scale"][i])
        y = y + _attend(h, mem, _layer(g, f"{b}.cross", i, "qkvo"), heads)
        h = _rms(y, g[f"{b}.ln_ff.scale"][i])
        y = y + np.maximum(h @ g[f"{b}.mlp.fc1.w"][i], 0) @ g[f"{b}.mlp.fc2.w"][i]
    y = _rms(y, g["decoder.ln_f.scale"])
    return (y * y.shape[-1] ** -0.5) @ emb.T if tie else y @ g["head.w"]


def test_logits_equal_an_independent_float64_t5() -> None:
    _check_logits(tie=True, layers=1)


@pytest.mark.slow
def test_untied_two_layer_logits_equal_an_independent_float64_t5() -> None:
    _check_logits(tie=False, layers=2)


def _check_logits(tie: bool, layers: int) -> None:
    vocab, src, tgt, d, heads, d_kv, d_ff = 37, 7, 5, 16, 2, 8, 24
    model = encoder_decoder(vocab, src, tgt, d, heads, d_kv, d_ff, layers=layers, tie=tie)
    params = init(model, jax.random.key(0))
    rng = np.random.default_rng(0)  # norms and biases away from their initial ones / normal
    params = {k: (v * rng.uniform(0.5, 1.5, v.shape)).astype(np.float32) for k, v in params.items()}
    ids_src, ids_tgt = rng.integers(0, vocab, src), rng.integers(0, vocab, tgt)
    run = jax.jit(lambda p, a, b: apply(model, p, (a, b)))
    got = np.asarray(run(params, ids_src.astype(np.int32), ids_tgt.astype(np.int32)))
    want = numpy_t5(params, ids_src, ids_tgt, heads, layers, tie)
    assert np.abs(got - want).max() <= 1e-5, np.abs(got - want).max()


def test_t5_small_has_the_published_counts() -> None:
    m = t5("small", src=8, tgt=8)
    assert m.num_params() == 60_506_624
    assert count(m, "shared") == 16_449_536
    assert count(m, "encoder") == 18_881_280
    assert count(m, "decoder") == 25_175_808
    untied = encoder_decoder(32128, 8, 8, 512, 8, 64, 2048, layers=6, tie=False)
    assert untied.num_params() - m.num_params() == 512 * 32128


# -- cross-attention's masks ---------------------------------------------------------------


SQ, SK = 3, 5
LAYER = cross_attention(SQ, SK, 8, 2, masks=True)
RUN = jax.jit(lambda p, *a: apply(LAYER, p, ((a[0], a[1]), (a[2], a[3]))))


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_masked_keys_are_unseen_and_masked_queries_are_zero(data) -> None:
    sq, sk, run = SQ, SK, RUN
    params = init(LAYER, jax.random.key(1))
    qm = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=sq, max_size=sq)))
    km = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=sk, max_size=sk)))
    km[data.draw(st.integers(0, sk - 1))] = 1.0  # at least one real key
    rng = np.random.default_rng(sq * 10 + sk)
    x, m = rng.normal(size=(sq, 8)), rng.normal(size=(sk, 8))
    other = np.where(km[:, None] == 1, m, rng.normal(size=(sk, 8)))  # padding changed
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    out = np.asarray(run(params, f32(x), f32(m), f32(qm), f32(km)))
    again = np.asarray(run(params, f32(x), f32(other), f32(qm), f32(km)))
    np.testing.assert_allclose(out, again, rtol=1e-5, atol=1e-5)
    o_b = np.asarray(params["cross.o.b"])
    np.testing.assert_allclose(out[qm == 0], np.broadcast_to(o_b, out[qm == 0].shape), atol=1e-6)
