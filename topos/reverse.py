"""The reverse derivative: a functor from arrows to arrows of the same free category.

For an arrow ``f: A -> B``, ``reverse(f): A * B' -> A'`` is its reverse derivative
``R[f]`` (Cockett et al., "Reverse derivative categories", CSL 2020): at a point
``a`` and a cotangent ``b'`` of the output, the cotangent ``J_f(a)ᵀ b'`` of the
input. Here ``X'`` is the *cotangent object* of ``X`` (``cotangent(X)``): real
arrays stay, discrete objects (``Fin``, ``Omega``) and ``One`` become ``One``
(nothing to differentiate), so for real objects the type is ``A * B -> A`` as in
the paper. Every cotangent object is a commutative monoid: ``plus(X): X * X -> X``
and ``zero(X): One -> X`` (the ``add`` and ``full(0)`` primitives, componentwise).

It is built compositionally, from the structure and from the declared reverse
derivatives of the primitives (``DERIVATIVES``; the neural vocabulary's are in
``topos.nn.derivatives``), so the backward pass is an ordinary arrow:
drawable, analysable, serialisable, optimisable and compiled by any backend.

>>> from topos import R, Box, Id, pair, copy, discard, fst, swap, equal
>>> from topos.arrows import compose
>>> A, B = R(3), R(2)
>>> print(reverse(Id(A)))
π₂
>>> print(reverse(copy(A)))
π₂ >> add
>>> print(reverse(discard(A)))
! >> full

The rules, one per constructor (``⟨-, -⟩`` is ``pair``, ``π₁, π₂`` the projections):

- ``R[f >> g] = ⟨π₁, ⟨π₁ >> f, π₂⟩ >> R[g]⟩ >> R[f]``   (the chain rule, RD.5)
- ``R[f * g] = ⟨(π₁ * π₁) >> R[f], (π₂ * π₂) >> R[g]⟩`` after regrouping (RD.4)
- ``R[⟨f, g⟩] = ⟨R[f] on (a, b'), R[g] on (a, d')⟩ >> plus``  (fan-in adds, RD.3)
- ``R[copy] = π₂ >> plus``, ``R[discard] = ! >> zero``, ``R[πᵢ]`` injects with zero,
  ``R[σ] = π₂ >> σ``, ``R[id] = π₂``, ``R[const] = !``      (RD.3)
- ``R[group(n, f)] = group("R[n]", R[f])``; ``R[Repeat(f, k)]`` is the reverse of
  the unrolling over the layers' parameters unstacked, its cotangents gathered by
  ``Stack`` (the inverse of unstacking); ``R[Recur(c, k)] = R[unrolled]`` (an int
  ``k`` within ``MAX_UNROLLED_LAYERS``; a ``Dim`` length is refused by name);
  ``R[layer[i]]`` puts the cotangent in slice ``i``, ``R[stack]`` slices the
  cotangent back into its items.
- ``curry``/``ev``: an arrow whose domain and codomain are first order is first
  rewritten by ``first_order`` (closure conversion: each ``ev`` meets the ``curry``
  that made its function, and ``ev ∘ ⟨Λm ∘ h, k⟩`` becomes ``m ∘ ⟨h, k⟩``, a
  β-step, so the result is ``equal`` to the input); exponential objects in the
  domain or codomain, and closures through coproducts, are refused by name.

The chain rule, checked symbolically on a composite of boxes (both sides build
the same arrow):

>>> f, g = Box("f", A, B), Box("g", B, A)
>>> declare("f", lambda box: Box("Rf", A * B, A))
>>> declare("g", lambda box: Box("Rg", B * A, B))
>>> chain = pair(fst(A, A), pair(fst(A, A) >> f, snd(A, A)) >> reverse(g)) >> reverse(f)
>>> equal(reverse(f >> g), chain)
True

A primitive without a declared derivative is refused, naming it:

>>> reverse(Box("mystery", A, B))
Traceback (most recent call last):
...
topos.reverse.NoDerivative: reverse: the box 'mystery': R(3) -> R(2) has no declared reverse ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from topos.arrows import (
    MAX_UNROLLED_LAYERS,
    Arrow,
    Box,
    Compose,
    Const,
    Copair,
    Copy,
    Curry,
    Discard,
    Ev,
    Fst,
    Group,
    Id,
    Layer,
    Pair,
    Recur,
    Repeat,
    Snd,
    Stack,
    Swap,
    Tensor,
    compose,
    discard,
    fst,
    group,
    pair,
    snd,
    stacked,
    swap,
)
from topos.errors import short
from topos.objects import Dim, Exp, Fin, Ob, One, Product, R, Truth, Unit

__all__ = [
    "DERIVATIVES",
    "NoDerivative",
    "cotangent",
    "declare",
    "first_order",
    "plus",
    "reverse",
    "zero",
]


class NoDerivative(TypeError):
    """``reverse`` met a construct or a box it has no reverse derivative for (named)."""


#: Box name -> a function giving, for a box ``f: A -> B``, its reverse derivative
#: ``A * cotangent(B) -> cotangent(A)`` as an arrow.
DERIVATIVES: dict[str, Callable[[Box], Arrow]] = {}


def declare(name: str, derivative: Callable[[Box], Arrow], *, replace: bool = True) -> None:
    """Declare the reverse derivative of the boxes named ``name``.

    ``derivative(box)`` must return an arrow ``box.dom * cotangent(box.cod) ->
    cotangent(box.dom)`` (checked when it is used).

    >>> from topos import R, Box
    >>> declare("twice", lambda box: Box("twice", R(2) * R(2), R(2)))
    >>> reverse(Box("twice", R(2), R(2))).name
    'twice'
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"declare: name must be a non-empty string, got {name!r}")
    if not callable(derivative):
        raise TypeError(f"declare({name!r}): the derivative must be callable, got {derivative!r}")
    if name in DERIVATIVES and not replace:
        raise ValueError(f"declare: {name!r} already has a reverse derivative")
    DERIVATIVES[name] = derivative
    _reverse.cache_clear()


