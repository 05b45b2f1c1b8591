"""Actegories and Para: laws (symbolic and in finite sets), parameters, 2-cells, repeat."""

from __future__ import annotations

import itertools
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topos
from topos import Box, Fin, Id, One, R, TypeMismatch, copy, discard, equal, fst, pair, snd, swap
from topos.arrows import Const, Layer, Repeat
from topos.finite import FinSet, random_model
from topos.functor import Free, Functor
from topos.para import (
    CARTESIAN,
    Actegory,
    Frozen,
    Global,
    Init,
    Para,
    Param,
    canonical_iso,
    constant,
    equal_up_to,
    fanout,
    glorot_uniform,
    isomorphic,
    normal,
    ones,
    repeat,
    uniform,
    unroll,
    zeros,
)
from topos.testing import Semantics
from topos.testing.para import (
    PARA_ATOMS,
    check_actegory,
    check_para,
    composable_paras,
)

SMALL = st.sampled_from(PARA_ATOMS)
# Each suite states ~14 laws; 15 examples per law and semantics keeps the file fast.
LAWS = settings(max_examples=15)


def finite_sets() -> Semantics:
    return Semantics.random(
        lambda seed: random_model(seed, max_size=2), objects=SMALL, max_depth=1, name="finite sets"
    )


def symbolic() -> Semantics:
    return Semantics.symbolic(objects=SMALL, max_depth=1)


# ---------------------------------------------------------------------------------
# Laws, stated once in topos.testing.para


@pytest.mark.parametrize("act", [CARTESIAN, Global(R(2))], ids=["cartesian", "global"])
def test_actegory_laws_symbolic(act: Actegory) -> None:
    assert "actegory.pentagon" in check_actegory(symbolic(), act, settings=LAWS)


@pytest.mark.parametrize("act", [CARTESIAN, Global(R(2))], ids=["cartesian", "global"])
def test_actegory_laws_in_finite_sets(act: Actegory) -> None:
    assert "actegory.triangle_left" in check_actegory(finite_sets(), act, settings=LAWS)


@pytest.mark.parametrize("act", [CARTESIAN, Global(R(1))], ids=["cartesian", "global"])
def test_para_laws_symbolic(act: Actegory) -> None:
    assert "para.assoc" in check_para(symbolic(), act, settings=LAWS)


@pytest.mark.parametrize("act", [CARTESIAN, Global(R(1))], ids=["cartesian", "global"])
def test_para_laws_in_finite_sets(act: Actegory) -> None:
    assert "para.interchange" in check_para(finite_sets(), act, settings=LAWS)


def test_a_wrong_multiplicator_breaks_the_pentagon() -> None:
    """The law suite can fail: an actegory whose μ swaps P and Q is caught."""

    class Opaque(type(CARTESIAN)):  # type: ignore[misc]
        def multiplicator(self, p: Any, q: Any, a: Any) -> Any:
            return Box("mu", (p * q) * a, p * (q * a))

    bad = object.__new__(Opaque)
    with pytest.raises(AssertionError, match="actegory.multiplicator"):
        check_actegory(symbolic(), bad)


@given(composable_paras(3))
def test_composite_lists_first_layer_first(ps: tuple[Para, ...]) -> None:
    p, q, r = ps
    left, right = (p >> q) >> r, p >> (q >> r)
    expected = [*p.parameters(), *q.parameters(), *r.parameters()]
    assert list(left.parameters()) == list(right.parameters()) == expected
    assert left.P == (p.P * q.P) * r.P and right.P == p.P * (q.P * r.P)
    assert isomorphic(left, right)


@given(composable_paras(2, actegory=CARTESIAN))
def test_cartesian_composite_is_the_general_formula(ps: tuple[Para, ...]) -> None:
    p, q = ps
    general = Actegory.para_compose(CARTESIAN, p.P, q.P, p.dom, p.arrow, q.arrow)
    assert equal((p >> q).arrow, general)


