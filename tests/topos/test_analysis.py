"""analyze(): order, class of maps and where a diagram lives, on hand-built diagrams."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from topos import Box, Id, One, R, copair, copy, curry, discard, ev, inl, pair
from topos.analysis import CLASSES, analyze, declare, declared, locate
from topos.arrows import Repeat, group

X = R(3)
M = R(3, 3)
relu = Box("relu", X, X, cls="pl")
lin = Box("lin", X, X, cls="linear")
tanh = Box("tanh", X, X, cls="smooth")
square = Box("square", X, X, cls="polynomial", degree=2)
mix = Box("mix", M * X, X, cls="bilinear")
scores = Box("scores", X, M, cls="smooth")

BOXES = {"linear": lin, "pl": relu, "polynomial": square, "smooth": tanh}


def attention(chooser: Box) -> Box:
    return copy(X) >> (chooser >> curry(mix)) * Id(X) >> ev(X, X)


def test_relu_network_is_first_order_pl() -> None:
    report = analyze(lin >> relu >> lin >> relu)
    assert (report.order, report.cls, report.lives_in) == ("first", "pl", "PL pretopos")
    assert report.witnesses[0].arrow == relu


def test_attention_is_higher_order_with_ev_witness() -> None:
    f = lin >> attention(scores) >> relu
    report = analyze(f)
    assert report.order == "higher" and report.lives_in == "topos completion"
    order = [w for w in report.witnesses if w.kind == "order"][0]
    assert locate(f, order.path) == ev(X, X)


def test_feed_forward_via_curry_of_parameters_is_first_order() -> None:
    """An ev of a function fixed by constants (no input in the closure) is first order."""
    weights = Box("weights", X, M, cls="linear")
    const_fn = pair(discard(X) >> Box("c", One, M), Id(X))
    f = const_fn >> (curry(mix) * Id(X)) >> ev(X, X)
    report = analyze(f)
    assert report.order == "first"
    assert report.cls == "linear"
    # but when the chosen matrix depends on the input, it is higher order
    g = pair(weights >> curry(mix), Id(X)) >> ev(X, X)
    assert analyze(g).order == "higher"


def test_linear_attention_is_cubic() -> None:
    gram = Box("gram", X * X, M, cls="bilinear")
    f = copy(X) >> (copy(X) >> gram >> curry(mix)) * Id(X) >> ev(X, X)
    report = analyze(f)
    assert (report.cls, report.degree) == ("polynomial", 3)


def test_parameters_are_external() -> None:
    """A smooth map of the parameters alone does not make the network smooth."""
    from topos.para import Para

    P = M
    f = (Box("softmax_w", P, P, cls="smooth") * Id(X)) >> mix >> relu
    report = analyze(Para(P, f))
    assert report.cls == "pl" and report.order == "first"
    assert analyze(f).cls == "smooth"  # as a plain arrow the weights are inputs


def test_undeclared_boxes_count_as_smooth_and_are_reported() -> None:
    report = analyze(Box("mystery", X, X))
    assert report.cls == "smooth"
    assert any("undeclared" in w.reason for w in report.witnesses)
    declare("mystery2", "pl")
    assert declared("mystery2") == "pl" and analyze(Box("mystery2", X, X)).cls == "pl"
    with pytest.raises(ValueError, match="class must be one of"):
        declare("bad", "wiggly")


def test_coproducts_and_named_bodies() -> None:
    f = inl(X, X) >> copair(relu, lin)
    assert analyze(f).cls == "pl"
    named = group("block", lin >> tanh)
    report = analyze(named >> relu)
    assert report.cls == "smooth"
    assert locate(named >> relu, report.witnesses[0].path) == tanh
    assert report.witnesses[0].where == "block"
    assert str(report.witnesses[0]) == "class: smooth box tanh, in block"
    # a box merely named like a layer, with a body attribute, is a plain box now
    plain = analyze(Box("block", X, X, body=lin >> tanh))
    assert any(w.reason.startswith("undeclared box block") for w in plain.witnesses)


def test_repeat_box_is_analysed_through_its_body() -> None:
    body = (Id(M) * Id(X)) >> mix >> relu
    rep = Repeat(body, 4)
    report = analyze(rep)
    assert report.cls == "polynomial"  # the stacked weights are inputs of a plain arrow
    assert report.witnesses[0].path[:1] == ("body",)


@given(st.lists(st.sampled_from(sorted(BOXES)), min_size=1, max_size=6))
def test_class_of_a_chain_is_the_join(names: list[str]) -> None:
    f = BOXES[names[0]]
    for name in names[1:]:
        f = f >> BOXES[name]
    expected = max(names, key=CLASSES.index)
    report = analyze(f)
    assert report.cls == expected
    assert report.order == "first"
    assert (report.lives_in == "PL pretopos") == (CLASSES.index(expected) <= 1)


@given(st.sampled_from(sorted(BOXES)), st.sampled_from(sorted(BOXES)))
def test_class_of_a_pair_is_the_join(a: str, b: str) -> None:
    f = pair(BOXES[a], BOXES[b])
    assert analyze(f).cls == max(a, b, key=CLASSES.index)


def test_a_600_layer_unrolled_para_is_analysed_without_recursion_error() -> None:
    from topos.nn import linear, residual
    from topos.nn import tanh as tanh_layer
    from topos.para import repeat, unroll

    deep = unroll(repeat(residual(linear(2, 2) >> tanh_layer(2)), 600))
    report = analyze(deep)
    assert (report.cls, report.order) == ("smooth", "first")


def test_a_deep_para_is_analysed_on_a_deep_stack() -> None:
    # Issue 11, item 3: the abstract input of a Para (its parameter object is a product
    # as deep as the model) was built before the deep stack was set up: RecursionError
    # for a 2,000-layer unrolled Para.
    from topos.nn import linear, tanh
    from topos.para import repeat, unroll

    report = analyze(unroll(repeat(linear(2, 2) >> tanh(2), 2_000)))
    assert (report.order, report.cls) == ("first", "smooth")


def test_nested_curries_are_analysed_in_linear_memory() -> None:
    # Issue 22, item 8: each curry copied its path (a tuple as long as the nesting) into
    # the closure it made: 10,000 nested curries took 22.8 s and 10 GB. Places in the
    # diagram now share their prefixes; a witness's path is written out when reported.
    import tracemalloc

    n = 3_000
    x = R(2)
    for _ in range(n):
        x = x * R(1)
    f = Box("m", x, R(2))
    for _ in range(n):
        f = curry(f)
    tracemalloc.start()
    try:
        report = analyze(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB"  # quadratic: 36 MiB of paths alone
    (witness,) = report.witnesses
    assert witness.path == (0,) * n and locate(f, witness.path) == Box("m", x, R(2))