# -- cotangent objects and their additive structure -------------------------------------


@functools.lru_cache(maxsize=4096)
def cotangent(x: Ob) -> Ob:
    """The object of cotangents of ``x``: real leaves stay, discrete leaves become ``One``.

    >>> from topos import R, Fin, One, Omega
    >>> cotangent(R(3) * (Fin(5, 2) * Omega))
    R(3) * (One * One)
    >>> cotangent(R(3) ** R(2))
    Traceback (most recent call last):
    ...
    topos.reverse.NoDerivative: reverse: the exponential R(3) ** R(2) has no cotangent ...
    """
    if isinstance(x, R):
        return x
    if isinstance(x, (Fin, Truth, Unit)):
        return One
    if isinstance(x, Product):
        return cotangent(x.left) * cotangent(x.right)
    if isinstance(x, Exp):
        raise NoDerivative(
            f"reverse: the exponential {x!r} has no cotangent object here (a higher-order"
            " input or output needs CHAD's cotangent spaces); arrows with first-order domain"
            " and codomain are reversed through first_order"
        )
    raise NoDerivative(f"reverse: the object {x!r} (a coproduct or Zero) has no cotangent object")


@functools.lru_cache(maxsize=4096)
def plus(x: Ob) -> Arrow:
    """Addition ``x * x -> x`` of cotangents: ``add`` on arrays, componentwise on products.

    >>> from topos import R, One
    >>> print(plus(R(2) * One))
    ⟨π₁ * π₁ >> add, !⟩
    """
    from topos.nn.primitives import add  # noqa: PLC0415 - the vocabulary imports this module

    if isinstance(x, R):
        return add(x, x)
    if isinstance(x, Unit):
        return discard(x * x)
    if isinstance(x, Product):
        a, b = x.left, x.right
        left = fst(a, b) * fst(a, b) >> plus(a)
        right = snd(a, b) * snd(a, b) >> plus(b)
        return pair(_only(left, a), _only(right, b))
    raise NoDerivative(f"reverse: no addition on {x!r}")


def _only(f: Arrow, x: Ob) -> Arrow:
    return discard(f.dom) if isinstance(x, Unit) else f