@given(composable_paras(2))
def test_composite_runs_each_layer_on_its_own_parameters(ps: tuple[Para, ...]) -> None:
    """(p >> q)(P, Q; a) = q(Q; p(P; a)) exactly, in a finite model."""
    p, q = ps
    cp, cq, cpq = p.as_cartesian(), q.as_cartesian(), (p >> q).as_cartesian()
    F = random_model(seed=len(repr(p)), max_size=2)
    run_p, run_q, run_pq = F(cp.arrow), F(cq.arrow), F(cpq.arrow)
    x_set = F(cp.dom)
    for vp, vq, x in itertools.islice(
        itertools.product(F(p.P).elements, F(q.P).elements, x_set.elements), 50
    ):
        if isinstance(p.actegory, Global):  # x = (e, a): every layer reads the same e
            e, _ = x
            assert run_pq(((vp, vq), x)) == run_q((vq, (e, run_p((vp, x)))))
        else:
            assert run_pq(((vp, vq), x)) == run_q((vq, run_p((vp, x))))


@given(composable_paras(1))
def test_fanout_runs_both_on_the_same_input(ps: tuple[Para, ...]) -> None:
    """(p & q)(P, Q; a) = (p(P; a), q(Q; a)) exactly, in a finite model."""
    (p,) = ps
    q = p.named("twin")
    both = p & q
    assert list(both.parameters()) == [*p.parameters(), *q.parameters()]
    assert (both.dom, both.cod, both.P) == (p.dom, p.cod * q.cod, p.P * q.P)
    cp, cq, cpq = p.as_cartesian(), q.as_cartesian(), both.as_cartesian()
    F = random_model(seed=len(repr(p)), max_size=2)
    run_p, run_q, run_pq = F(cp.arrow), F(cq.arrow), F(cpq.arrow)
    for vp, vq, x in itertools.islice(
        itertools.product(F(p.P).elements, F(q.P).elements, F(cp.dom).elements), 50
    ):
        assert run_pq(((vp, vq), x)) == (run_p((vp, x)), run_q((vq, x)))


# ---------------------------------------------------------------------------------
# Initialisers and parameters


def test_init_values() -> None:
    inits = [normal(0.02), zeros, ones, uniform(0.5), glorot_uniform, constant(1.5)]
    names = {"normal": normal, "zeros": zeros, "ones": ones, "uniform": uniform}
    names |= {"glorot_uniform": glorot_uniform, "constant": constant}
    for x in inits:
        assert eval(repr(x), names) == x
        assert hash(eval(repr(x), names)) == hash(x)
        assert pickle.loads(pickle.dumps(x)) == x
    assert len(set(inits)) == 6
    assert normal(0.02) != normal(0.03) and zeros != ones
    assert (normal(0.02).kind, normal(0.02).args) == ("normal", (0.02,))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Init("gaussian", 1.0), "unknown kind 'gaussian'"),
        (lambda: Init("normal"), "expected 1 numeric argument"),
        (lambda: Init("zeros", 1.0), "expected 0 numeric argument"),
        (lambda: normal("big"), "arguments must be numbers"),  # type: ignore[arg-type]
        (lambda: Param("", R(2), zeros), "non-empty string"),
        (lambda: Param("w", R(2) * R(3), zeros), "must be a leaf"),
        (lambda: Param("w", One, zeros), "must be a leaf"),
        (lambda: Param("w", R(2), "zeros"), "expected an Init"),  # type: ignore[arg-type]
    ],
)
def test_bad_declarations_are_named(make: Any, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def test_params_forms() -> None:
    P = R(3, 4) * (One * R(4))
    f = Box("affine", P * R(3), R(4))
    default = Para(P, f)
    assert default.parameters() == {
        "p0": Param("p0", R(3, 4), normal(1.0)),
        "p1": Param("p1", R(4), normal(1.0)),
    }
    by_path = Para(P, f, ["w", "b"])
    by_init = Para(P, f, {"w": glorot_uniform, "b": zeros})
    by_param = Para(P, f, [Param("w", R(3, 4), glorot_uniform), Param("b", R(4), zeros)])
    assert list(by_path.parameters()) == ["w", "b"]
    assert by_init == by_param != by_path
    assert by_init.parameters()["w"].init == glorot_uniform
    assert Para(by_init.P, by_init.arrow, by_init.params) == by_init


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        (["w"], ValueError, "1 params given, but the parameter object .* has 2 leaves"),
        ([Param("w", R(4), zeros), "b"], TypeMismatch, "'w' is declared R\\(4\\), .* R\\(3, 4\\)"),
        (["w", "w"], ValueError, "'w' is declared twice"),
        ({"w": Param("v", R(3, 4), zeros), "b": zeros}, ValueError, "key 'w' holds .* 'v'"),
        ({"w": 0.02, "b": zeros}, TypeError, "params\\['w'\\]"),
        ("wb", TypeError, "params as a sequence"),
    ],
)
def test_params_checked_against_the_leaves(params: Any, error: type, message: str) -> None:
    P = R(3, 4) * R(4)
    with pytest.raises(error, match=message):
        Para(P, Box("affine", P * R(3), R(4)), params)


