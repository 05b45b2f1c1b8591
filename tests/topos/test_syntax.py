"""Python functions traced into arrows and Para (``topos.syntax``).

Laws (hypothesis, on generated composable arrows): a call chain traces to the
composite, tuples to pairings. The stock attention, transformer blocks and GPT-2
written in the syntax are ``equal`` (``isomorphic`` as Para) to the point-free ones.
The traced arrows draw with the variable names, serialise and analyse; errors name
the user's ``file:line`` and both types.
"""

from __future__ import annotations

import inspect
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topos import Box, Fin, Id, R, copy, diagram, equal, fst, pair, param, snd, trace
from topos.analysis import analyze
from topos.arrows import Group
from topos.draw import draw
from topos.nn import primitives as P
from topos.nn.decoder import block as decoder_block
from topos.nn.decoder import language_model
from topos.nn.layers import SMALL, layer_norm, linear
from topos.nn.transformer import attention, transformer_block
from topos.para import Para, isomorphic, ones, repeat, zeros
from topos.serial import dumps, loads
from topos.syntax import (
    TraceError,
    causal_mask,
    concatenate,
    einsum,
    gelu,
    relu,
    rsqrt,
    softmax,
    where,
)
from topos.testing.strategies import composable

SEQ, D, HEADS, VOCAB, LAYERS = 4, 8, 2, 11, 2
DH = D // HEADS


# -- laws -------------------------------------------------------------------------------


@given(composable(3, exponentials=True, coproducts=True))
def test_a_call_chain_traces_to_the_composite(fs) -> None:
    f, g, h = fs
    traced = trace(lambda x: h(g(f(x))), f.dom)
    assert traced == f >> g >> h  # literally, not only up to equal


@given(composable(2), st.booleans())
def test_tuples_trace_to_pairings(fs, keep_input) -> None:
    f, g = fs
    if keep_input:
        assert equal(trace(lambda x: (g(f(x)), x), f.dom), pair(f >> g, Id(f.dom)))
    else:
        assert equal(trace(lambda x: (f(x), g(f(x))), f.dom), pair(f, f >> g))


def test_identity_projections_and_copies() -> None:
    a, b = R(2), R(3)
    assert trace(lambda x: x, a) == Id(a)
    assert equal(trace(lambda x, y: y, (a, b)), snd(a, b))
    assert equal(trace(lambda x, y: (y, x), (a, b)), pair(snd(a, b), fst(a, b)))
    assert equal(trace(lambda x: (x, x), a), copy(a))
    assert trace(lambda x, y: (x, y), (a, b)) == Id(a * b)


def test_product_values_unpack_along_the_left_spine() -> None:
    a, b, c = R(1), R(2), R(3)
    f = Box("f", c, a)
    traced = trace(lambda t: (lambda x, y, z: (f(z), y))(*t), a * b * c)
    assert equal(traced, pair(snd(a * b, c) >> f, fst(a * b, c) >> snd(a, b)))


def test_unused_values_are_not_computed() -> None:
    f, g = Box("f", R(2), R(3)), Box("g", R(2), R(4))

    def fn(x):
        f(x)  # computed and dropped: no box in the arrow
        return g(x)

    assert trace(fn, R(2)) == g


# -- the operators record the vocabulary's boxes ------------------------------------------


def test_operators_record_the_primitive_boxes() -> None:
    x = R(4, 3)
    assert trace(lambda v: v + v, x) == copy(x) >> P.add(x, x)
    assert equal(trace(lambda v: v * 0.5, x), P.scale(x, 0.5))
    assert equal(trace(lambda v: -v / 2, x), P.scale(x, -1.0) >> P.scale(x, 0.5))
    assert equal(trace(lambda v: v.T, x), P.transpose(x, (1, 0)))
    assert equal(trace(lambda v: v.reshape(2, -1), x), P.reshape(x, 2, 6))
    assert equal(trace(lambda v: v[1], x), P.take(x, 1, 0))
    assert equal(trace(lambda v: v[:, 1:3], x), P.slice_axis(x, 1, 3, 1))
    assert equal(trace(lambda v: v[..., -1], x), P.take(x, 2, 1))
    assert equal(trace(lambda v: v[:, None], x), P.reshape(x, 4, 1, 3))
    assert equal(trace(lambda v: v.sum(0), x), P.reduce_sum(x, 0))
    assert equal(trace(lambda v: v.mean(-1, keepdims=True), x), P.reduce_mean(x, -1, True))
    assert equal(trace(lambda v: softmax(v, 0), x), P.softmax(x, 0))
    plus = trace(lambda v: v + 1e-5, x)
    assert equal(plus, pair(Id(x), _discard_then(x, P.full(R(), 1e-5))) >> P.add(x, R()))
    both = trace(lambda v, w: concatenate([v, w, v], axis=0), (x, x))
    assert both.cod == R(12, 3)
    cmp = trace(lambda v: where(v > 0, v, 0.0), x)
    assert [b.name for b in _boxes(cmp)] == ["full", "compare", "full", "where"]