@functools.lru_cache(maxsize=4096)
def zero(x: Ob) -> Arrow:
    """The zero ``One -> x`` of cotangents (``full(x, 0.0)`` on arrays).

    >>> from topos import R, One
    >>> print(zero(R(2) * One))
    ⟨full, id⟩
    """
    from topos.nn.primitives import full  # noqa: PLC0415 - the vocabulary imports this module

    if isinstance(x, R):
        return full(x, 0.0)
    if isinstance(x, Unit):
        return Id(One)
    if isinstance(x, Product):
        return pair(zero(x.left), zero(x.right))
    raise NoDerivative(f"reverse: no zero in {x!r}")


def _real(x: Ob) -> bool:
    """Whether ``cotangent(x)`` has a real leaf (else every cotangent of ``x`` is trivial)."""
    if isinstance(x, R):
        return True
    if isinstance(x, Product):
        return _real(x.left) or _real(x.right)
    return False


# -- first order: closure conversion of curry / ev ------------------------------------


class _Clo:
    """A closure value: an environment object and the body ``m: env * A -> B`` of its curry."""

    __slots__ = ("env", "body")

    def __init__(self, env: Any, body: Arrow) -> None:
        self.env, self.body = env, body


# A representation: an Ob (first order), a _Clo, or a pair (left, right) of representations.
Rep = Any


def _ob(r: Rep) -> Ob:
    if isinstance(r, Ob):
        return r
    if isinstance(r, _Clo):
        return _ob(r.env)
    return _ob(r[0]) * _ob(r[1])


def _holds_closure(r: Rep) -> bool:
    if isinstance(r, tuple):
        return _holds_closure(r[0]) or _holds_closure(r[1])
    return isinstance(r, _Clo)


def _split(r: Rep, op: Arrow) -> tuple[Rep, Rep]:
    if isinstance(r, tuple):
        return r
    if isinstance(r, Product):
        return r.left, r.right
    raise NoDerivative(f"first_order: {short(op)} expects a product, got {_ob(r)!r}")


def _has_closure(f: Arrow) -> bool:
    from topos.arrows import fold  # noqa: PLC0415

    return fold(f, lambda node, kids: isinstance(node, (Curry, Ev)) or any(kids))


def first_order(f: Arrow) -> Arrow:
    """An arrow ``equal`` to ``f`` without ``curry``/``ev``, when ``f``'s type is first order.

    Closure conversion: the value of an exponential is held as its environment
    (the input of the ``curry`` that made it) and ``ev`` runs the curried body on
    the environment and the argument. Sub-diagrams without ``curry``/``ev`` are
    kept as they are (groups and repeats included).

    >>> from topos import R, Box, curry, ev, copy, equal
    >>> X, A, B = R(2), R(3), R(4)
    >>> m, h = Box("m", X * A, B), Box("h", A, X)
    >>> f = copy(A) >> (h >> curry(m)) * Id(A) >> ev(B, A)
    >>> print(first_order(f))
    Δ >> h * id >> m
    >>> equal(first_order(f), f)
    True
    >>> first_order(curry(m))
    Traceback (most recent call last):
    ...
    topos.reverse.NoDerivative: first_order: the codomain R(4) ** R(3) is higher order; ...
    """
    if not _has_closure(f):
        return f
    for side, ob in (("domain", f.dom), ("codomain", f.cod)):
        if _higher(ob):
            raise NoDerivative(
                f"first_order: the {side} {ob!r} is higher order; reverse derivatives of"
                " higher-order types (CHAD) are not implemented"
            )
    arrow, _ = _FirstOrder().run(f, f.dom)
    return arrow


def _higher(x: Ob) -> bool:
    if isinstance(x, Exp):
        return True
    if isinstance(x, Product):
        return _higher(x.left) or _higher(x.right)
    return False