def test_arrow_must_take_the_parameters() -> None:
    with pytest.raises(TypeMismatch, match="P \\* A with P = R\\(3, 4\\),\ngot R\\(3\\)"):
        Para(R(3, 4), Box("f", R(3), R(4)))
    with pytest.raises(TypeError, match="expected an arrow"):
        Para(R(3), "f")  # type: ignore[arg-type]
    with pytest.raises(TypeMismatch, match="R\\(5\\) \\* \\(P \\* A\\)"):
        Para(R(3), Box("f", R(3) * R(2), R(2)), actegory=Global(R(5)))


# ---------------------------------------------------------------------------------
# Composition, tensor, mixing, names

A, B, C = R(3), R(4), R(2)


def lin(name: str, dom: Any, cod: Any, path: str = "w") -> Para:
    w = R(*dom.shape, *cod.shape)
    return Para(w, Box(name, w * dom, cod), {path: glorot_uniform})


def test_collision_names_the_path_and_the_fix() -> None:
    f = lin("f", A, A)
    with pytest.raises(ValueError, match="'w' occurs on both sides;\nname the layers apart"):
        f >> f
    with pytest.raises(ValueError, match="'w'"):
        f * f
    both = f.named("a") >> f.named("b")
    assert list(both.parameters()) == ["a.w", "b.w"]
    with pytest.raises(ValueError, match="'a.w'"):
        both >> f.named("a")
    assert list((both >> f.named("c")).parameters()) == ["a.w", "b.w", "c.w"]
    # The failed composite left no trace: branching from `both` again is fine.
    assert list((both >> f.named("d")).parameters()) == ["a.w", "b.w", "d.w"]


def test_type_errors_name_both_types() -> None:
    f, g = lin("f", A, B), lin("g", A, C, "v")
    with pytest.raises(TypeMismatch, match="codomain R\\(4\\) does not match domain R\\(3\\)"):
        f >> g
    with pytest.raises(TypeMismatch, match="codomain R\\(4\\) does not match domain R\\(2\\)"):
        f >> Box("h", C, C)
    with pytest.raises(TypeMismatch, match="codomain R\\(2\\) does not match domain R\\(3\\)"):
        Box("h", C, C) >> f
    with pytest.raises(TypeMismatch, match="different actegories"):
        f >> Para.lift(Id(B), Global(R(1)))
    with pytest.raises(TypeError, match="expected a Para or an arrow"):
        f >> 3  # type: ignore[operator]


def test_mixing_arrows_keeps_the_parameters() -> None:
    f, relu = lin("f", A, B), Box("relu", B, B)
    pre = Box("norm", A, A)
    for p in (f >> relu, pre >> f, f * relu, relu * f):
        assert list(p.parameters()) == ["w"]
        assert p.P == f.P
    assert (f * relu).dom == A * B and (relu * f).dom == B * A
    assert isomorphic(f >> relu, f >> Para.lift(relu))
    assert isomorphic(pre >> f, Para.lift(pre) >> f)
    assert isomorphic(f * relu, f * Para.lift(relu))
    assert isomorphic(relu * f, Para.lift(relu) * f)