def _discard_then(x, box):
    from topos import discard

    return discard(x) >> box


def _boxes(f):
    from topos.arrows import fold

    def step(node, kids):
        own = [node] if isinstance(node, Box) else []
        return own + [b for k in kids for b in k]

    return fold(f, step)


def test_matmul_variants() -> None:
    assert equal(
        trace(lambda x: x @ x.T, R(4, 3)),
        copy(R(4, 3)) >> (Id(R(4, 3)) * P.transpose(R(4, 3), (1, 0))) >> P.matmul(R(4, 3), R(3, 4)),
    )
    batched = trace(lambda a, b: a @ b, (R(2, 4, 3), R(2, 3, 5)))
    assert batched.cod == R(2, 4, 5)
    assert trace(lambda a, b: a @ b, (R(4, 3), R(3))).cod == R(4)


def test_gather_by_labels() -> None:
    table, labels = R(5, 2), Fin(5, 3)
    assert trace(lambda t, ix: t[ix], (table, labels)) == P.gather(table, labels)


# -- parameters -------------------------------------------------------------------------


def test_inline_params_make_a_para_in_the_order_of_first_use() -> None:
    @diagram(dom=R(3))
    def net(x):
        h = relu(x @ param("w1", R(3, 4)) + param("b1", R(4), zeros))
        return h @ param("w2", R(4, 2))

    assert isinstance(net, Para)
    assert [(k, p.ob, p.init) for k, p in net.parameters().items()][:2] == [
        ("w1", R(3, 4), net.parameters()["w1"].init),
        ("b1", R(4), zeros),
    ]
    assert (net.dom, net.cod, net.P) == (R(3), R(2), R(3, 4) * R(4) * R(4, 2))


def test_a_param_declared_twice_is_shared_and_a_clash_is_refused() -> None:
    tied = trace(lambda x: x @ param("w", R(3, 3)) @ param("w", R(3, 3)), R(3))
    assert list(tied.parameters()) == ["w"]
    with pytest.raises(
        TraceError, match=r"param 'w' is declared as R\(3, 4\) here and as R\(3, 3\)"
    ):
        trace(lambda x: (x @ param("w", R(3, 3))) @ param("w", R(3, 4)), R(3))


def test_a_layer_called_twice_shares_its_weights() -> None:
    lin = linear(3, 3, name="fc")
    twice = trace(lambda x: lin(lin(x)), R(3))
    assert list(twice.parameters()) == ["fc.w", "fc.b"]
    assert equal(twice.arrow, pair(fst(lin.P, R(3)), lin.arrow) >> lin.arrow)  # w read twice


def test_para_false_refuses_weights_and_para_true_lifts() -> None:
    with pytest.raises(TraceError, match="para=False"):
        trace(lambda x: x @ param("w", R(2, 2)), R(2), para=False)
    lifted = trace(lambda x: relu(x), R(2), para=True)
    assert isomorphic(lifted, Para.lift(P.relu(R(2))))


# -- the stock models, written in the syntax -----------------------------------------------


def _lin(x, name, n, init=SMALL):
    return x @ param(f"{name}.w", R(x.shape[-1], n), init) + param(f"{name}.b", R(n), zeros)


def _layer_norm(x, name, eps=1e-5):
    c = x - x.mean(-1, keepdims=True)
    y = c * rsqrt((c * c).mean(-1, keepdims=True) + eps)
    d = R(x.shape[-1])
    return y * param(f"{name}.scale", d, ones) + param(f"{name}.bias", d, zeros)


def _mlp(x, name="mlp"):
    return _lin(gelu(_lin(x, f"{name}.fc1", 4 * D)), f"{name}.fc2", D)


def _attention(x, name="attn"):  # the head layout of topos.nn.transformer.attention
    q, k, v = (_lin(x, f"{name}.{n}", D).reshape(SEQ, HEADS, DH) for n in "qkv")
    a = softmax(causal_mask(einsum("shd,thd->hst", q, k) / math.sqrt(DH)))
    return _lin(einsum("hst,thd->shd", a, v).reshape(SEQ, D), f"{name}.o", D)


def _self_attention(x, name="attn"):  # the head layout of topos.nn.self_attention
    q = _lin(x, f"{name}.q", D).reshape(SEQ, HEADS, 1, DH)
    k, v = (_lin(x, f"{name}.{n}", D).reshape(SEQ, HEADS, DH) for n in "kv")
    a = softmax(causal_mask(einsum("skgd,tkd->kgst", q, k) / math.sqrt(DH)))
    return _lin(einsum("kgst,tkd->skgd", a, v).reshape(SEQ, D), f"{name}.o", D)


def test_traced_attention_equals_the_stock_one() -> None:
    traced = trace(_attention, R(SEQ, D))
    stock = attention(SEQ, D, HEADS, causal=True, init=SMALL)
    assert list(traced.parameters()) == list(stock.parameters())
    assert isomorphic(stock, traced)


