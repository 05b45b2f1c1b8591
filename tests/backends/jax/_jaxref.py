"""Test helpers for the JAX backend: generic boxes, a float64 NumPy reference, diagrams.

- ``generic(dom, cod, seed)``: a box ``"test.generic"`` computing
  ``tanh(W · flatten(x) + b)`` into every real leaf of ``cod`` (``W``, ``b`` drawn
  from ``seed``); registered in JAX here and interpreted by the reference.
- ``reference(f)``: an independent float64 NumPy interpretation of ``f`` (a
  ``topos.functor.Category`` that branches on coproduct tags in Python instead
  of selecting), the oracle the compiled functions are compared with.
- ``diagrams(dom, cod)``: a hypothesis strategy of well-typed diagrams built from
  every constructor (composition through random middle objects, pairs, tensors,
  projections, copy, swap, injections, copairs, sums, curry, ev, uncurry).
- ``sample(ob, rng)`` and ``assert_close(ob, a, b)``: values of an object and
  their comparison (exponentials are compared by applying both to samples).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from backends.jax import register
from topos import arrows as ar_
from topos.arrows import ArrayData, Arrow, Box
from topos.functor import FreeObjects, Functor
from topos.objects import Coproduct, Empty, Exp, Fin, Ob, Omega, One, Product, R, Truth, Unit, Zero

GENERIC = "test.generic"


# -- generic boxes -------------------------------------------------------------------


def real_leaves(ob: Ob) -> list[R]:
    """The ``R`` leaves of a flat object (products of ``R`` and ``One``)."""
    if isinstance(ob, R):
        return [ob]
    if isinstance(ob, Product):
        return real_leaves(ob.left) + real_leaves(ob.right)
    return []


def is_flat(ob: Ob) -> bool:
    """Built from ``R`` and ``One`` by products only (what a generic box accepts)."""
    if isinstance(ob, Product):
        return is_flat(ob.left) and is_flat(ob.right)
    return isinstance(ob, (R, Unit))


def generic(dom: Ob, cod: Ob, seed: int = 0) -> Box:
    """A smooth generic box between flat objects."""
    assert is_flat(dom) and is_flat(cod), (dom, cod)
    return Box(GENERIC, dom, cod, seed=seed)


@functools.cache
def _weights(dom: Ob, cod: Ob, seed: int) -> list[tuple[np.ndarray, np.ndarray, tuple[int, ...]]]:
    n_in = sum(x.size for x in real_leaves(dom))
    rng = np.random.default_rng(seed)
    out = []
    for leaf in real_leaves(cod):
        w = rng.normal(size=(leaf.size, n_in)) / np.sqrt(max(n_in, 1))
        b = rng.normal(size=leaf.size) * 0.5
        out.append((w, b, leaf.shape))
    return out


def _flatten(ob: Ob, v: Any, xp: Any) -> list[Any]:
    if isinstance(ob, R):
        return [xp.reshape(v, (-1,))]
    if isinstance(ob, Product):
        return _flatten(ob.left, v[0], xp) + _flatten(ob.right, v[1], xp)
    return []


def _build(ob: Ob, leaves: list[Any]) -> Any:
    if isinstance(ob, R):
        return leaves.pop(0)
    if isinstance(ob, Product):
        left = _build(ob.left, leaves)
        return (left, _build(ob.right, leaves))
    return ()


def _generic(box: Box, x: Any, xp: Any) -> Any:
    parts = _flatten(box.dom, x, xp)
    v = xp.concatenate(parts) if parts else xp.zeros((0,))
    outs = []
    for w, b, shape in _weights(box.dom, box.cod, box.attrs["seed"]):
        w_, b_ = xp.asarray(w, dtype=v.dtype), xp.asarray(b, dtype=v.dtype)
        outs.append(xp.reshape(xp.tanh(w_ @ v + b_), shape))
    return _build(box.cod, outs)


def _jax_generic(box: Box, x: Any) -> Any:
    return _generic(box, x, jnp)


register(GENERIC, _jax_generic, cls="smooth", replace=True)


# -- the float64 NumPy reference -------------------------------------------------------


def np_zeros(ob: Ob) -> Any:
    if isinstance(ob, R):
        return np.zeros(ob.shape)
    if isinstance(ob, Fin):
        return np.zeros(ob.shape, np.int64)
    if isinstance(ob, Truth):
        return np.bool_(False)
    if isinstance(ob, Unit):
        return ()
    if isinstance(ob, Empty):
        return None
    if isinstance(ob, Product):
        return (np_zeros(ob.left), np_zeros(ob.right))
    if isinstance(ob, Coproduct):
        return (np.bool_(False), np_zeros(ob.left), np_zeros(ob.right))
    assert isinstance(ob, Exp)
    return lambda _: np_zeros(ob.base)


Fn = Callable[[Any], Any]


class NumpyReference(FreeObjects[Fn]):
    """Float64 NumPy semantics; coproducts branch on the (concrete) tag in Python."""

    def layer(self, p: Ob, n: int, index: int) -> Fn:
        return lambda x: _tree_map(lambda leaf: leaf[index], x)

    def const(self, node: Any, cod: Ob) -> Fn:
        value = node.value
        if getattr(value, "path", None) is not None:
            value = value.value
        if isinstance(value, ArrayData):
            arr = np.frombuffer(value.data, np.dtype(value.dtype)).reshape(value.shape)
            return lambda _: arr.astype(np.float64)
        return lambda _: np.asarray(value, np.float64)

    def id(self, a: Ob) -> Fn:
        return lambda x: x

    def compose(self, fs: Sequence[Fn]) -> Fn:
        return lambda x: functools.reduce(lambda acc, f: f(acc), fs, x)

    def pair(self, f: Fn, g: Fn) -> Fn:
        return lambda x: (f(x), g(x))

    def fst(self, a: Ob, b: Ob) -> Fn:
        return lambda x: x[0]

    def snd(self, a: Ob, b: Ob) -> Fn:
        return lambda x: x[1]

    def discard(self, a: Ob) -> Fn:
        return lambda x: ()

    def inl(self, a: Ob, b: Ob) -> Fn:
        return lambda x: (np.bool_(False), x, np_zeros(b))

    def inr(self, a: Ob, b: Ob) -> Fn:
        return lambda x: (np.bool_(True), np_zeros(a), x)

    def copair(self, f: Fn, g: Fn) -> Fn:
        return lambda v: g(v[2]) if bool(v[0]) else f(v[1])

    def sum(self, f: Fn, g: Fn, c: Ob, d: Ob) -> Fn:
        def run(v: Any) -> Any:
            if bool(v[0]):
                return (np.bool_(True), np_zeros(c), g(v[2]))
            return (np.bool_(False), f(v[1]), np_zeros(d))

        return run

    def absurd(self, a: Ob) -> Fn:
        def never(x: Any) -> Any:
            raise AssertionError("absurd applied")

        return never

    def curry(self, m: Fn, x: Ob, a: Ob, b: Ob) -> Fn:
        return lambda xv: lambda av: m((xv, av))

    def ev(self, b: Ob, a: Ob) -> Fn:
        return lambda v: v[0](v[1])

    def logic(self, op: str) -> Fn:
        table: dict[str, Fn] = {
            "true": lambda _: np.bool_(True),
            "false": lambda _: np.bool_(False),
            "conj": lambda v: np.logical_and(v[0], v[1]),
            "disj": lambda v: np.logical_or(v[0], v[1]),
            "implies": lambda v: np.logical_or(np.logical_not(v[0]), v[1]),
            "neg": lambda v: np.logical_not(v),
        }
        return table[op]


_NP_BOXES: dict[str, Callable[[Box, Any], Any]] = {
    GENERIC: lambda box, x: _generic(box, x, np),
}


def np_box(name: str, fn: Callable[[Box, Any], Any]) -> None:
    """Give the reference a float64 implementation of the boxes named ``name``."""
    _NP_BOXES[name] = fn


def _np_ar(box: Box) -> Fn:
    fn = _NP_BOXES[box.name]
    return lambda x: fn(box, x)


def reference(f: Arrow) -> Fn:
    """The float64 NumPy function of ``f``."""
    return Functor(ob=lambda x: x, ar=_np_ar, cod=NumpyReference())(f)  # type: ignore[no-any-return]


# -- values ---------------------------------------------------------------------------


def sample(ob: Ob, rng: np.random.Generator) -> Any:
    """A random float32 value of ``ob`` (inactive coproduct branches are zeros)."""
    if isinstance(ob, R):
        return rng.uniform(-2, 2, size=ob.shape).astype(np.float32)
    if isinstance(ob, Fin):
        return rng.integers(0, max(ob.n, 1), size=ob.shape).astype(np.int32)
    if isinstance(ob, Truth):
        return np.bool_(rng.integers(2))
    if isinstance(ob, Unit):
        return ()
    if isinstance(ob, Product):
        return (sample(ob.left, rng), sample(ob.right, rng))
    if isinstance(ob, Coproduct):
        right = bool(rng.integers(2)) if Zero not in (ob.left, ob.right) else ob.left == Zero
        active = sample(ob.right if right else ob.left, rng)
        left = _f32(np_zeros(ob.left)) if right else active
        return (np.bool_(right), left, active if right else _f32(np_zeros(ob.right)))
    raise AssertionError(f"no samples of {ob!r}")


def _f32(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.dtype == np.float64:
        return v.astype(np.float32)
    if isinstance(v, tuple):
        return tuple(_f32(u) for u in v)
    return v


def to64(v: Any) -> Any:
    """The same value with float arrays as float64 (the reference's input)."""
    if isinstance(v, tuple):
        return tuple(to64(u) for u in v)
    if callable(v) or v is None:
        return v
    a = np.asarray(v)
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def assert_close(ob: Ob, got: Any, want: Any, rng: np.random.Generator, tol: float = 1e-4) -> None:
    """``got`` (JAX) equals ``want`` (reference) as values of ``ob``, within ``tol``."""
    stack = [(ob, got, want, "out")]
    while stack:
        x, a, b, at = stack.pop()
        if isinstance(x, (R, Fin, Truth)):
            a_, b_ = np.asarray(a), np.asarray(b)
            assert a_.shape == b_.shape, (at, a_.shape, b_.shape)
            np.testing.assert_allclose(a_.astype(np.float64), b_, atol=tol, rtol=tol, err_msg=at)
        elif isinstance(x, Unit):
            assert a == () and b == (), at
        elif isinstance(x, Empty):
            assert a is None and b is None, at
        elif isinstance(x, Product):
            stack += [(x.left, a[0], b[0], at + "[0]"), (x.right, a[1], b[1], at + "[1]")]
        elif isinstance(x, Coproduct):
            assert bool(a[0]) == bool(b[0]), at
            stack += [(x.left, a[1], b[1], at + "[1]"), (x.right, a[2], b[2], at + "[2]")]
        elif isinstance(x, Exp):
            arg = sample(x.exponent, rng)
            stack.append((x.base, a(arg), b(to64(arg)), at + "(·)"))
        else:
            raise AssertionError(f"cannot compare values of {x!r}")


# -- finite boxes: random tables between objects of labels ------------------------

TABLE = "test.table"


def is_finite_flat(ob: Ob) -> bool:
    """Built from scalar ``Fin``, ``Omega`` and ``One`` by products only."""
    if isinstance(ob, Product):
        return is_finite_flat(ob.left) and is_finite_flat(ob.right)
    return isinstance(ob, (Truth, Unit)) or (isinstance(ob, Fin) and ob.shape == ())


def _radices(ob: Ob) -> list[int]:
    if isinstance(ob, Fin):
        return [ob.n]
    if isinstance(ob, Truth):
        return [2]
    if isinstance(ob, Product):
        return _radices(ob.left) + _radices(ob.right)
    return []


def _digits(ob: Ob, v: Any) -> list[Any]:
    if isinstance(ob, (Fin, Truth)):
        return [v]
    if isinstance(ob, Product):
        return _digits(ob.left, v[0]) + _digits(ob.right, v[1])
    return []


def _undigits(ob: Ob, ds: list[Any], xp: Any) -> Any:
    if isinstance(ob, Fin):
        d = ds.pop(0)
        return int(d) if xp is None else d.astype(jnp.int32)
    if isinstance(ob, Truth):
        d = ds.pop(0)
        return bool(d) if xp is None else d.astype(bool)
    if isinstance(ob, Product):
        left = _undigits(ob.left, ds, xp)
        return (left, _undigits(ob.right, ds, xp))
    return ()


@functools.cache
def _table(dom: Ob, cod: Ob, seed: int) -> np.ndarray:
    n_in, n_out = int(np.prod(_radices(dom))), int(np.prod(_radices(cod)))
    return np.random.default_rng(seed).integers(0, n_out, size=n_in)


def _index(radices: list[int], digits: list[Any]) -> Any:
    out: Any = 0
    for r, d in zip(radices, digits, strict=True):
        out = out * r + (d.astype(jnp.int32) if hasattr(d, "astype") else int(d))
    return out


def _split(radices: list[int], index: Any) -> list[Any]:
    ds = []
    for r in reversed(radices):
        ds.append(index % r)
        index = index // r
    return ds[::-1]


def table_box(dom: Ob, cod: Ob, seed: int = 0) -> Box:
    """A box computing a random (seeded) function between finite flat objects."""
    assert is_finite_flat(dom) and is_finite_flat(cod), (dom, cod)
    return Box(TABLE, dom, cod, seed=seed)


def _jax_table(box: Box, x: Any) -> Any:
    table = jnp.asarray(_table(box.dom, box.cod, box.attrs["seed"]), jnp.int32)
    i = _index(_radices(box.dom), _digits(box.dom, x))
    return _undigits(box.cod, _split(_radices(box.cod), table[i]), jnp)


def sets_table(box: Box) -> Callable[[Any], Any]:
    """The same function on the elements of ``topos.finite.Sets``."""
    table = _table(box.dom, box.cod, box.attrs["seed"])
    rd, rc = _radices(box.dom), _radices(box.cod)
    return lambda x: _undigits(
        box.cod, _split(rc, int(table[_index(rd, _digits(box.dom, x))])), None
    )


register(TABLE, _jax_table, cls="pl", replace=True)


# -- diagrams ------------------------------------------------------------------------


class Vocabulary:
    """What random diagrams are built from: flat objects, a box between them, middles."""

    def __init__(
        self,
        flat: tuple[Ob, ...],
        middle: tuple[Ob, ...],
        is_flat: Callable[[Ob], bool],
        box: Callable[[Ob, Ob, int], Box],
        logic: bool = False,
    ) -> None:
        self.flat, self.middle, self.is_flat, self.box, self.logic = (
            flat,
            middle,
            is_flat,
            box,
            logic,
        )


_RFLAT = (R(1), R(2), R(3), One, R(2) * R(1), R(1) * One)
REAL = Vocabulary(
    _RFLAT,
    (*_RFLAT, R(2) + R(1), R(1) ** R(2), (R(1) + One) * R(2), R(2) ** (R(1) * R(1))),
    is_flat,
    generic,
)
_FFLAT = (Fin(2), Fin(3), Omega, One, Fin(2) * Omega)
FINITE = Vocabulary(
    _FFLAT,
    (*_FFLAT, Fin(2) + Omega, Omega ** Fin(2), (Omega + One) * Fin(3), Fin(3) ** (Omega * Omega)),
    is_finite_flat,
    table_box,
    logic=True,
)


@st.composite
def diagrams(draw: st.DrawFn, dom: Ob, cod: Ob, depth: int = 3, vocab: Vocabulary = REAL) -> Arrow:
    """A well-typed diagram ``dom -> cod`` using every constructor (depth-bounded)."""
    rules = _rules(dom, cod, depth, vocab)
    name = draw(st.sampled_from(sorted(rules)))
    return rules[name](draw)


Rules = dict[str, Callable[[st.DrawFn], Arrow]]


def _rules(dom: Ob, cod: Ob, depth: int, v: Vocabulary) -> Rules:
    """The ways to draw ``dom -> cod``: by the codomain's shape, then (above depth 0)
    by the domain's and by composition."""

    def d(a: Ob, b: Ob) -> st.SearchStrategy[Arrow]:
        return diagrams(a, b, depth - 1, v)

    rules = _by_codomain(dom, cod, v, d)
    if depth <= 0:
        return rules
    return {**rules, **_by_domain(dom, cod, v, d)}


Sub = Callable[[Ob, Ob], st.SearchStrategy[Arrow]]


def _by_codomain(dom: Ob, cod: Ob, v: Vocabulary, d: Sub) -> Rules:
    seeds = st.integers(0, 2**16)
    rules: Rules = {}
    if v.is_flat(cod):
        if v.is_flat(dom):
            rules["box"] = lambda draw: v.box(dom, cod, draw(seeds))
        rules["const"] = lambda draw: ar_.discard(dom) >> v.box(One, cod, draw(seeds))
    if dom == cod:
        rules["id"] = lambda draw: ar_.Id(dom)
    if cod == One:
        rules["discard"] = lambda draw: ar_.discard(dom)
    if isinstance(cod, Product):
        rules["pair"] = lambda draw: ar_.pair(draw(d(dom, cod.left)), draw(d(dom, cod.right)))
    if isinstance(cod, Exp):
        rules["curry"] = lambda draw: ar_.curry(draw(d(dom * cod.exponent, cod.base)))
    if isinstance(cod, Coproduct):
        rules["inl"] = lambda draw: draw(d(dom, cod.left)) >> ar_.inl(cod.left, cod.right)
        rules["inr"] = lambda draw: draw(d(dom, cod.right)) >> ar_.inr(cod.left, cod.right)
    if v.logic and cod == Omega:
        rules["const_truth"] = lambda draw: (
            ar_.discard(dom) >> draw(st.sampled_from([ar_.true, ar_.false]))
        )
    return rules


def _by_domain(dom: Ob, cod: Ob, v: Vocabulary, d: Sub) -> Rules:
    rules: Rules = {}
    if v.logic and cod == Omega:
        ops = st.sampled_from([ar_.conj, ar_.disj, ar_.implies])
        rules["connective"] = lambda draw: (
            ar_.pair(draw(d(dom, Omega)), draw(d(dom, Omega))) >> draw(ops)
        )
        rules["neg"] = lambda draw: draw(d(dom, Omega)) >> ar_.neg
    if isinstance(dom, Coproduct):
        rules["copair"] = lambda draw: ar_.copair(draw(d(dom.left, cod)), draw(d(dom.right, cod)))
    if isinstance(dom, Product):
        rules["fst"] = lambda draw: ar_.fst(dom.left, dom.right) >> draw(d(dom.left, cod))
        rules["snd"] = lambda draw: ar_.snd(dom.left, dom.right) >> draw(d(dom.right, cod))
        rules["uncurry"] = lambda draw: ar_.uncurry(draw(d(dom.left, cod**dom.right)))
        rules["swap"] = lambda draw: (
            ar_.swap(dom.left, dom.right) >> draw(d(dom.right * dom.left, cod))
        )
        if isinstance(cod, Product):
            rules["tensor"] = lambda draw: (
                draw(d(dom.left, cod.left)) * draw(d(dom.right, cod.right))
            )
    if isinstance(dom, Coproduct) and isinstance(cod, Coproduct):
        rules["sum"] = lambda draw: draw(d(dom.left, cod.left)) + draw(d(dom.right, cod.right))

    def compose(draw: st.DrawFn) -> Arrow:
        mid = draw(st.sampled_from(v.middle))
        return draw(d(dom, mid)) >> draw(d(mid, cod))

    def ev(draw: st.DrawFn) -> Arrow:
        a = draw(st.sampled_from(v.flat))
        return ar_.pair(draw(d(dom, cod**a)), draw(d(dom, a))) >> ar_.ev(cod, a)

    rules["compose"] = compose
    rules["ev"] = ev
    rules["copy"] = lambda draw: ar_.copy(dom) >> draw(d(dom * dom, cod))
    return rules


# -- small trainable models from test boxes ----------------------------------------------


def _affine(box: Box, v: Any) -> Any:
    (w, b), x = v
    return x @ w + b


register("test.affine", _affine, cls="linear", replace=True)
register("test.relu", lambda box, x: jnp.maximum(x, 0), cls="pl", replace=True)
np_box("test.affine", _affine)
np_box("test.relu", lambda box, x: np.maximum(x, 0))


def affine(n_in: int, n_out: int) -> Any:
    """A Para ``R(n_in) -> R(n_out)``: ``x @ w + b`` with ``w`` glorot, ``b`` zeros."""
    from topos.para import Para, glorot_uniform, zeros

    P = R(n_in, n_out) * R(n_out)
    return Para(P, Box("test.affine", P * R(n_in), R(n_out)), {"w": glorot_uniform, "b": zeros})


def mlp(*sizes: int) -> Any:
    """``affine >> relu >> ... >> affine`` with layers named ``l0``, ``l1``, ..."""
    net = affine(sizes[0], sizes[1]).named("l0")
    for i, (a, b) in enumerate(zip(sizes[1:-1], sizes[2:], strict=True), start=1):
        net = net >> Box("test.relu", R(a), R(a)) >> affine(a, b).named(f"l{i}")
    return net


def _tree_map(fn: Callable[[Any], Any], x: Any) -> Any:
    if isinstance(x, tuple):
        return tuple(_tree_map(fn, y) for y in x)
    return fn(x)
