"""The axioms of cartesian reverse derivative categories as a law suite: ``"reverse"``.

Cockett, Cruttwell, Gallagher, Lemay, MacAdam, Plotkin, Pronk, "Reverse
derivative categories" (CSL 2020), Definition 13, for ``R = topos.reverse.reverse``
on diagrams of the neural primitives (drawn by ``differentiable``), with
``+`` the addition ``plus`` of cotangents, ``0`` the zero maps, ``ι₀ = ⟨1, 0⟩``:

- ``RD.1`` ``R[f + g] = R[f] + R[g]`` and ``R[0] = 0`` (additivity of ``R``);
- ``RD.2`` ``⟨a, b + c⟩ R[f] = ⟨a, b⟩ R[f] + ⟨a, c⟩ R[f]``, ``⟨a, 0⟩ R[f] = 0``
  (linear in the cotangent);
- ``RD.3`` ``R[1] = π₁``, ``R[π₀] = π₁ ι₀``, ``R[π₁] = π₁ ι₁`` (structural maps);
- ``RD.4`` ``R[⟨f, g⟩] = (1 × π₀) R[f] + (1 × π₁) R[g]`` (pairing);
- ``RD.5`` ``R[f g] = ⟨π₀, ⟨π₀ f, π₁⟩ R[g]⟩ R[f]`` (the chain rule);
- ``RD.6`` ``⟨1 × π₀, 0 × π₁⟩ (ι₀ × 1) R[R[R[f]]] π₁ = (1 × π₁) R[f]`` (the
  derivative is linear in its direction);
- ``RD.7`` with ``g = (ι₀ × 1) R[R[f]] π₁`` (the forward derivative) and
  ``h = (ι₀ × 1) R[R[g]] π₁`` (the second derivative), ``ex h = h``, where ``ex``
  exchanges the middle factors (symmetry of mixed partials).

Each law is a ``topos.testing.laws.Law`` of the theory ``"reverse"``, so it runs
with ``check`` on any ``Semantics``. Symbolically (``Semantics.symbolic()``,
``topos.equal``) RD.1, RD.3, RD.4 and RD.5 are decided: they hold in the free
category by the rules ``reverse`` is built from. RD.2, RD.6 and RD.7 need the
algebra of the primitives (``a·(b+c) = a·b + a·c``, ``x·0 = 0``): they are checked
numerically, in a backend (``tests/backends/jax/test_reverse_laws.py``).

>>> from hypothesis import settings
>>> from topos.testing import Semantics, check
>>> fast = settings(max_examples=5, derandomize=True, database=None)
>>> check(Semantics.symbolic(), SYMBOLIC, settings=fast)
['reverse.RD1', 'reverse.RD1_zero', 'reverse.RD3', 'reverse.RD4', 'reverse.RD5']
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from topos.arrows import Arrow, Id, compose, copy, discard, fst, group, pair, snd
from topos.errors import short
from topos.nn import primitives as P
from topos.objects import Ob, R
from topos.reverse import plus, zero
from topos.reverse import reverse as _reverse
from topos.testing.laws import _LAWS, THEORIES, Trial, _law

__all__ = ["NUMERIC", "SYMBOLIC", "differentiable", "exchange", "reverse"]

#: The objects differentiable diagrams are drawn between.
SHAPES: tuple[R, ...] = (R(3), R(2, 3))

_UNARY = ("tanh", "sigmoid", "exp", "sin", "cos", "gelu", "silu", "erf", "relu")


def _unary(x: R) -> SearchStrategy[Arrow]:
    maps = [getattr(P, name)(x) for name in _UNARY]
    maps += [P.softmax(x), P.scale(x, 0.5), P.causal_mask(x) if _square(x) else P.scale(x, 2.0)]
    maps += [copy(x) >> P.mul(x, x), copy(x) >> P.add(x, x)]
    lead = x.shape[:-1]
    spread = P.reduce_sum(x, -1, keepdims=True) >> P.broadcast(R(*lead, 1), *x.shape)
    maps += [spread, P.reduce_max(x, -1, keepdims=True) >> P.broadcast(R(*lead, 1), *x.shape)]
    n = x.shape[-1]
    letters = "ab"[: len(lead)]
    mix = P.einsum(f"{letters}i,{letters}j->{letters}i", x, x)
    maps += [copy(x) >> mix]
    if len(x.shape) == 2:
        maps.append(copy(x) >> P.einsum("ij,kj->ik", x, x) >> _back(R(x.shape[0], x.shape[0]), x))
        maps += _windowed(x)
    del n
    return st.sampled_from(maps)


def _windowed(x: R) -> list[Arrow]:
    """``conv`` of ``x = R(n, c)`` with a kernel made of ``x`` itself, and a ``max_pool``."""
    n, c = x.shape
    kernel = R(n, c, 1, dtype=x.dtype)
    col = R(n, 1, dtype=x.dtype)
    conv = copy(x) >> (Id(x) * P.reshape(x, n, c, 1)) >> P.conv(x, kernel)
    pooled = R(1, c, dtype=x.dtype)
    return [conv >> P.broadcast(col, n, c), P.max_pool(x, (n,)) >> P.broadcast(pooled, n, c)]


def _square(x: R) -> bool:
    return len(x.shape) >= 2 and x.shape[-1] == x.shape[-2]


def _back(y: R, x: R) -> Arrow:
    """Some linear map ``y -> x`` built from primitives (for shapes to meet again)."""
    if y == x:
        return Id(x)
    return P.reduce_sum(y, -1, keepdims=True) >> P.broadcast(R(*y.shape[:-1], 1), *x.shape)


@st.composite
def _diagram(draw: Any, x: R, depth: int) -> Arrow:
    kind = draw(st.sampled_from(("box", "compose", "pair", "tensor"))) if depth else "box"
    if kind == "box":
        out: Arrow = draw(_unary(x))
        return out
    f: Arrow = draw(_diagram(x, depth - 1))
    g: Arrow = draw(_diagram(x, depth - 1))
    if kind == "compose":
        return f >> g
    if kind == "pair":
        return pair(f, g) >> P.mul(x, x)
    return copy(x) >> (f * g) >> P.sub(x, x)


def differentiable(max_depth: int = 1, shapes: tuple[R, ...] = SHAPES) -> SearchStrategy[Arrow]:
    """Diagrams ``x -> x`` of differentiable primitives joined by ``>>``, pairs and tensors.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, derandomize=True)
    ... @given(differentiable())
    ... def endo(f):
    ...     assert f.dom == f.cod
    >>> endo()
    """
    return st.sampled_from(shapes).flatmap(lambda x: _diagram(x, max_depth))


def _two(t: Trial, depth: int = 1) -> tuple[Arrow, Arrow]:
    f = t.draw(differentiable(depth))
    x = f.dom
    assert isinstance(x, R)
    g = t.draw(_diagram(x, depth))
    return f, g


def reverse(f: Arrow) -> Arrow:
    """``reverse(f)`` in a frame named ``R[f]``: a counterexample shows which ``f`` it reverses."""
    return group(f"R[{short(f, 48)}]", _reverse(f))


def _zero_map(a: Ob, b: Ob) -> Arrow:
    return discard(a) >> zero(b)


def _inject0(a: Ob, b: Ob) -> Arrow:
    """``ι₀ = ⟨1, 0⟩: a -> a * b``."""
    return pair(Id(a), _zero_map(a, b))


def exchange(a: Ob, b: Ob, c: Ob, d: Ob) -> Arrow:
    """``ex: (a * b) * (c * d) -> (a * c) * (b * d)``, exchanging the middle factors."""
    left, right = fst(a * b, c * d), snd(a * b, c * d)
    return pair(
        pair(left >> fst(a, b), right >> fst(c, d)), pair(left >> snd(a, b), right >> snd(c, d))
    )


@_law("reverse", "RD1", "R[f + g] = R[f] + R[g]")
def _rd1(t: Trial) -> tuple[Arrow, Arrow]:
    f, g = _two(t)
    a, b = f.dom, f.cod
    return reverse(pair(f, g) >> plus(b)), pair(reverse(f), reverse(g)) >> plus(a)


@_law("reverse", "RD1_zero", "R[0] = 0")
def _rd1_zero(t: Trial) -> tuple[Arrow, Arrow]:
    a = t.draw(st.sampled_from(SHAPES))
    return reverse(_zero_map(a, a)), _zero_map(a * a, a)


@_law("reverse", "RD2", "(1 × +) R[f] = ⟨(1 × π₀) R[f], (1 × π₁) R[f]⟩ +")
def _rd2(t: Trial) -> tuple[Arrow, Arrow]:
    f = t.draw(differentiable())
    a, b = f.dom, f.cod
    rf = reverse(f)
    lhs = (Id(a) * plus(b)) >> rf
    rhs = pair((Id(a) * fst(b, b)) >> rf, (Id(a) * snd(b, b)) >> rf) >> plus(a)
    return lhs, rhs


@_law("reverse", "RD2_zero", "⟨1, 0⟩ R[f] = 0")
def _rd2_zero(t: Trial) -> tuple[Arrow, Arrow]:
    f = t.draw(differentiable())
    a, b = f.dom, f.cod
    return _inject0(a, b) >> reverse(f), _zero_map(a, a)


@_law("reverse", "RD3", "R[1] = π₁, R[π₀] = π₁ ι₀, R[π₁] = π₁ ι₁")
def _rd3(t: Trial) -> tuple[Arrow, Arrow]:
    a = t.draw(st.sampled_from(SHAPES))
    b = t.draw(st.sampled_from(SHAPES))
    which = t.draw(st.sampled_from(("id", "fst", "snd")))
    if which == "id":
        return reverse(Id(a)), snd(a, a)
    if which == "fst":
        return reverse(fst(a, b)), snd(a * b, a) >> _inject0(a, b)
    inject1 = pair(_zero_map(b, a), Id(b))
    return reverse(snd(a, b)), snd(a * b, b) >> inject1


@_law("reverse", "RD4", "R[⟨f, g⟩] = (1 × π₀) R[f] + (1 × π₁) R[g]")
def _rd4(t: Trial) -> tuple[Arrow, Arrow]:
    f, g = _two(t)
    a, b, c = f.dom, f.cod, g.cod
    rhs = pair((Id(a) * fst(b, c)) >> reverse(f), (Id(a) * snd(b, c)) >> reverse(g)) >> plus(a)
    return reverse(pair(f, g)), rhs


@_law("reverse", "RD5", "R[f g] = ⟨π₀, ⟨π₀ f, π₁⟩ R[g]⟩ R[f]")
def _rd5(t: Trial) -> tuple[Arrow, Arrow]:
    f, g = _two(t)
    a, c = f.dom, g.cod
    here, there = fst(a, c), snd(a, c)
    return reverse(f >> g), pair(here, pair(here >> f, there) >> reverse(g)) >> reverse(f)


@_law("reverse", "RD6", "⟨1 × π₀, 0 × π₁⟩ (ι₀ × 1) R[R[R[f]]] π₁ = (1 × π₁) R[f]")
def _rd6(t: Trial) -> tuple[Arrow, Arrow]:
    f = t.draw(differentiable(0))
    a, b = f.dom, f.cod
    spread = pair(Id(a) * fst(b, b), _zero_map(a, a) * snd(b, b))
    r3 = reverse(reverse(reverse(f)))
    lhs = compose(spread, _inject0(a * b, a) * Id(a * b), r3, snd(a * b, a))
    return lhs, (Id(a) * snd(b, b)) >> reverse(f)


@_law("reverse", "RD7", "ex (ι₀ × 1) R[R[g]] π₁ = (ι₀ × 1) R[R[g]] π₁, g = (ι₀ × 1) R[R[f]] π₁")
def _rd7(t: Trial) -> tuple[Arrow, Arrow]:
    f = t.draw(differentiable(0))
    a, b = f.dom, f.cod
    g = compose(_inject0(a, b) * Id(a), reverse(reverse(f)), snd(a, b))  # a * a -> b
    h = compose(_inject0(a * a, b) * Id(a * a), reverse(reverse(g)), snd(a * a, b))
    return exchange(a, a, a, a) >> h, h


THEORIES["reverse"] = tuple(_LAWS["reverse"])

#: The laws ``topos.equal`` decides (they hold in the free category).
SYMBOLIC = [
    law for law in THEORIES["reverse"] if law.name in ("RD1", "RD1_zero", "RD3", "RD4", "RD5")
]
#: The laws that need the primitives' algebra: checked numerically.
NUMERIC = list(THEORIES["reverse"])
