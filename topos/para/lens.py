"""Lenses: a forward map and a backward map, composed by the chain rule.

A lens ``(A, A') -> (B, B')`` is a pair of arrows ``forward: A -> B`` and
``backward: A * B' -> A'``. Lenses compose (Cruttwell, Gavranović, Ghani,
Wilson, Zanasi, "Categorical foundations of gradient-based learning", 2022):

    (f, f#) >> (g, g#) = (f >> g, ⟨π₀, ⟨π₀ >> f, π₁⟩ >> g#⟩ >> f#)

and ``reverse`` is a functor into lenses: ``lens(f >> g) = lens(f) >> lens(g)``
(the chain rule RD.5), ``lens(Id(A))`` is the identity lens:

>>> from topos import R, equal
>>> from topos.nn import primitives as P
>>> f, g = P.tanh(R(3)), P.exp(R(3))
>>> both = lens(f) >> lens(g)
>>> both.forward == f >> g, equal(both.backward, lens(f >> g).backward)
(True, True)
>>> equal((Lens.identity(R(3)) >> lens(f)).backward, lens(f).backward)
True

A model ``Para(P, f: P * X -> Y)`` becomes the lens of its parameters and input
(``lens(p)``, backward ``(P * X) * Y -> P * X``); a loss is a lens into ``R()``
(``cross_entropy``), and a training step is the composite of the learner on the
parameters (``backends.jax.training.lenses``), the model and the loss.
"""

from __future__ import annotations

from typing import Any

from topos.arrows import Arrow, Id, fst, pair, snd
from topos.errors import compose_mismatch, not_a
from topos.nn import primitives as P
from topos.objects import Fin, Ob, R
from topos.reverse import reverse

__all__ = ["Lens", "cross_entropy", "descent", "lens", "model_and_loss"]


class Lens:
    """A lens: ``forward: A -> B`` and ``backward: A * B' -> A'``; ``>>`` composes.

    >>> from topos import R, Box
    >>> l = Lens(Box("f", R(2), R(3)), Box("f#", R(2) * R(3), R(2)))
    >>> l.dom, l.cod, l.dom_back, l.cod_back
    (R(2), R(3), R(2), R(3))
    >>> Lens(Box("f", R(2), R(3)), Box("f#", R(2) * R(4), R(2))) >> l
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: f lens >> lens f: codomain R(3) does not match domain R(2)
    """

    __slots__ = ("forward", "backward")
    forward: Arrow
    backward: Arrow

    def __init__(self, forward: Arrow, backward: Arrow) -> None:
        for name, f in (("forward", forward), ("backward", backward)):
            if not isinstance(f, Arrow):
                raise not_a(f"Lens {name}", "an arrow", f)
        dom = backward.dom
        if getattr(dom, "left", None) != forward.dom:
            raise TypeError(
                f"Lens: the backward map must start at A * B' with A = {forward.dom!r}, got {dom!r}"
            )
        object.__setattr__(self, "forward", forward)
        object.__setattr__(self, "backward", backward)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Lens is immutable")

    @property
    def dom(self) -> Ob:
        return self.forward.dom

    @property
    def cod(self) -> Ob:
        return self.forward.cod

    @property
    def dom_back(self) -> Ob:
        """``A'``, what the backward map returns."""
        return self.backward.cod

    @property
    def cod_back(self) -> Ob:
        """``B'``, what the backward map takes."""
        right: Ob = self.backward.dom.right  # type: ignore[attr-defined]
        return right

    @classmethod
    def identity(cls, a: Ob) -> Lens:
        """The identity lens ``(Id(a), π₁)``."""
        return cls(Id(a), snd(a, a))

    def __rshift__(self, other: Lens) -> Lens:
        if not isinstance(other, Lens):
            return NotImplemented
        if self.cod != other.dom or self.cod_back != other.dom_back:
            raise compose_mismatch("lens >> lens", self.forward, other.forward, self.cod, other.dom)
        a, c = self.dom, other.cod_back
        here, there = fst(a, c), snd(a, c)
        back = pair(here, pair(here >> self.forward, there) >> other.backward) >> self.backward
        return Lens(self.forward >> other.forward, back)

    def __mul__(self, other: Lens) -> Lens:
        """The tensor of lenses: forwards side by side, backwards side by side."""
        if not isinstance(other, Lens):
            return NotImplemented
        a, c = self.dom, other.dom
        b, d = self.cod_back, other.cod_back
        xs, gs = fst(a * c, b * d), snd(a * c, b * d)
        left = pair(xs >> fst(a, c), gs >> fst(b, d)) >> self.backward
        right = pair(xs >> snd(a, c), gs >> snd(b, d)) >> other.backward
        return Lens(self.forward * other.forward, pair(left, right))

    def __repr__(self) -> str:
        return f"Lens({self.forward!r}, {self.backward!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lens) and (self.forward, self.backward) == (
            other.forward,
            other.backward,
        )

    def __hash__(self) -> int:
        return hash(("Lens", self.forward, self.backward))