def test_fanout_checks_domains_and_names() -> None:
    f, g = lin("f", A, B, "a"), lin("g", A, C, "b")
    assert (f & g).cod == B * C and list((f & g).parameters()) == ["a", "b"]
    three = fanout(f, g, Id(A))
    assert (three.dom, three.cod, list(three.parameters())) == (A, B * C * A, ["a", "b"])
    assert (Id(A) & f).cod == A * B
    with pytest.raises(ValueError, match="&: the parameter path 'a' occurs on both sides"):
        f & f
    with pytest.raises(TypeMismatch, match="one domain, got R\\(3\\) and R\\(2\\)"):
        f & lin("h", C, C, "c")
    with pytest.raises(TypeError, match="at least two"):
        fanout(f)


def test_tensor_lists_left_first() -> None:
    f, g = lin("f", A, B, "a"), lin("g", C, A, "b")
    both = f * g
    assert (both.dom, both.cod, both.P) == (A * C, B * A, f.P * g.P)
    assert list(both.parameters()) == ["a", "b"]


def test_named_prefixes_every_path_and_constant() -> None:
    f = lin("f", A, A) >> lin("g", A, A, "v")
    frozen = f.freeze("w").named("enc")
    assert list(frozen.parameters()) == ["enc.v"] and list(frozen.constants()) == ["enc.w"]
    (const,) = _consts(frozen.arrow)
    assert const.value.path == "enc.w" and str(const) == "enc.w"
    with pytest.raises(TypeError, match="non-empty string"):
        f.named("")


def _boxes(f: Any) -> list[Box]:
    from topos.arrows import fold

    return fold(f, lambda node, kids: [node] if isinstance(node, Box) else sum(kids, []))


def _consts(f: Any) -> list[Const]:
    from topos.arrows import fold

    return fold(f, lambda node, kids: [node] if isinstance(node, Const) else sum(kids, []))


def test_values_eq_hash_repr_pickle() -> None:
    G = Global(R(2, 2))
    gp = Para(R(2), Box("f", R(2, 2) * (R(2) * R(3)), R(3)), ["w"], actegory=G)
    p = (lin("f", A, B).named("l1") >> Box("relu", B, B) >> lin("g", B, C).named("l2")).freeze(
        "l1.w"
    )
    scope = {
        "Para": Para,
        "Param": Param,
        "Box": Box,
        "R": R,
        "One": One,
        "Global": Global,
        **{
            k: v
            for k, v in vars(__import__("topos.arrows").arrows).items()
            if not k.startswith("_")
        },
        **{k: v for k, v in vars(__import__("topos.para").para).items() if not k.startswith("_")},
    }
    for x in (p, gp, Para.lift(Id(A))):
        assert eval(repr(x), scope) == x
        assert hash(eval(repr(x), scope)) == hash(x)
        assert pickle.loads(pickle.dumps(x)) == x
    assert p != p.named("x") and gp != gp.as_cartesian()
    assert {p, p, gp} == {p, gp}
    assert str(gp) == "Para(w: R(2); R(3) -> R(3) over Global(R(2, 2)))"
    assert repr(G) == "Global(R(2, 2))" and G == Global(R(2, 2)) != Global(R(2))
    assert pickle.loads(pickle.dumps(CARTESIAN)) is CARTESIAN


def test_str_and_summary() -> None:
    many = lin("f", A, A, "a0")
    for i in range(1, 8):
        many = many >> lin("f", A, A, f"a{i}")
    assert str(many).endswith("a5: R(3, 3), … 2 more; R(3) -> R(3))")
    text = many.summary().splitlines()
    assert text[0] == "Para: R(3) -> R(3)" and text[-1] == "72 parameters"
    assert len(text) == 10


def test_functor_maps_a_para_through_its_arrow() -> None:
    p = lin("f", A, B) >> Box("relu", B, B)
    F = Functor(ob=lambda x: x, ar=lambda b: b, cod=Free())
    assert F(p) == F(p.arrow) == p.arrow
    S = random_model(seed=3)
    assert S(p) == S(p.arrow)


# ---------------------------------------------------------------------------------
# unflatten: how a backend feeds the P input


