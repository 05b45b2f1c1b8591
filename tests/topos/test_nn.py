"""topos.nn, symbolically: primitive typing, layer types and parameters, analysis verdicts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topos import Fin, One, R, TypeMismatch, copy, nn, serial
from topos.analysis import analyze
from topos.arrows import Arrow, Box, Ev, Repeat, fold
from topos.nn import primitives as P
from topos.para import Para, repeat

dims = st.integers(1, 5)
shapes = st.lists(dims, min_size=1, max_size=4).map(tuple)


def boxes_of(f: Arrow) -> list[Box]:
    """Every primitive box of ``f``, looking inside named sub-diagrams and ``repeat``."""
    out: list[Box] = []
    todo = [f]

    def visit(node: Arrow, kids: list[None]) -> None:
        if isinstance(node, Box):
            body = node.attrs.get("body")
            (todo if isinstance(body, Arrow) else out).append(body if body else node)

    while todo:
        fold(todo.pop(), visit)
    return out


# -- primitives ---------------------------------------------------------------------------


@given(st.lists(dims, min_size=3, max_size=3), st.lists(dims, min_size=0, max_size=2))
def test_einsum_types_a_matrix_product(mkn: list[int], lead: list[int]) -> None:
    m, k, n = mkn
    box = P.matmul(R(*lead, m, k), R(k, n))
    assert box.cod == R(*lead, m, n) and box.dom == R(*lead, m, k) * R(k, n)
    assert box.attrs["cls"] == "bilinear"


@given(st.data())
def test_einsum_output_is_the_named_axes(data: st.DataObject) -> None:
    letters = data.draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=5, unique=True))
    size = {c: data.draw(dims) for c in letters}
    left = data.draw(st.lists(st.sampled_from(letters), min_size=1, unique=True))
    right = data.draw(st.lists(st.sampled_from(letters), min_size=1, unique=True))
    out = data.draw(st.permutations(sorted(set(left) | set(right))))
    out = out[: data.draw(st.integers(0, len(out)))]
    spec = f"{''.join(left)},{''.join(right)}->{''.join(out)}"
    box = P.einsum(spec, R(*(size[c] for c in left)), R(*(size[c] for c in right)))
    assert box.cod == R(*(size[c] for c in out))


def test_einsum_names_the_mismatch() -> None:
    with pytest.raises(TypeMismatch, match=r"axis j has size 3 in R\(2, 3\) and 4 in R\(4, 5\)"):
        P.einsum("ij,jk->ik", R(2, 3), R(4, 5))
    with pytest.raises(TypeMismatch, match="does not index the axes"):
        P.einsum("ijk,jk->ik", R(2, 3), R(3, 4))
    with pytest.raises(TypeMismatch, match="output 'iz'"):
        P.einsum("ij,jk->iz", R(2, 3), R(3, 4))
    with pytest.raises(TypeMismatch, match="expected a spec"):
        P.einsum("ij->i", R(2, 3), R(3, 4))


@given(shapes, st.data())
def test_broadcasting_binary_maps(shape: tuple[int, ...], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(shape)))
    suffix = tuple(1 if data.draw(st.booleans()) else n for n in shape[cut:])
    for make in (P.add, P.sub, P.mul, P.div):
        assert make(R(*shape), R(*suffix)).cod == R(*shape)
        assert make(R(*suffix), R(*shape)).cod == R(*shape)


def test_binary_maps_name_both_shapes_and_dtypes() -> None:
    with pytest.raises(TypeMismatch, match=r"add: shapes \(4, 3\) and \(5,\) do not broadcast"):
        P.add(R(4, 3), R(5))
    with pytest.raises(TypeMismatch, match="dtypes differ"):
        P.mul(R(3), R(3, dtype="float64"))
    with pytest.raises(TypeMismatch, match="expected a real array object"):
        P.relu(Fin(3, 2))


@given(shapes, st.data(), st.booleans())
def test_reductions_drop_or_keep_the_axis(shape: Any, data: st.DataObject, keep: bool) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    k = axis % len(shape)
    want = [1 if i == k else n for i, n in enumerate(shape) if keep or i != k]
    for make in (P.reduce_sum, P.reduce_mean, P.reduce_max):
        box = make(R(*shape), axis, keepdims=keep)
        assert box.cod == R(*want) and box.attrs["axis"] == k
    with pytest.raises(TypeMismatch, match="out of range"):
        P.reduce_sum(R(*shape), len(shape))


@given(shapes, st.data())
def test_reshape_transpose_broadcast_concat_take(shape: Any, data: st.DataObject) -> None:
    x = R(*shape)
    assert P.reshape(x, x.size).cod == R(x.size)
    with pytest.raises(TypeMismatch, match="entries"):
        P.reshape(x, x.size + 1)
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    assert P.transpose(x, perm).cod == R(*(shape[i] for i in perm))
    assert P.broadcast(x, 2, *shape).cod == R(2, *shape)
    axis = data.draw(st.integers(0, len(shape) - 1))
    other = R(*(3 if i == axis else n for i, n in enumerate(shape)))
    assert P.concat(x, other, axis).cod.shape[axis] == shape[axis] + 3
    index = data.draw(st.integers(0, shape[axis] - 1))
    assert P.take(x, index, axis).cod == R(*(n for i, n in enumerate(shape) if i != axis))


def test_windows_masks_gather_one_hot_full() -> None:
    assert P.conv(R(9, 9, 2), R(3, 3, 2, 4), stride=(2, 2)).cod == R(5, 5, 4)
    assert P.conv(R(9, 2), R(3, 2, 4), padding="VALID").cod == R(7, 4)
    with pytest.raises(TypeMismatch, match="c_in"):
        P.conv(R(9, 9, 2), R(3, 3, 3, 4))
    assert P.max_pool(R(9, 8, 3), (3, 2), (3, 2)).cod == R(3, 4, 3)
    with pytest.raises(TypeMismatch, match="larger than the input"):
        P.max_pool(R(2, 3), (4,))
    with pytest.raises(TypeMismatch, match="square"):
        P.causal_mask(R(3, 4))
    assert P.gather(R(10, 4), Fin(10, 2, 3)).cod == R(2, 3, 4)
    with pytest.raises(TypeMismatch, match="Fin"):
        P.gather(R(10, 4), Fin(9, 2))
    assert P.one_hot(Fin(5, 3)).cod == R(3, 5)
    assert P.full(R(2), 1.5).dom == One


def test_every_primitive_declares_a_class() -> None:
    for name, cls in P.PRIMITIVES.items():
        assert cls in (*P.CLASSES, "bilinear"), name
    made = [P.relu(R(2)), P.einsum("i,i->", R(2), R(2)), P.softmax(R(2)), P.full(R(2), 0)]
    for box in made:
        assert box.attrs["cls"] == P.PRIMITIVES[box.name]
    assert P.causal_mask(R(2, 2), fill=0.0).attrs["cls"] == "linear"


# -- layers -------------------------------------------------------------------------------


@given(dims, dims, st.lists(dims, max_size=2), st.booleans())
def test_linear_types_and_parameters(din: int, dout: int, lead: list[int], bias: bool) -> None:
    lin = nn.linear(din, dout, lead=lead, bias=bias, name="fc")
    assert (lin.dom, lin.cod) == (R(*lead, din), R(*lead, dout))
    params = lin.parameters()
    assert params["fc.w"].ob == R(din, dout)
    assert list(params) == (["fc.w", "fc.b"] if bias else ["fc.w"])
    assert lin.arrow.dom == lin.P * lin.dom and lin.arrow.name == "fc"


@given(st.lists(dims, min_size=2, max_size=5), st.sampled_from(nn.ACTIVATIONS))
def test_mlp_types_parameters_and_activations(sizes: list[int], act: str) -> None:
    net = nn.mlp(sizes, activation=act)
    assert (net.dom, net.cod) == (R(sizes[0]), R(sizes[-1]))
    assert len(net.parameters()) == 2 * (len(sizes) - 1)
    assert net.num_params() == sum(m * n + n for m, n in zip(sizes, sizes[1:], strict=False))
    names = [b.name for b in boxes_of(net.arrow)]
    assert names.count(act) == len(sizes) - 2


def test_activation_layers_are_parameter_free() -> None:
    for layer in (nn.relu(2, 3), nn.gelu(2, 3), nn.tanh(2, 3), nn.softmax(2, 3)):
        assert layer.parameters() == {} and layer.dom == layer.cod == R(2, 3)
    built = nn.softmax(2, 3, built=True)
    assert sorted(b.name for b in boxes_of(built.arrow)) == [
        "div", "exp", "reduce_max", "reduce_sum", "sub",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown 'swish'"):
        nn.activation("swish", 3)


def test_layer_norm_is_built_from_primitives() -> None:
    ln = nn.layer_norm(8, lead=(4,), eps=1e-6, name="ln1")
    assert (ln.dom, ln.cod) == (R(4, 8), R(4, 8))
    assert {k: repr(v.init) for k, v in ln.parameters().items()} == {
        "ln1.scale": "ones",
        "ln1.bias": "zeros",
    }
    names = [b.name for b in boxes_of(ln.arrow)]
    assert "rsqrt" in names and "reduce_mean" in names
    assert [b.attrs["value"] for b in boxes_of(ln.arrow) if b.name == "full"] == [1e-6]


def test_embedding_positional_and_the_copairing() -> None:
    emb = nn.embedding(65, 16, lead=(32,))
    assert (emb.dom, emb.cod) == (Fin(65, 32), R(32, 16))
    assert emb.parameters()["embed.table"].ob == R(65, 16)
    cases = nn.embedding_cases(4, 3)
    assert (cases.dom, cases.cod) == (nn.labels(4), R(3))
    assert [b.name for b in boxes_of(cases.arrow)].count("take") == 4
    pos = nn.positional(8, 4)
    assert (pos.dom, pos.cod, list(pos.parameters())) == (R(8, 4), R(8, 4), ["pos.table"])


def test_conv_and_pool_types() -> None:
    c2 = nn.conv((8, 8, 1), 4, (3, 3), stride=(2, 2))
    assert (c2.dom, c2.cod) == (R(8, 8, 1), R(4, 4, 4))
    assert c2.parameters()["conv2d.w"].ob == R(3, 3, 1, 4)
    c1 = nn.conv((16, 3), 5, (4,), padding="VALID", bias=False, name="c1")
    assert (c1.cod, list(c1.parameters())) == (R(13, 5), ["c1.w"])
    assert nn.max_pool((8, 8, 4), (2, 2)).cod == R(4, 4, 4)


def test_rnn_shares_one_set_of_weights_across_steps() -> None:
    r = nn.rnn(3, 4, 6, activation="relu")
    assert (r.dom, r.cod) == (R(6, 3), R(4))
    assert {k: v.ob for k, v in r.parameters().items()} == {
        "rnn.x.w": R(3, 4),
        "rnn.x.b": R(4),
        "rnn.h.w": R(4, 4),
    }
    assert [b.name for b in boxes_of(r.arrow)].count("relu") == 6  # unrolled, weights shared


def test_gcn_reads_a_global_adjacency() -> None:
    g = nn.gcn(5, 3, 4, name="g1") >> nn.gcn(5, 4, 2, name="g2")
    assert (g.dom, g.cod) == (R(5, 3), R(5, 2))
    assert g.actegory == nn.gcn(5, 1, 1).actegory
    cart = g.as_cartesian()
    assert cart.dom == R(5, 5) * R(5, 3)
    assert list(cart.parameters()) == ["g1.w", "g1.b", "g2.w", "g2.b"]


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.booleans())
def test_attention_types_and_parameters(seq: int, dh: int, heads: int, causal: bool) -> None:
    d = dh * heads
    a = nn.attention(seq, d, heads, causal=causal)
    assert (a.dom, a.cod) == (R(seq, d), R(seq, d))
    params = a.parameters()
    assert list(params) == [f"attn.{w}.{x}" for w in "qkvo" for x in "wb"]
    assert all(params[f"attn.{w}.w"].ob == R(d, d) for w in "qkvo")
    names = [b.name for b in boxes_of(a.arrow)]
    assert names.count("causal_mask") == int(causal) and names.count("softmax") == 1
    assert "attention" not in names  # no attention primitive: choose ; ev


def test_attention_is_choose_then_ev() -> None:
    a = nn.attention(4, 6, 2)
    evs: list[Ev] = []
    fold(a.arrow.body, lambda n, k: evs.append(n) if isinstance(n, Ev) else None)
    assert len(evs) == 1 and evs[0].obs == (R(4, 2, 3), R(4, 2, 3))
    with pytest.raises(ValueError, match="not divisible"):
        nn.attention(4, 6, 4)


def test_multi_head_is_a_product_of_heads() -> None:
    heads = [nn.attention(3, 4, name=f"h{i}") for i in range(3)]
    mh = nn.multi_head(heads)
    assert (mh.dom, mh.cod) == (R(3, 4), R(3, 12))
    assert len(mh.parameters()) == 3 * 8
    with pytest.raises(ValueError, match="at least one"):
        nn.multi_head([])


def test_transformer_follows_the_contract() -> None:
    lm = nn.transformer(vocab=65, seq=16, d=32, heads=4, layers=3, mlp_ratio=2)
    assert (lm.dom, lm.cod) == (Fin(65, 16), R(16, 65))
    ps = lm.parameters()
    shapes = {k: v.ob for k, v in ps.items()}
    assert shapes["embed.table"] == R(65, 32) and shapes["pos.table"] == R(16, 32)
    assert shapes["blocks.attn.v.w"] == R(3, 32, 32) and shapes["blocks.attn.v.b"] == R(3, 32)
    assert shapes["blocks.mlp.fc1.w"] == R(3, 32, 64) and shapes["blocks.mlp.fc2.w"] == R(3, 64, 32)
    assert shapes["ln_f.scale"] == R(32) and shapes["head.w"] == R(32, 65)
    assert all(v.stacked == 1 for k, v in ps.items() if k.startswith("blocks."))
    inits = {k: repr(v.init) for k, v in ps.items()}
    small = [k for k in ps if k.endswith((".w", ".table"))]
    assert {inits[k] for k in small} == {"normal(0.02)"}
    assert {inits[k] for k in ps if k.endswith((".b", ".bias"))} == {"zeros"}
    assert {inits[k] for k in ps if k.endswith(".scale")} == {"ones"}
    blocks = [b for b in boxes_of(lm.arrow) if b.name == "causal_mask"]
    assert len(blocks) == 1  # one block body, scanned 3 times
    repeats: list[Repeat] = []
    fold(lm.arrow, lambda n, k: repeats.append(n) if isinstance(n, Repeat) else None)
    assert [r.n for r in repeats] == [3]
    params_per_layer = 4 * (32 * 32 + 32) + 2 * 32 * 64 + 64 + 32 + 4 * 32
    assert lm.num_params() == 65 * 32 + 16 * 32 + 3 * params_per_layer + 2 * 32 + 32 * 65 + 65


def _all_boxes(f: Arrow) -> list[Box]:
    out: list[Box] = []
    fold(f, lambda n, k: out.append(n) if isinstance(n, Box) else None)
    return out


def test_transformer_block_is_repeatable_and_names_are_checked() -> None:
    blk = nn.transformer_block(4, 8, 2)
    assert blk.dom == blk.cod == R(4, 8)
    deep = repeat(blk, 5).named("blocks")
    assert deep.parameters()["blocks.ln1.scale"].ob == R(5, 8)
    with pytest.raises(ValueError, match="primitive box"):
        nn.linear(2, 2, name="relu")
    with pytest.raises(TypeError, match="without dots"):
        nn.linear(2, 2, name="a.b")
    with pytest.raises(TypeError, match="positive int"):
        nn.linear(0, 2)


def test_grouped_names_a_sub_diagram_and_keeps_frozen_parameters() -> None:
    inner = nn.linear(2, 3, name="fc")
    g = nn.grouped("enc", inner)
    assert g.arrow.name == "enc" and g.arrow.body == inner.arrow
    assert list(g.parameters()) == ["enc.fc.w", "enc.fc.b"]
    assert list(nn.grouped("enc", inner, prefix=False).parameters()) == ["fc.w", "fc.b"]
    frozen = nn.grouped("enc", inner.freeze("fc.w"))
    assert list(frozen.parameters()) == ["enc.fc.b"]
    assert list(frozen.constants()) == ["enc.fc.w"]


def test_diagrams_round_trip_through_json() -> None:
    for p in (nn.transformer(11, 4, 8, 2, 2), nn.rnn(2, 3, 3), nn.conv((6, 6, 1), 2, (3, 3))):
        assert serial.loads(serial.dumps(p)) == p


# -- the paper's verdicts, on the vocabulary ----------------------------------------------


def test_relu_networks_are_first_order_pl() -> None:
    cnn = (
        nn.conv((8, 8, 1), 4, (3, 3))
        >> nn.relu(8, 8, 4)
        >> nn.max_pool((8, 8, 4), (2, 2))
        >> Para.lift(P.reshape(R(4, 4, 4), 64))
        >> nn.linear(64, 10, name="out")
    )
    for net in (nn.mlp([4, 8, 8, 2]), cnn, nn.rnn(3, 4, 5, activation="relu")):
        report = analyze(net)
        assert (report.order, report.cls, report.lives_in) == ("first", "pl", "PL pretopos")


def test_gcn_is_pl_with_the_adjacency_global_and_polynomial_with_it_as_input() -> None:
    g = nn.gcn(5, 3, 4, name="g1") >> nn.gcn(5, 4, 2, name="g2")
    report = analyze(g)
    assert (report.order, report.cls, report.lives_in) == ("first", "pl", "PL pretopos")
    assert analyze(g.as_cartesian()).cls == "polynomial"  # Â X with Â an input is bilinear


def test_smooth_layers_are_first_order_smooth() -> None:
    for net in (nn.mlp([3, 4, 2], activation="gelu"), nn.rnn(2, 3, 2)):
        report = analyze(net)
        assert (report.order, report.cls) == ("first", "smooth")
    # normalisation multiplies x by 1/rms(x): an input-chosen diagonal map
    report = analyze(nn.layer_norm(4))
    assert (report.order, report.cls, report.lives_in) == ("diagonal", "smooth", "smooth maps")


def test_attention_and_the_transformer_are_higher_order() -> None:
    for p in (nn.attention(4, 6, 2, causal=True), nn.transformer(11, 4, 8, 2, 1)):
        report = analyze(p)
        assert (report.order, report.lives_in) == ("higher", "topos completion")
        assert report.witnesses[0].kind == "order" and isinstance(report.witnesses[0].arrow, Ev)


def test_linear_attention_is_cubic() -> None:
    lin = nn.attention(4, 6, 2, causal=True, softmax=False, bias=False)
    report = analyze(lin)
    assert (report.order, report.cls, report.degree) == ("higher", "polynomial", 3)


def test_square_is_degree_two() -> None:
    report = analyze(copy(R(3)) >> P.mul(R(3), R(3)))
    assert (report.cls, report.degree) == ("polynomial", 2)


def test_no_layer_uses_an_undeclared_box() -> None:
    nets = [nn.transformer(5, 3, 4, 2, 1), nn.rnn(2, 2, 2), nn.conv((4, 2), 2, (3,))]
    for net in nets:
        names = {b.name for b in boxes_of(net.arrow)}
        assert names <= set(P.PRIMITIVES), names - set(P.PRIMITIVES)