def test_traced_transformer_block_equals_the_stock_one() -> None:
    @diagram(dom=R(SEQ, D))
    def block(x):
        x = x + _attention(_layer_norm(x, "ln1"))
        return x + _mlp(_layer_norm(x, "ln2"))

    assert isomorphic(transformer_block(SEQ, D, HEADS), block)


def test_traced_gpt2_equals_the_stock_one() -> None:
    @diagram(dom=R(SEQ, D))
    def block(x):
        x = x + _self_attention(_layer_norm(x, "ln1"))
        return x + _mlp(_layer_norm(x, "ln2"))

    stock_block = decoder_block(SEQ, D, HEADS)
    assert isomorphic(stock_block, block)

    @diagram(dom=Fin(VOCAB, SEQ))
    def gpt2(tokens):
        table = param("embed.table", R(VOCAB, D), SMALL)
        x = table[tokens] + param("pos.table", R(SEQ, D), SMALL)
        # a Repeat is equal to another when the blocks' parameter trees agree too
        x = repeat(stock_block, LAYERS).named("blocks")(x)
        return _layer_norm(x, "ln_f") @ table.T

    stock = language_model(VOCAB, SEQ, D, HEADS, LAYERS, tie=True)
    assert list(gpt2.parameters()) == list(stock.parameters())
    assert isomorphic(stock, gpt2)


def test_calling_stock_layers_is_equal_to_composing_them() -> None:
    ln, fc = layer_norm(D, lead=(SEQ,), name="ln"), linear(D, D, lead=(SEQ,), name="fc")
    traced = trace(lambda x: x + fc(ln(x)), R(SEQ, D))
    stock = copy(R(SEQ, D)) >> (Id(R(SEQ, D)) * (ln >> fc)) >> P.add(R(SEQ, D), R(SEQ, D))
    assert isomorphic(stock, traced)


def test_traced_functions_call_each_other() -> None:
    inner = trace(lambda x: relu(x @ param("w", R(3, 3))), R(3), name="inner")
    outer = trace(lambda x: inner(inner(x)) + x, R(3))
    assert list(outer.parameters()) == ["inner.w"]
    assert isinstance(inner.arrow, Group) and inner.arrow.name == "inner"


# -- drawn, serialised, analysed ------------------------------------------------------------


def _net():
    @diagram(dom=R(4, 8))
    def net(x):
        hidden = relu(x @ param("w1", R(8, 16)) + param("b1", R(16)))
        scores = hidden @ param("w2", R(16, 3))
        return softmax(scores)

    return net


def test_variable_names_label_the_wires_of_the_drawing() -> None:
    net = _net()
    svg = draw(net)
    assert 'class="label name"' in svg and ">hidden<" in svg and ">scores<" in svg
    plain = trace(lambda x: softmax(x), R(3), labels=False)
    assert plain == P.softmax(R(3), -1)


def test_traced_arrows_serialise_and_analyse() -> None:
    net = _net()
    assert loads(dumps(net)) == net
    traced = trace(_attention, R(SEQ, D))
    stock = attention(SEQ, D, HEADS, causal=True)
    ours, theirs = analyze(traced), analyze(stock)
    assert (ours.order, ours.cls, ours.lives_in) == (theirs.order, theirs.cls, theirs.lives_in)


# -- errors point at the user's line ---------------------------------------------------------


def _line_of(marker: str) -> int:
    lines, start = inspect.getsourcelines(test_errors_name_the_line_and_both_types)
    return start + next(i for i, text in enumerate(lines) if marker in text)


def test_errors_name_the_line_and_both_types() -> None:
    def bad(x):
        y = relu(x)
        return y @ param("w", R(5, 2))  # the bad matmul

    with pytest.raises(TraceError) as err:
        trace(bad, R(3, 4))
    text = str(err.value)
    assert f"{__file__}:{_line_of('# the bad matmul')}:" in text
    assert "@ of R(3, 4) and R(5, 2)" in text

    def bad_call(x):
        return P.relu(R(2))(x)  # the bad call

    with pytest.raises(TraceError) as err:
        trace(bad_call, R(3))
    assert f"{__file__}:{_line_of('# the bad call')}:" in str(err.value)
    assert "it takes R(2), got R(3)" in str(err.value)


def test_misuse_is_refused_in_one_line() -> None:
    with pytest.raises(TraceError, match="only inside a function traced"):
        param("w", R(2))
    with pytest.raises(TraceError, match="no truth value"):
        trace(lambda x: x if x else x, R(2))
    with pytest.raises(TypeError, match="must return symbolic values"):
        trace(lambda x: 3.0, R(2))
    with pytest.raises(TypeError, match=r"dom gives 1 argument"):
        trace(lambda x, y: x, R(2))
    with pytest.raises(TraceError, match="step 1"):
        trace(lambda x: x[::2], R(4))


def test_calling_a_parameter_free_layer_adds_no_weights() -> None:
    from topos.nn.layers import relu as relu_layer

    traced = trace(lambda x: relu_layer(3)(x), R(3))
    assert not isinstance(traced, Para) and equal(traced, P.relu(R(3)))