def test_unflatten_builds_the_value_of_P() -> None:
    p = Para.lift(Id(A)) >> lin("f", A, B, "a") >> lin("g", B, C, "b")
    assert p.P == (One * R(3, 4)) * R(4, 2)
    assert p.unflatten({"a": 1, "b": 2, "frozen": 9}) == (((), 1), 2)
    assert p.unflatten({"a": 1, "b": 2}, pair=list, unit=None) == [[None, 1], 2]
    with pytest.raises(KeyError, match="'b' \\(R\\(4, 2\\)\\)"):
        p.unflatten({"a": 1})


@given(composable_paras(3))
def test_unflatten_feeds_the_arrow(ps: tuple[Para, ...]) -> None:
    """The value unflatten builds is an element of P in a finite model, leaves in place."""
    p = ps[0] >> ps[1] >> ps[2]
    F = random_model(seed=7, max_size=2)
    leaves = {path: F(x.ob).elements[0] for path, x in p.parameters().items()}
    value = p.unflatten(leaves)
    assert value in F(p.P)
    F(p.as_cartesian().arrow)((value, F(p.as_cartesian().dom).elements[0]))


# ---------------------------------------------------------------------------------
# Reparametrisation: tie, freeze


def test_reparam_checks_and_names() -> None:
    f = lin("f", A, A)
    sym = Box("sym", R(3, 3), R(3, 3))
    assert f.reparam(sym).parameters() == f.parameters()
    two = Box("sum", R(3, 3) * R(3, 3), R(3, 3))
    assert list(f.reparam(two).parameters()) == ["p0", "p1"]
    assert list(f.reparam(two, ["u", "v"]).parameters()) == ["u", "v"]
    with pytest.raises(TypeMismatch, match="codomain R\\(3\\) is not the parameter object"):
        f.reparam(Box("bad", R(3), R(3)))
    assert equal_up_to(f, f.reparam(two), two)
    assert not equal_up_to(f, f.reparam(two), Box("other", R(3, 3) * R(3, 3), R(3, 3)))
    with pytest.raises(TypeMismatch, match="r must be an arrow"):
        equal_up_to(f, f.reparam(two), sym)


def autoencoder() -> Para:
    W = R(3, 2)
    enc = Para(W, Box("matmul", W * R(3), R(2)), {"enc.w": normal(0.02)})
    dec = Para(W, Box("matmul_t", W * R(2), R(3)), {"dec.w": normal(0.02)})
    return enc >> Box("relu", R(2), R(2)) >> dec


def test_tie_is_reparametrisation_along_the_diagonal() -> None:
    net = autoencoder()
    r, tied = net.tie_along("enc.w", "dec.w")
    assert r == copy(R(3, 2))
    assert list(tied.parameters()) == ["enc.w"] and tied.P == R(3, 2)
    assert equal_up_to(net, tied, copy(R(3, 2)))
    F = random_model(seed=11, max_size=2)
    run, run_tied = F(net.arrow), F(tied.arrow)
    for w, x in itertools.product(F(R(3, 2)).elements, F(R(3)).elements):
        assert run_tied((w, x)) == run(((w, w), x))


def test_tie_in_a_deeper_tree_and_via_a_map() -> None:
    W, V = R(3, 2), R(2, 3)
    p = Para(
        (R(1) * W) * (One * (V * R(2))),
        Box("f", ((R(1) * W) * (One * (V * R(2)))) * A, A),
        ["a", "enc", "dec", "b"],
    )
    t = Box("transpose", W, V)
    r, tied = p.tie_along("enc", "dec", via=t)
    assert list(tied.parameters()) == ["a", "enc", "b"]
    assert (r.dom, r.cod) == (tied.P, p.P)
    F = random_model(seed=4, max_size=2)
    run, run_tied, T = F(p.arrow), F(tied.arrow), F(t)
    sets = {path: F(x.ob).elements for path, x in tied.parameters().items()}
    for va, ve, vb, x in itertools.product(*sets.values(), F(A).elements):
        before = p.unflatten({"a": va, "enc": ve, "dec": T(ve), "b": vb})
        after = tied.unflatten({"a": va, "enc": ve, "b": vb})
        assert run_tied((after, x)) == run((before, x))
    with pytest.raises(TypeMismatch, match="'enc' is R\\(3, 2\\) but 'dec' is R\\(2, 3\\)"):
        p.tie("enc", "dec")
    with pytest.raises(KeyError, match="no parameter 'nope'"):
        p.tie("nope", "dec")
    with pytest.raises(ValueError, match="with itself"):
        p.tie("a", "a")
    with pytest.raises(TypeMismatch, match="via must be an arrow R\\(3, 2\\) -> R\\(2, 3\\)"):
        p.tie("enc", "dec", via=Id(W))