class _FirstOrder:
    """The closure-converting translation: ``run(f, rep) -> (arrow, rep of the output)``."""

    def __init__(self) -> None:
        self.memo: dict[tuple[int, Ob], tuple[Arrow, Rep]] = {}
        self.closures: dict[int, bool] = {}

    def closure(self, f: Arrow) -> bool:
        key = id(f)
        if key not in self.closures:
            self.closures[key] = _has_closure(f)
        return self.closures[key]

    def run(self, f: Arrow, r: Rep) -> tuple[Arrow, Rep]:
        if not _holds_closure(r):
            r = _ob(r)
        plain = isinstance(r, Ob)
        if plain and not self.closure(f):
            return f, f.cod
        if plain and (id(f), r) in self.memo:
            return self.memo[(id(f), r)]
        out = self.step(f, r)
        if plain:
            self.memo[(id(f), r)] = out
        return out

    def step(self, f: Arrow, r: Rep) -> tuple[Arrow, Rep]:  # noqa: C901 - one case per constructor
        if isinstance(f, Compose):
            arrows = []
            for part in f.children:
                a, r = self.run(part, r)
                arrows.append(a)
            return compose(*arrows), r
        if isinstance(f, Id):
            return Id(_ob(r)), r
        if isinstance(f, Curry):
            return Id(_ob(r)), _Clo(r, f.arrow)
        if isinstance(f, Ev):
            clo, arg = _split(r, f)
            if not isinstance(clo, _Clo):
                raise NoDerivative(f"first_order: ev applies a function of unknown origin {clo!r}")
            body, out = self.run(clo.body, (clo.env, arg))
            return body, out
        if isinstance(f, Group):
            body, out = self.run(f.body, r)
            return group(f.name, body, **f.attrs), out
        if isinstance(f, (Fst, Snd)):
            a, b = _split(r, f)
            pick = fst if isinstance(f, Fst) else snd
            return pick(_ob(a), _ob(b)), (a if isinstance(f, Fst) else b)
        if isinstance(f, Copy):
            return _copy(_ob(r)), (r, r)
        if isinstance(f, Discard):
            return discard(_ob(r)), One
        if isinstance(f, Swap):
            a, b = _split(r, f)
            return swap(_ob(a), _ob(b)), (b, a)
        if isinstance(f, Pair):
            left, ra = self.run(f.left, r)
            right, rb = self.run(f.right, r)
            return pair(left, right), (ra, rb)
        if isinstance(f, Tensor):
            a, b = _split(r, f)
            left, ra = self.run(f.left, a)
            right, rb = self.run(f.right, b)
            return left * right, (ra, rb)
        if isinstance(f, Repeat):
            body, out = self.run(f.body, f.body.dom)
            if not isinstance(out, Ob):
                raise NoDerivative(f"first_order: {short(f)} passes a function between layers")
            return Repeat(body, f.n), out
        raise NoDerivative(
            f"first_order: {type(f).__name__} {short(f)} carries a function (curry/ev through"
            " coproducts is not closure-converted)"
        )


def _copy(x: Ob) -> Arrow:
    from topos.arrows import copy  # noqa: PLC0415

    return copy(x)


# -- the reverse derivative --------------------------------------------------------------


def reverse(f: Arrow) -> Arrow:
    """The reverse derivative ``R[f]: A * cotangent(B) -> cotangent(A)`` of ``f: A -> B``.

    See the module docstring for the rules. ``curry``/``ev`` inside a first-order
    arrow are removed first (``first_order``).

    >>> from topos import R
    >>> from topos.nn import primitives as P
    >>> r = reverse(P.tanh(R(3)))
    >>> r.dom, r.cod
    (R(3) * R(3), R(3))
    """
    if not isinstance(f, Arrow):
        if hasattr(f, "arrow") and hasattr(f, "parameters"):
            raise TypeError(
                "reverse: expected an arrow, got a Para; use reverse(p.arrow) or lens(p)"
            )
        raise TypeError(f"reverse: expected an arrow, got {type(f).__name__}")
    import topos.nn.derivatives  # noqa: F401, PLC0415 - declares the vocabulary's derivatives

    return _reverse(first_order(f))


