"""The JAX functor: every constructor against a float64 NumPy reference and finite sets."""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _jaxref import (
    FINITE,
    REAL,
    assert_close,
    diagrams,
    generic,
    reference,
    sample,
    sets_table,
    to64,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.jax import compile, register
from backends.jax.core.compile import interpret
from backends.jax.core.registry import UnregisteredBox
from topos import arrows as ar_
from topos.arrows import (
    Box,
    Id,
    absurd,
    assoc,
    conj,
    copair,
    copy,
    curry,
    discard,
    disj,
    ev,
    false,
    fst,
    implies,
    inl,
    inr,
    neg,
    pair,
    snd,
    swap,
    true,
    unassoc,
    uncurry,
)
from topos.objects import Coproduct, Exp, Fin, Ob, Omega, One, Product, R, Truth, Unit, Zero

A, B, C = R(2), R(3), R(1)
f, g, h, k = generic(A, B, 1), generic(B, C, 2), generic(A, C, 3), generic(C, B, 4)
m = generic(A * C, B, 5)

CASES: dict[str, ar_.Arrow] = {
    "box": f,
    "id": Id(A),
    "compose": f >> g,
    "tensor": f * g,
    "pair": pair(f, h),
    "fst": fst(A, B),
    "snd": snd(A, B),
    "copy": copy(A),
    "discard": discard(A),
    "swap": swap(A, B),
    "inl": inl(A, B),
    "inr": inr(A, B),
    "copair": copair(f, k),
    "sum": f + k,
    "curry": curry(m),
    "curry_ev": curry(m) * Id(C) >> ev(B, C),
    "uncurry": uncurry(curry(m)),
    "assoc": assoc(A, B, C),
    "unassoc": unassoc(A, B, C),
    "absurd": copair(f, absurd(B)),
    "absurd_left": copair(absurd(B), f),
    "sum_with_zero": f + Id(Zero),
    "curry_of_curry": curry(curry(generic(A * C * C, B, 6))),
    "coproduct_of_exponentials": copair(curry(m), curry(generic(B * C, B, 7))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_constructor_agrees_with_the_float64_reference(name: str) -> None:
    arrow = CASES[name]
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = sample(arrow.dom, rng)
        assert_close(arrow.cod, compile(arrow)(x), reference(arrow)(to64(x)), rng)


def test_ev_applies_the_function_it_is_given() -> None:
    x = np.array([0.3, -0.7, 1.1], np.float32)
    got = compile(ev(B, B))((jnp.sin, x))
    np.testing.assert_allclose(got, np.sin(x.astype(np.float64)), rtol=1e-6)


def test_structural_maps_move_values_without_computing() -> None:
    a, b = jnp.arange(2.0), jnp.arange(3.0)
    assert compile(swap(A, B))((a, b)) == (b, a)
    assert compile(copy(A))(a) == (a, a)
    assert compile(discard(A))(a) == ()
    assert compile(fst(A, B))((a, b)) is a
    tag, left, right = compile(inr(A, B))(b)
    assert bool(tag) and right is b and not np.asarray(left).any()


@pytest.mark.parametrize(
    "op, table",
    [
        (conj, lambda p, q: p and q),
        (disj, lambda p, q: p or q),
        (implies, lambda p, q: (not p) or q),
    ],
)
def test_connectives_are_their_truth_tables(op: ar_.Logic, table: Any) -> None:
    run = compile(op)
    for p in (False, True):
        for q in (False, True):
            assert bool(run((jnp.array(p), jnp.array(q)))) == table(p, q)


def test_negation_and_constants() -> None:
    assert bool(compile(true)(())) and not bool(compile(false)(()))
    assert [bool(compile(neg)(jnp.array(p))) for p in (False, True)] == [True, False]


# -- properties ----------------------------------------------------------------------

flat = st.sampled_from(REAL.flat)

# The compile fuzzers (generated diagrams against a NumPy reference and against the
# finite semantics): bounded under CI (the hypothesis profile); ``TOPOS_FUZZ=N`` runs
# N cases each.
FUZZ = int(os.environ.get("TOPOS_FUZZ", "0"))
fuzz_settings = settings(max_examples=FUZZ, deadline=None) if FUZZ else settings()


@fuzz_settings
@given(st.data(), flat, flat, st.integers(0, 2**16))
def test_random_diagrams_agree_with_the_reference(data: Any, dom: Ob, cod: Ob, seed: int) -> None:
    arrow = data.draw(diagrams(dom, cod))
    rng = np.random.default_rng(seed)
    x = sample(dom, rng)
    assert_close(cod, compile(arrow)(x), reference(arrow)(to64(x)), rng)


@given(st.data(), flat, st.sampled_from(REAL.middle), flat, st.integers(0, 2**16))
def test_compile_preserves_composition(data: Any, a: Ob, mid: Ob, b: Ob, seed: int) -> None:
    first, second = data.draw(diagrams(a, mid)), data.draw(diagrams(mid, b))
    rng = np.random.default_rng(seed)
    x = sample(a, rng)
    both = compile(first >> second)(x)
    assert_close(b, both, to64(compile(second)(compile(first)(x))), rng, tol=1e-6)


@given(st.data(), flat, flat, flat, flat, st.integers(0, 2**16))
def test_compile_preserves_products(data: Any, a: Ob, b: Ob, c: Ob, d: Ob, seed: int) -> None:
    u, v, w = data.draw(diagrams(a, b)), data.draw(diagrams(c, d)), data.draw(diagrams(a, d))
    rng = np.random.default_rng(seed)
    x, y = sample(a, rng), sample(c, rng)
    assert_close(b * d, compile(u * v)((x, y)), to64((compile(u)(x), compile(v)(y))), rng, 1e-6)
    assert_close(b * d, compile(pair(u, w))(x), to64((compile(u)(x), compile(w)(x))), rng, 1e-6)
    assert_close(a, compile(Id(a))(x), to64(x), rng, 0)


@given(st.data(), flat, flat, flat, st.integers(0, 2**16))
def test_the_equations_of_the_structure_hold(data: Any, x: Ob, a: Ob, b: Ob, seed: int) -> None:
    u, w = data.draw(diagrams(x, a)), data.draw(diagrams(x, b))
    mm = data.draw(diagrams(x * a, b))
    c = data.draw(diagrams(x, b**a))
    rng = np.random.default_rng(seed)
    xv, av = sample(x, rng), sample(a, rng)

    def same(ob: Ob, lhs: ar_.Arrow, rhs: ar_.Arrow, value: Any) -> None:
        assert_close(ob, compile(lhs)(value), to64(compile(rhs)(value)), rng, 1e-6)

    same(a, pair(u, w) >> fst(a, b), u, xv)  # β for products
    same(b, pair(u, w) >> snd(a, b), w, xv)
    same(a * b, pair(pair(u, w) >> fst(a, b), pair(u, w) >> snd(a, b)), pair(u, w), xv)  # η
    same(b, curry(mm) * Id(a) >> ev(b, a), mm, (xv, av))  # β for exponentials
    same(b**a, curry(uncurry(c)), c, xv)  # η for exponentials
    same(b, inl(x, a) >> copair(w, generic_or(a, b)), w, xv)  # β for coproducts
    s = sample(x + a, rng)
    same(x + a, copair(inl(x, a), inr(x, a)), Id(x + a), s)  # η for coproducts


def generic_or(a: Ob, b: Ob) -> ar_.Arrow:
    return generic(a, b, 11)


# -- exact agreement with topos.finite on finite objects ---------------------------------


def encode(ob: Ob, x: Any) -> Any:
    """A ``topos.finite.Sets`` element as a JAX value."""
    if isinstance(ob, Fin):
        return jnp.asarray(x, jnp.int32)
    if isinstance(ob, Truth):
        return jnp.asarray(x, bool)
    if isinstance(ob, Unit):
        return ()
    if isinstance(ob, Product):
        return (encode(ob.left, x[0]), encode(ob.right, x[1]))
    if isinstance(ob, Coproduct):
        from backends.jax.core.values import zeros

        tag, v = x
        if tag:
            return (jnp.asarray(True), zeros(ob.left), encode(ob.right, v))
        return (jnp.asarray(False), encode(ob.left, v), zeros(ob.right))
    assert isinstance(ob, Exp)
    return lambda a: encode(ob.base, x(decode(ob.exponent, a)))


def decode(ob: Ob, v: Any) -> Any:
    """A JAX value (concrete) as a ``topos.finite.Sets`` element (functions as tables)."""
    if isinstance(ob, Fin):
        return int(v)
    if isinstance(ob, Truth):
        return bool(v)
    if isinstance(ob, Unit):
        assert v == ()
        return ()
    if isinstance(ob, Product):
        return (decode(ob.left, v[0]), decode(ob.right, v[1]))
    if isinstance(ob, Coproduct):
        tag = bool(v[0])
        inactive = ob.left if tag else ob.right
        if not isinstance(inactive, Exp):  # the inactive branch holds zeros
            assert all(not np.asarray(u).any() for u in jax.tree.leaves(v[1 if tag else 2]))
        return (tag, decode(ob.right, v[2]) if tag else decode(ob.left, v[1]))
    raise AssertionError(f"decode exponentials with same(), not {ob!r}")


def same_element(ob: Ob, got: Any, want: Any, F: Any) -> None:
    if isinstance(ob, Exp):
        for a in F(ob.exponent).elements:
            same_element(ob.base, got(encode(ob.exponent, a)), want(a), F)
    elif isinstance(ob, Product):
        same_element(ob.left, got[0], want[0], F)
        same_element(ob.right, got[1], want[1], F)
    elif isinstance(ob, Coproduct):
        assert bool(got[0]) == want[0]
        if want[0]:
            same_element(ob.right, got[2], want[1], F)
        else:
            same_element(ob.left, got[1], want[1], F)
    else:
        assert decode(ob, got) == want


finite_flat = st.sampled_from(FINITE.flat)
finite_dom = st.sampled_from((*FINITE.flat, Fin(2) + Omega, (Omega + One) * Fin(2)))
finite_cod = st.sampled_from((*FINITE.flat, Omega + Fin(2), Omega ** Fin(2)))


@fuzz_settings
@given(st.data(), finite_dom, finite_cod)
def test_finite_diagrams_agree_exactly_with_finite_sets(data: Any, dom: Ob, cod: Ob) -> None:
    from topos.finite import interpret as sets_interpret

    arrow = data.draw(diagrams(dom, cod, vocab=FINITE))
    F = sets_interpret(ob={}, ar=sets_table)
    exact, run = F(arrow), compile(arrow)
    for x in F(dom).elements:
        same_element(cod, run(encode(dom, x)), exact(x), F)


# -- jit, vmap, grad -----------------------------------------------------------------


@settings(max_examples=15)  # each diagram compiles twice: the profile's size is in the slow tier
@given(st.data(), flat, flat, st.integers(0, 2**16))
def test_jit_and_vmap_agree_with_per_example_calls(data: Any, dom: Ob, cod: Ob, seed: int) -> None:
    _jit_and_vmap_agree_with_per_example_calls(data, dom, cod, seed)


@given(st.data(), flat, flat, st.integers(0, 2**16))
def test_jit_and_vmap_agree_with_per_example_calls_at_full_size(
    data: Any, dom: Ob, cod: Ob, seed: int
) -> None:
    _jit_and_vmap_agree_with_per_example_calls(data, dom, cod, seed)


def _jit_and_vmap_agree_with_per_example_calls(data: Any, dom: Ob, cod: Ob, seed: int) -> None:
    arrow = data.draw(diagrams(dom, cod, depth=2))
    rng = np.random.default_rng(seed)
    xs = [sample(dom, rng) for _ in range(3)]
    run = compile(arrow)
    batch = jax.tree.map(lambda *v: np.stack(v), *xs) if jax.tree.leaves(xs[0]) else xs[0]
    ys = jax.jit(jax.vmap(run))(batch) if jax.tree.leaves(xs[0]) else None
    for i, x in enumerate(xs):
        y = run(x)
        assert_close(cod, jax.jit(run)(x), to64(y), rng, 1e-5)
        if ys is not None:
            assert_close(cod, jax.tree.map(lambda t, i=i: t[i], ys), to64(y), rng, 1e-5)


def _fd_check(fn: Any, x: np.ndarray) -> None:
    with jax.enable_x64(True):
        from jax.test_util import check_grads

        check_grads(fn, (jnp.asarray(x, jnp.float64),), order=1, modes=("rev",), eps=1e-6)


def test_gradients_through_curry_and_ev_match_finite_differences() -> None:
    # x |-> ev(curry(m)(x), sin(x)-ish): the closure carries x to where it is applied.
    c = curry(m)  # A -> B ** C
    arrow = pair(c, generic(A, C, 8)) >> ev(B, C) >> g
    run = compile(arrow)
    _fd_check(lambda x: run(x).sum(), np.array([0.3, -0.4]))
    higher = pair(curry(curry(generic(A * C * C, B, 6))), generic(A, C, 9))
    nested = pair(higher, generic(A, C, 10)) >> (ev(B**C, C) * Id(C)) >> ev(B, C)
    run2 = compile(nested)
    _fd_check(lambda x: run2(x).sum(), np.array([0.5, 0.2]))


def test_gradients_through_coproducts_match_finite_differences() -> None:
    # case analysis on a tag computed from the input: both branches are differentiable
    branch = Box("test.sign", A, One + One)
    register(
        "test.sign",
        lambda box, x: (x.sum() > 0, (), ()),
        cls="pl",
        replace=True,
    )
    left, right = generic(A, B, 12), generic(A, B, 13)
    # A -> (One + One) * A -> A + A (distribute) -> B
    dist = Box("test.distribute", (One + One) * A, A + A)
    register(
        "test.distribute",
        lambda box, v: (v[0][0], jnp.where(v[0][0], 0.0, v[1]), jnp.where(v[0][0], v[1], 0.0)),
        cls="linear",
        replace=True,
    )
    arrow = pair(branch, Id(A)) >> dist >> copair(left, right) >> g
    run = compile(arrow)
    for x in (np.array([0.3, 0.4]), np.array([-0.5, 0.1])):
        _fd_check(lambda v: run(v).sum(), x)
    sums = inl(A, A) >> (left + right) >> copair(g, g)
    _fd_check(lambda v: compile(sums)(v).sum(), np.array([0.1, 0.9]))


# -- checks and errors ---------------------------------------------------------------


def test_input_errors_name_the_position_and_the_shapes() -> None:
    run = compile(fst(A * B, C))
    good = ((jnp.zeros(2), jnp.zeros(3)), jnp.zeros(1))
    run(good)
    with pytest.raises(
        ValueError, match=r"input\[0\]\[1\]: expected shape \(3,\) for R\(3\), got shape \(4,\)"
    ):
        run(((jnp.zeros(2), jnp.zeros(4)), jnp.zeros(1)))
    with pytest.raises(
        TypeError,
        match=r"input\[0\]: expected a pair \(a, b\) for R\(2\) \* R\(3\), got tuple of length 3",
    ):
        run(((jnp.zeros(2), jnp.zeros(3), 1), jnp.zeros(1)))
    with pytest.raises(
        TypeError, match=r"input\[1\]: expected a floating array for R\(1\), got int32"
    ):
        run(((jnp.zeros(2), jnp.zeros(3)), jnp.zeros(1, jnp.int32)))
    with pytest.raises(ValueError, match="leading batch axis.*jax.vmap"):
        compile(Id(A))(jnp.zeros((5, 2)))
    with pytest.raises(TypeError, match=r"input\[0\]: expected a callable for R\(3\) \*\* R\(1\)"):
        compile(ev(B, C))((jnp.zeros(3), jnp.zeros(1)))
    with pytest.raises(TypeError, match=r"input\[0\]: expected a boolean scalar coproduct tag"):
        compile(Id(A + C))((jnp.zeros(()), jnp.zeros(2), jnp.zeros(1)))
    with pytest.raises(TypeError, match=r"input: expected an integer array for Fin\(3, 2\)"):
        compile(Id(Fin(3, 2)))(jnp.zeros(2))
    with pytest.raises(TypeError, match=r"input: expected \(\) for One, got list"):
        compile(Id(One))([])


def test_input_errors_are_raised_before_tracing_under_jit() -> None:
    with pytest.raises(
        ValueError, match=r"input: expected shape \(2,\) for R\(2\), got shape \(3,\)"
    ):
        jax.jit(compile(f))(jnp.zeros(3))


def test_zero_has_no_values() -> None:
    with pytest.raises(TypeError, match="domain is Zero"):
        compile(absurd(A))(None)
    run = compile(absurd(A) + Id(C))
    tag, left, right = run((jnp.array(True), None, jnp.ones(1)))
    assert bool(tag) and left.shape == (2,) and not left.any()


def test_an_unregistered_box_names_itself_and_how_to_register() -> None:
    box = Box("test.never_registered", A, B)
    with pytest.raises(
        UnregisteredBox,
        match=r"'test.never_registered': R\(3\) -> R\(3\).*"
        r"register\('test.never_registered', lambda box, x",
    ):
        compile(
            f
            >> Id(B)
            >> (pair(Id(B), Id(B)) >> fst(B, B))
            >> box.__class__("test.never_registered", B, B)
        )
    with pytest.raises(UnregisteredBox):
        compile(box)


def test_a_box_returning_the_wrong_shape_is_named() -> None:
    register("test.bad_shape", lambda box, x: jnp.zeros(5), cls="linear", replace=True)
    with pytest.raises(
        ValueError, match=r"output of the box 'test.bad_shape': expected shape \(3,\)"
    ):
        compile(Box("test.bad_shape", A, B))(jnp.zeros(2))


def test_errors_inside_a_box_say_which_box() -> None:
    register("test.raises", lambda box, x: x @ jnp.zeros((7, 3)), cls="linear", replace=True)
    with pytest.raises(TypeError) as info:
        compile(Box("test.raises", A, B))(jnp.zeros(2))
    assert any("test.raises" in note for note in info.value.__notes__)


def test_a_named_sub_diagram_runs_its_body() -> None:
    named = ar_.group("test.block", f >> g)
    x = jnp.array([0.1, 0.2])
    np.testing.assert_array_equal(compile(named)(x), compile(f >> g)(x))
    # a box with a body attribute is a plain box: it needs a registration
    with pytest.raises(UnregisteredBox, match="test.block_bad"):
        compile(Box("test.block_bad", A, C, body=f >> g))


def test_repeats_scan_or_unroll_and_slices_pick_layers() -> None:
    register("test.stack_matvec", lambda box, v: v[0] @ v[1], cls="polynomial", replace=True)
    body = Box("test.stack_matvec", R(2, 2) * A, A)
    w = jnp.asarray(np.random.default_rng(0).normal(size=(6, 2, 2)), jnp.float32)
    x = jnp.array([0.3, -0.2])
    expected = x
    for i in range(6):
        expected = w[i] @ expected
    for n in (2, 6):  # unrolled (<= UNROLL_MAX) and a rolled scan
        rep = ar_.Repeat(body, n)
        np.testing.assert_allclose(compile(rep)((w[:n], x)), _chain_of(w[:n], x), rtol=1e-6)
        np.testing.assert_allclose(
            compile(rep.unroll())((w[:n], x)), _chain_of(w[:n], x), rtol=1e-6
        )
    np.testing.assert_allclose(compile(ar_.Repeat(body, 6))((w, x)), expected, rtol=1e-6)
    layer = ar_.Layer(R(2, 2) * A, 6, 4)
    out = compile(layer)((w, jnp.zeros((6, 2))))
    np.testing.assert_array_equal(out[0], w[4])
    with pytest.raises(ValueError, match=r"expected shape \(6, 2, 2\)"):
        compile(ar_.Repeat(body, 6))((w[:5], x))


def _chain_of(w: jax.Array, x: jax.Array) -> jax.Array:
    for layer in w:
        x = layer @ x
    return x


def test_constants_are_arrays_held_by_content() -> None:
    from backends.jax import constant

    table = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    c = constant(table, name="table")
    assert c == constant(table.copy(), name="table") and hash(c) == hash(constant(table, "table"))
    assert c != constant(table + 1, name="table")
    np.testing.assert_array_equal(compile(c)(()), table)
    lit = ar_.Const(R(2), (1.0, 2.0))
    np.testing.assert_array_equal(compile(lit)(()), np.array([1.0, 2.0], np.float32))
    big = constant(np.zeros((1024, 64), np.float32))
    assert big.value.nbytes == 1024 * 64 * 4


def test_a_chain_of_100000_boxes_compiles_and_runs_without_recursion() -> None:
    register("test.inc", lambda box, x: x + 1, cls="linear", replace=True)
    inc = Box("test.inc", C, C)
    chain = inc
    for _ in range(99_999):
        chain = chain >> inc
    run = compile(chain)
    assert float(run(np.zeros(1, np.float32))[0]) == 100_000.0
    assert len(ar_.Compose.children.fget(chain)) == 100_000  # type: ignore[union-attr]


def test_compiled_functions_are_cached_per_arrow() -> None:
    assert interpret(f >> g) is interpret(f >> g)
    assert repr(compile(f)).startswith("compile(Box('test.generic'")


def test_a_600_layer_unrolled_para_compiles_without_recursion_error() -> None:
    from topos.nn import linear, residual, tanh
    from topos.para import repeat, unroll

    deep = unroll(repeat(residual(linear(2, 2) >> tanh(2)), 600))
    assert compile(deep.arrow).arrow == deep.arrow


def test_a_2000_layer_para_compiles() -> None:
    # Issue 11, item 3: looking for symbolic dims walked the parameter object (a product
    # as deep as the model) off the deep stack: RecursionError at 2,000 layers.
    from topos.nn import linear, tanh
    from topos.para import repeat, unroll

    deep = unroll(repeat(linear(2, 2) >> tanh(2), 2_000))
    assert compile(deep.arrow).arrow == deep.arrow


def test_a_1000_layer_unrolled_para_runs_eagerly_and_matches_its_repeat() -> None:
    # Issue 11, item 3: apply interpreted and ran the nested closures on the caller's
    # stack (RecursionError); it now runs deep diagrams on the deep stack (eagerly), or
    # with the recursion limit raised on the caller's thread (under jit: JAX's trace
    # state is per thread).
    from backends.jax import apply
    from topos.nn import linear, tanh
    from topos.para import repeat, unroll

    stack = repeat(linear(2, 2) >> tanh(2), 1_000)
    flat = unroll(stack)
    rng = np.random.default_rng(0)
    ws = rng.normal(size=(1_000, 2, 2)) * 0.5
    bs = rng.normal(size=(1_000, 2)) * 0.1
    stacked = {k: jnp.asarray(ws if k.endswith("w") else bs, jnp.float32)
               for k in stack.parameters()}  # fmt: skip
    layers = {k: stacked[k.split(".", 1)[1]][int(k.split(".", 1)[0])] for k in flat.parameters()}
    x = jnp.asarray([0.3, -0.7])
    want = apply(stack, stacked, x)
    np.testing.assert_allclose(apply(flat, layers, x), want, atol=1e-5)
    traced = jax.jit(lambda q, v: apply(flat, q, v))(layers, x)  # on the caller's thread
    np.testing.assert_allclose(traced, want, atol=1e-5)


def test_compiled_deep_diagrams_run_eagerly_and_under_jit_like_apply() -> None:
    # Issue 22, item 8: compile built deep diagrams on a deep stack but ran them on the
    # caller's (RecursionError from 500 composed layers and from nested curries run back
    # through ev, where apply succeeded). It now runs them as apply does.
    from backends.jax import apply
    from backends.jax.core.params import param_value
    from topos.nn import linear, tanh
    from topos.para import Para, repeat, unroll

    flat = unroll(repeat(linear(2, 2) >> tanh(2), 500))
    params = {k: np.full(v.ob.shape, 0.1, np.float32) for k, v in flat.parameters().items()}
    x = jnp.asarray([0.3, -0.7])
    want = apply(flat, params, x)
    run, pv = compile(flat.arrow), param_value(flat, params)
    np.testing.assert_allclose(run((pv, x)), want, atol=1e-6)

    n, body, dom = 600, Box("test.inc", C, C), C  # curry n times, then uncurry n times
    register("test.inc", lambda box, v: v + 1, cls="linear", replace=True)
    for _ in range(n):
        body, dom = fst(dom, C) >> body, dom * C
    curried = body
    for _ in range(n):
        curried = curry(curried)
    back, value = curried, jnp.zeros(1)
    for _ in range(n):
        back, value = uncurry(back), (value, jnp.zeros(1))
    assert float(compile(back)(value)[0]) == 1.0
    assert float(jax.jit(compile(back))(value)[0]) == 1.0
    assert float(apply(Para.lift(back), {}, value)[0]) == 1.0