def test_freeze_is_reparametrisation_along_a_constant() -> None:
    net = autoencoder()
    frozen = net.freeze("enc.w")
    assert list(frozen.parameters()) == ["dec.w"] and frozen.P == R(3, 2)
    assert frozen.constants() == {"enc.w": Param("enc.w", R(3, 2), normal(0.02))}
    w0 = (0, 1)  # any hashable stands for the frozen array in a finite model
    fixed = net.freeze("enc.w", value=w0)
    const = Const(R(3, 2), Frozen("enc.w", normal(0.02), value=w0), "enc.w")
    F = random_model(seed=5, max_size=2, ob={R(3, 2): [w0, (1, 0)]}, ar={const: lambda _: w0})
    run, run_fixed = F(net.arrow), F(fixed.arrow)
    for w, x in itertools.product(F(R(3, 2)).elements, F(R(3)).elements):
        assert run_fixed((w, x)) == run(((w0, w), x))
    # A prefix freezes a whole layer; the rest is untouched.
    both = net.named("ae").freeze("ae")
    assert both.parameters() == {} and list(both.constants()) == ["ae.enc.w", "ae.dec.w"]
    with pytest.raises(KeyError, match="no parameter at or under 'ae.x'"):
        net.named("ae").freeze("ae.x")
    with pytest.raises(ValueError, match="a value fixes one parameter"):
        net.named("ae").freeze("ae", value=1)
    with pytest.raises(TypeError, match="hashable"):
        net.freeze("enc.w", value=[1, 2])
    with pytest.raises(ValueError, match="'enc.w' occurs on both sides"):
        frozen >> Para(R(3, 3), Box("m", R(3, 3) * R(3), R(3)), ["enc.w"])


# ---------------------------------------------------------------------------------
# Equality up to 2-cells


def test_isomorphic_is_not_trivial() -> None:
    f, g = lin("f", A, A, "a"), lin("g", A, A, "b")
    assert isomorphic((f >> g) >> f.named("c"), f >> (g >> f.named("c")))
    assert not isomorphic(f >> g, g.named("x") >> f.named("y"))  # arrows differ
    # Swapping the two weights is a 2-cell, but not a canonical one.
    swapped = (f * g).reparam(swap(f.P, g.P))
    assert not isomorphic(f * g, swapped) and equal_up_to(f * g, swapped, swap(f.P, g.P))
    with pytest.raises(TypeMismatch, match="not parallel"):
        isomorphic(f, lin("h", A, B))
    assert canonical_iso(R(1) * R(2), R(2) * R(1)) is None  # no symmetry among canonical isos
    iso = canonical_iso((R(1) * One) * R(2), R(1) * (One * R(2)))
    assert iso is not None and equal(iso >> canonical_iso(iso.cod, iso.dom), Id(iso.dom))


# ---------------------------------------------------------------------------------
# The global-parameter actegory: a two-layer graph network


def gcn(E: Any, X: Any, d: int, path: str) -> Para:
    G, W = Global(E), R(d, d)
    propagate = Box("propagate", E * X, X)  # Â X: reads the adjacency
    matmul = Box("matmul", W * X, X)
    relu = Box("relu", X, X)
    return Para(
        W,
        G.then(G.act_on(W, propagate), G.embed(matmul >> relu)),
        {path: glorot_uniform},
        actegory=G,
    )