def lens(f: Any) -> Lens:
    """The lens ``(f, reverse(f))`` of an arrow, or of a Para's arrow ``P * X -> Y``.

    >>> from topos.nn import mlp
    >>> l = lens(mlp([3, 4, 2]))
    >>> l.dom_back == l.dom
    True
    """
    arrow = getattr(f, "arrow", f)
    if not isinstance(arrow, Arrow):
        raise not_a("lens", "an arrow or a Para", f)
    return Lens(arrow, reverse(arrow))


def cross_entropy(logits: R, labels: Fin) -> Arrow:
    """The mean softmax cross-entropy ``R(*s, V) * Fin(V, *s) -> R()``, as a diagram.

    Per position ``log Σ exp(y - m) - (y - m)[label]`` with ``m`` the maximum (the
    stable form), averaged over the positions ``s``.

    >>> from topos import R, Fin
    >>> cross_entropy(R(4, 10), Fin(10, 4)).cod
    R()
    """
    if not isinstance(logits, R) or not isinstance(labels, Fin) or not logits.shape:
        raise TypeError(
            f"cross_entropy: expected R(*s, V) and Fin(V, *s), got {logits!r}, {labels!r}"
        )
    lead, v = logits.shape[:-1], logits.shape[-1]
    if labels.shape != lead or labels.n != v:
        raise TypeError(f"cross_entropy: {labels!r} does not label the rows of {logits!r}")
    y = fst(logits, labels)
    ids = snd(logits, labels)
    keep = R(*lead, 1, dtype=logits.dtype)
    top = y >> P.reduce_max(logits, -1, keepdims=True)
    shifted = pair(y, top) >> P.sub(logits, keep)
    total = shifted >> P.exp(logits) >> P.reduce_sum(logits, -1, keepdims=True) >> P.log(keep)
    hot = ids >> P.one_hot(labels, logits.dtype)
    picked = pair(hot, shifted) >> P.mul(logits, logits) >> P.reduce_sum(logits, -1, keepdims=True)
    per = pair(total, picked) >> P.sub(keep, keep) >> P.reshape(keep, *lead)
    out = per
    for k in range(len(lead)):
        out = out >> P.reduce_mean(R(*lead[k:], dtype=logits.dtype), 0)
    return out


def model_and_loss(p: Any, loss: Arrow) -> Lens:
    """The composite lens ``lens(model, passing the target along) >> lens(loss)``.

    For ``p: Para(P, P * X -> Y)`` and ``loss: Y * T -> R()``: forward
    ``P * (X * T) -> R()``; the backward run with the cotangent ``1`` gives the
    gradient of the loss in the parameters (and the input).

    >>> from topos import R, Fin, One
    >>> from topos.nn import mlp
    >>> both = model_and_loss(mlp([3, 4, 2]), cross_entropy(R(2), Fin(2)))
    >>> both.forward.cod, both.backward.cod == both.dom.left * (R(3) * One)
    (R(), True)
    """
    arrow = getattr(p, "arrow", None)
    ps = getattr(p, "P", None)
    if not isinstance(arrow, Arrow) or not isinstance(ps, Ob):
        raise not_a("model_and_loss", "a Para", p)
    x, t = p.dom, loss.dom.right  # type: ignore[attr-defined]
    if loss.dom.left != arrow.cod:  # type: ignore[attr-defined]
        raise TypeError(
            f"model_and_loss: the loss takes {loss.dom!r}, the model gives {arrow.cod!r}"
        )
    data = snd(ps, x * t)
    run = pair(pair(fst(ps, x * t), data >> fst(x, t)) >> arrow, data >> snd(x, t))
    return lens(run) >> lens(loss)


def descent(ps: Ob, lr: float) -> Lens:
    """Gradient descent as a lens on the parameter object: ``(Id, p, g ↦ p - lr g)``.

    Leafwise on the product tree ``ps`` (``One`` leaves stay): the learner that,
    composed in front of ``model_and_loss``, makes the backward pass a training step.

    >>> from topos import R
    >>> print(descent(R(2) * R(3), 0.1).backward)
    ⟨⟨π₁ >> π₁, π₂ >> π₁ >> scale⟩ >> add, ⟨π₁ >> π₂, π₂ >> π₂ >> scale⟩ >> add⟩
    """
    return Lens(Id(ps), _descent(ps, lr, fst(ps, ps), snd(ps, ps)))


def _descent(x: Ob, lr: float, here: Arrow, grad: Arrow) -> Arrow:
    from topos.arrows import discard  # noqa: PLC0415

    if isinstance(x, R):
        return pair(here, grad >> P.scale(x, -lr)) >> P.add(x, x)
    left, right = getattr(x, "left", None), getattr(x, "right", None)
    if left is None or right is None:
        return discard(here.dom)
    return pair(
        _descent(left, lr, here >> fst(left, right), grad >> fst(left, right)),
        _descent(right, lr, here >> snd(left, right), grad >> snd(left, right)),
    )