@functools.lru_cache(maxsize=65536)
def _reverse(f: Arrow) -> Arrow:
    out = _rule(f)
    want_dom, want_cod = f.dom * cotangent(f.cod), cotangent(f.dom)
    if out.dom != want_dom or out.cod != want_cod:
        raise NoDerivative(
            f"reverse: the derivative declared for {short(f)} has type {out.dom!r} -> {out.cod!r},"
            f" expected {want_dom!r} -> {want_cod!r}"
        )
    return out


def _rule(f: Arrow) -> Arrow:  # noqa: C901, PLR0911 - one case per constructor
    a, b = f.dom, f.cod
    ca, cb = cotangent(a), cotangent(b)
    ctx = a * cb
    if not _real(a) or not _real(b):  # nothing flows through a discrete side
        return discard(ctx) >> zero(ca)
    if isinstance(f, Compose):
        return _chain(f.children)
    if isinstance(f, Box):
        derivative = DERIVATIVES.get(f.name)
        if derivative is None:
            raise NoDerivative(
                f"reverse: the box {f.name!r}: {a!r} -> {b!r} has no declared reverse derivative"
                " (topos.reverse.declare)"
            )
        return derivative(f)
    if isinstance(f, Id):
        return snd(a, cb)
    if isinstance(f, Group):
        return group(f"R[{f.name}]", _reverse(f.body), **f.attrs)
    if isinstance(f, Repeat):
        return _repeat(f)
    if isinstance(f, Recur):
        return _recur(f)
    if isinstance(f, Stack):
        return _stack(f)
    if isinstance(f, Copy):
        return snd(a, cb) >> plus(ca)
    if isinstance(f, Swap):
        x, y = f.obs
        return snd(a, cb) >> swap(cotangent(y), cotangent(x))
    if isinstance(f, (Fst, Snd)):
        return _projection(f)
    if isinstance(f, Pair):
        return _fan_in(f)
    if isinstance(f, Tensor):
        return _tensor(f)
    if isinstance(f, Layer):
        return _layer(f)
    if isinstance(f, Const):
        return discard(ctx)
    if isinstance(f, (Curry, Ev)):
        raise NoDerivative(f"reverse: {short(f)} is higher order (first_order left it)")
    if isinstance(f, Copair):
        raise NoDerivative(f"reverse: the copairing {short(f)} (coproducts) has no reverse rule")
    raise NoDerivative(f"reverse: the construct {type(f).__name__} {short(f)} has no reverse rule")


def _chain(parts: tuple[Arrow, ...]) -> Arrow:
    """``R[f1 >> ... >> fn]`` by the chain rule, from the right: each ``fi`` runs once."""
    out = _reverse(parts[-1])
    for part in reversed(parts[:-1]):
        a, cc = part.dom, out.dom.right  # type: ignore[attr-defined]
        here, there = fst(a, cc), snd(a, cc)
        out = pair(here, pair(here >> part, there) >> out) >> _reverse(part)
    return out


def _projection(f: Fst | Snd) -> Arrow:
    x, y = f.obs
    cx, cy = cotangent(x), cotangent(y)
    ctx = (x * y) * cotangent(f.cod)
    g = snd(x * y, cotangent(f.cod))
    nothing = discard(ctx)
    if isinstance(f, Fst):
        return pair(g, nothing >> zero(cy))
    return pair(nothing >> zero(cx), g)


def _fan_in(f: Pair) -> Arrow:
    a = f.dom
    cb, cd = cotangent(f.left.cod), cotangent(f.right.cod)
    x, g = fst(a, cb * cd), snd(a, cb * cd)
    left = pair(x, g >> fst(cb, cd)) >> _reverse(f.left)
    right = pair(x, g >> snd(cb, cd)) >> _reverse(f.right)
    return pair(left, right) >> plus(cotangent(a))


def _tensor(f: Tensor) -> Arrow:
    a, c = f.left.dom, f.right.dom
    cb, cd = cotangent(f.left.cod), cotangent(f.right.cod)
    xs, gs = fst(a * c, cb * cd), snd(a * c, cb * cd)
    left = pair(xs >> fst(a, c), gs >> fst(cb, cd)) >> _reverse(f.left)
    right = pair(xs >> snd(a, c), gs >> snd(cb, cd)) >> _reverse(f.right)
    return pair(left, right)