def test_two_layer_graph_network_reads_the_same_adjacency() -> None:
    E, X = R(5, 5), R(5, 3)
    net = gcn(E, X, 3, "l1.w") >> gcn(E, X, 3, "l2.w")
    assert (net.dom, net.cod, list(net.parameters())) == (X, X, ["l1.w", "l2.w"])
    run = net.as_cartesian()
    assert run.dom == E * X and run.actegory == CARTESIAN
    # Symbolically: both layers get the one E, the second the first's output.
    one, two = gcn(E, X, 3, "l1.w").as_cartesian(), gcn(E, X, 3, "l2.w").as_cartesian()
    W, EX = R(3, 3), E * X
    ps, x = fst(W * W, EX), snd(W * W, EX)
    hand = pair(ps >> snd(W, W), pair(x >> fst(E, X), pair(ps >> fst(W, W), x) >> one.arrow))
    assert equal(run.arrow, hand >> two.arrow)
    # Exactly, in a finite model.
    F = random_model(seed=2, max_size=2)
    layer, both = F(one.arrow), F(run.arrow)
    for w1, w2, e, v in itertools.product(*(F(o).elements for o in (W, W, E, X))):
        assert both(((w1, w2), (e, v))) == layer((w2, (e, layer((w1, (e, v))))))


def test_global_arrows_are_checked() -> None:
    G = Global(R(5))
    with pytest.raises(TypeMismatch, match="core arrow out of R\\(5\\) \\* X"):
        G.then(Box("f", R(1), R(1)), Box("g", R(5) * R(1), R(1)))
    with pytest.raises(TypeError, match="expected an object"):
        Global("E")  # type: ignore[arg-type]
    with pytest.raises(TypeMismatch, match="over CARTESIAN"):
        repeat(gcn(R(2, 2), R(2, 1), 1, "w"), 2)


# ---------------------------------------------------------------------------------
# repeat and unroll


def block() -> Para:
    W, b = R(2, 2), R(2)
    f = Box("affine", (W * b) * R(2), R(2))
    return Para(W * b, f, {"w": normal(0.02), "b": zeros}) >> Box("relu", R(2), R(2))


def test_repeat_stacks_the_parameters() -> None:
    deep = repeat(block(), 3)
    assert deep.parameters() == {
        "w": Param("w", R(3, 2, 2), normal(0.02), stacked=1),
        "b": Param("b", R(3, 2), zeros, stacked=1),
    }
    assert deep.P == R(3, 2, 2) * R(3, 2)
    assert deep.arrow == Repeat(block().arrow, 3)
    twice = repeat(deep.named("inner"), 4)
    assert twice.parameters()["inner.w"] == Param("inner.w", R(4, 3, 2, 2), normal(0.02), 2)
    unrolled = unroll(deep)
    assert list(unrolled.parameters()) == ["0.w", "0.b", "1.w", "1.b", "2.w", "2.b"]
    assert unrolled.parameters()["1.w"] == Param("1.w", R(2, 2), normal(0.02))
    assert deep.unroll() == unrolled


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda: repeat(lin("f", A, B), 2),
            TypeMismatch,
            "endomorphism A -> A, got R\\(3\\) -> R\\(4\\)",
        ),
        (lambda: repeat(block(), 0), TypeError, "n must be an int >= 1"),
        (
            lambda: repeat(Para(Fin(3), Box("f", Fin(3) * A, A), ["k"]), 2),
            TypeMismatch,
            "parameter 'k' is Fin\\(3\\); only R\\(...\\) leaves",
        ),
        (lambda: unroll(block()), TypeError, "expected a Para built by repeat"),
    ],
)
def test_repeat_errors(make: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()


def _slice(P: Any, value: Any, i: int) -> Any:
    from topos.objects import Product, Unit

    if isinstance(P, Product):
        return (_slice(P.left, value[0], i), _slice(P.right, value[1], i))
    return value if isinstance(P, Unit) else value[i]


@settings(max_examples=5)
@given(st.sampled_from([1, 3]), st.integers(0, 1000))  # n = 2: R(n, 2) would be R(2, 2), the weight
def test_repeat_agrees_with_unroll_in_finite_sets(n: int, seed: int) -> None:
    """The semantics a backend's scan must implement: slice i of each leaf feeds layer i."""
    blk = block()
    deep = repeat(blk, n)
    base = random_model(seed, max_size=2)
    leaf_sets = {x.ob: base(R(*x.ob.shape[1:])) for x in deep.params}
    stacked = {ob: FinSet(itertools.product(s.elements, repeat=n)) for ob, s in leaf_sets.items()}
    body = base(blk.arrow)

    def scan(value: Any) -> Any:
        params, x = value
        for i in range(n):
            x = body((_slice(blk.P, params, i), x))
        return x

    # A repeat means its unrolling; its slices are the Layer arrows, given here.
    slices = {Layer(blk.P, n, i): (lambda v, i=i: _slice(blk.P, v, i)) for i in range(n)}
    F = random_model(seed, max_size=2, ob=stacked, ar=slices)
    run, run_unrolled = F(deep.arrow), base(unroll(deep).arrow)
    for w, b, x in itertools.product(*(F(o).elements for o in (*deep.P, R(2)))):
        unrolled = unroll(deep).unflatten(
            {f"{i}.{k}": v[i] for i in range(n) for k, v in (("w", w), ("b", b))}
        )
        assert run(((w, b), x)) == scan(((w, b), x)) == run_unrolled((unrolled, x))


# ---------------------------------------------------------------------------------
# Scale: composition in amortised constant time, no recursion


def test_a_chain_of_ten_thousand_layers() -> None:
    n = 10_000
    W, X = R(2, 2), R(2)
    layer = Para(W, Box("matmul", W * X, X), {"w": normal(0.02)})
    relu = Box("relu", X, X)
    net = layer.named("l0")
    for i in range(1, n):
        net = net >> layer.named(f"l{i}") >> relu
    params = net.parameters()
    assert (
        len(params) == n
        and list(params)[:2] == ["l0.w", "l1.w"]
        and list(params)[-1] == f"l{n - 1}.w"
    )
    assert net.num_params() == 4 * n
    value = net.unflatten({k: i for i, k in enumerate(params)})
    assert value[1] == n - 1 and value[0][1] == n - 2  # left-nested, first layer innermost
    with pytest.raises(ValueError, match="'l5.w'"):
        net >> layer.named("l5")
    tied = net.tie("l0.w", f"l{n - 1}.w")
    assert len(tied.parameters()) == n - 1
    assert net == (net >> Id(X)) and hash(net) == hash(net >> Id(X))


def test_frozen_parameters_and_constants_inside_a_repeat_are_shared() -> None:
    from topos.arrows import Const

    bias = Const(R(2), (0.5, -0.5), "shift")
    shifted = block().freeze("w") >> Para.lift(
        pair(Id(R(2)), discard(R(2)) >> bias) >> Box("add", R(2) * R(2), R(2))
    )
    deep = repeat(shifted, 3)
    assert list(deep.parameters()) == ["b"] and deep.parameters()["b"].ob == R(3, 2)
    assert deep.constants() == {"w": Param("w", R(2, 2), normal(0.02))}  # not stacked
    flat = unroll(deep)
    assert list(flat.parameters()) == ["0.b", "1.b", "2.b"]
    assert list(flat.constants()) == ["w"]  # one frozen weight, shared by the layers
    assert equal(deep.arrow, deep.arrow.unroll())
    F = random_model(seed=3, max_size=2)
    assert F(deep.arrow) == F(deep.arrow.unroll())


def test_repr_of_a_deep_para_is_linear_and_evaluates_back() -> None:
    # Issue 11, item 3: the parameter object (a product as deep as the model) was
    # printed inside every projection; it is now named once.
    from topos.nn import linear, tanh

    names = {"Para": Para, "Param": Param, "glorot_uniform": glorot_uniform, "zeros": zeros}
    names |= {name: getattr(topos, name) for name in topos.__all__}
    p = unroll(repeat(linear(2, 2) >> tanh(2), 30))  # deeper: past Python's parser limit
    assert eval(repr(p), names) == p
    texts = {n: repr(unroll(repeat(linear(2, 2) >> tanh(2), n))) for n in (200, 400)}
    assert len(texts[400]) < 2.2 * len(texts[200])  # linear (was quadratic)