def _repeat(f: Repeat) -> Arrow:
    """``R[Repeat(body, n)]``: the reverse of its unrolling over unstacked parameters.

    ``Repeat(body, n) = (unstack * id) ; U`` with ``unstack = ⟨layer[0], ...,
    layer[n-1]⟩`` (an isomorphism onto the product of the layers' parameters) and
    ``U`` the unrolling reading layer ``i``'s parameters by a projection. By the
    chain rule ``R[Repeat]`` is ``R[U]`` followed by ``R[unstack]``, and the reverse
    of that isomorphism is its inverse ``Stack``: each layer's cotangent is written
    once into the stack (not padded with zeros and added, ``n`` times per layer).
    """
    p, a, n = f.params, f.cod, f.n
    if n > MAX_UNROLLED_LAYERS:
        f.unroll()  # refuses, naming the limit
    s, ca, cp = f.dom.left, cotangent(a), cotangent(p)  # type: ignore[attr-defined]
    items = _items(p, n)
    first, second = fst(items, a), snd(items, a)
    steps = [pair(first >> _pick(p, n, i), second) >> f.body for i in range(n)]
    unrolled = compose(*(pair(first, step) for step in steps[:-1]), steps[-1])
    unstack: Arrow = Layer(p, n, 0)
    for i in range(1, n):
        unstack = pair(unstack, Layer(p, n, i))
    into = pair(fst(s * a, ca) >> unstack * Id(a), snd(s * a, ca))
    return group(f"R[{f.name}]", into >> _reverse(unrolled) >> Stack(cp, n) * Id(ca))


def _pick(p: Ob, n: int, i: int) -> Arrow:
    """The projection of item ``i`` out of the left-nested product of ``n`` copies of ``p``."""
    steps: list[Arrow] = []
    while n > 1:
        rest = _items(p, n - 1)
        if i == n - 1:
            return compose(*steps, snd(rest, p))
        steps.append(fst(rest, p))
        n -= 1
    return compose(*steps) if steps else Id(p)


def _items(p: Ob, n: int) -> Ob:
    """``((p * p) * p) ...``: ``n`` copies, left-nested (``Stack(p, n).dom``)."""
    out = p
    for _ in range(n - 1):
        out = out * p
    return out


def _recur(f: Recur) -> Arrow:
    """``R[Recur(c, n)]``: the reverse derivative of its unrolling (an int ``n``)."""
    if isinstance(f.n, Dim):
        raise NoDerivative(
            f"reverse: the fold {short(f)} runs over the variable length {f.n!r}; its reverse"
            " derivative unrolls it: specialise the length first (topos.specialise)"
        )
    return group(f"R[{f.name}]", _reverse(f.unroll()))


def _stack(f: Stack) -> Arrow:
    """``R[Stack]``: slice ``i`` of the cotangent goes to item ``i`` (the stack's inverse)."""
    x, n = f.ob, f.n
    out: Arrow = Layer(x, n, 0)
    for i in range(1, n):
        out = pair(out, Layer(x, n, i))
    return snd(f.dom, cotangent(f.cod)) >> out


def _layer(f: Layer) -> Arrow:
    """``R[layer[i]]``: the cotangent of slice ``i`` placed in a stack of zeros."""
    return snd(f.dom, cotangent(f.cod)) >> _pad_leaves(f.ob, f.n, f.index)


def _pad_leaves(p: Ob, n: int, i: int) -> Arrow:
    if isinstance(p, Unit):
        return Id(One)
    if isinstance(p, Product):
        left = fst(cotangent(p.left), cotangent(p.right)) >> _pad_leaves(p.left, n, i)
        right = snd(cotangent(p.left), cotangent(p.right)) >> _pad_leaves(p.right, n, i)
        return pair(left, right)
    if not isinstance(p, R):
        raise NoDerivative(f"reverse: layer parameters must be R(...) or One, got {p!r}")
    from topos.nn.derivatives import pad  # noqa: PLC0415

    into = stacked(p, n)
    assert isinstance(into, R)
    return pad(p, into, 0, i)
