"""Normal forms modulo the linear-algebra theory, and ``equal_modulo``.

Over ``LINEAR_ALGEBRA`` a tensor term is a polynomial in non-commuting
matrices: a sum of monomials ``c · A₁ A₂ ⋯ Aₖ`` whose factors are atoms (inputs,
opaque boxes, nonlinear maps of normal forms) or their transposes. Reductions
and broadcasts are products with a vector of ones (``1ᵀ a``, ``a 1``,
``c 1ᵀ``); an elementwise product is a multiset of factors with the numbers
pulled out; ``exp`` of a sum is the product of the ``exp`` s (``exp-add``);
``softmax`` drops the monomials that are constant along its rows
(``softmax-shift``). Two terms with the same normal form are equal by the laws
of the theory (the normaliser applies only them), so ``equal_modulo`` is sound;
coefficients are compared to 12 significant digits, which is where it allows
floating-point reassociation.

>>> from topos import R, Id
>>> from topos.nn import primitives as P
>>> from topos.rewrite.theory import LINEAR_ALGEBRA
>>> x, w = R(4, 3), R(3, 5)
>>> f = P.matmul(x, w) >> P.scale(R(4, 5), 2.0)
>>> g = (P.scale(x, 2.0) * Id(w)) >> P.matmul(x, w)
>>> equal_modulo(LINEAR_ALGEBRA, f, g)
True
>>> equal_modulo(LINEAR_ALGEBRA, f, P.matmul(x, w))
False
"""

from __future__ import annotations

from typing import Any

from topos.arrows import Arrow
from topos.objects import R
from topos.rewrite.structure import repeat_body
from topos.rewrite.terms import Term, nodes, read
from topos.rewrite.theory import LINEAR_ALGEBRA, Theory

__all__ = ["Canon", "equal_modulo"]

Mono = tuple[tuple[int, bool], ...]
Poly = dict[Mono, float]


def _coef(c: float) -> float:
    return float(f"{c:.12g}")


class Canon:
    """Canonical forms modulo ``LINEAR_ALGEBRA``; one table, so ids compare across calls.

    >>> from topos import R, Id
    >>> from topos.nn import primitives as P
    >>> c = Canon()
    >>> twice = P.transpose(R(2, 3), (1, 0)) >> P.transpose(R(3, 2), (1, 0))
    >>> c.arrow(twice) == c.arrow(Id(R(2, 3)))
    True
    """

    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}
        self.keys: list[Any] = []
        self.memo: dict[int, Poly] = {}
        self._keep: list[Term] = []  # the memo is by id: keep its terms alive

    def atom(self, key: Any) -> int:
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.keys)
            self.keys.append(key)
        return found

    def key(self, p: Poly) -> tuple[Any, ...]:
        items = ((m, _coef(c)) for m, c in p.items())
        return tuple(sorted((m, c) for m, c in items if c != 0.0))

    def single(self, key: Any) -> Poly:
        return {((self.atom(key), False),): 1.0}

    def ones(self, n: int) -> tuple[int, bool]:
        return (self.atom(("ones", n)), False)

    def arrow(self, f: Arrow) -> int:
        """The canonical id of the function ``f`` (its input components are atoms)."""
        return self.value(read(f), f.dom)

    def value(self, v: Any, dom: object) -> int:
        if isinstance(v, Term):
            return self.atom(("out", dom, self.key(self.poly(v))))
        return self.atom(("tuple", dom, tuple(self.value(x, dom) for x in v)))

    def poly(self, root: Term) -> Poly:
        for t in nodes([root]):
            if id(t) not in self.memo:
                self._keep.append(t)
                self.memo[id(t)] = self._step(t, [self.memo[id(a)] for a in t.args])
        return self.memo[id(root)]

    def _step(self, t: Term, ps: list[Poly]) -> Poly:
        op = t.op
        if op == "in":
            return self.single(("in", t.data, t.ob))
        if op in ("box", "get"):
            rep = repeat_body(t.data) if op == "box" else None
            head = t.data if rep is None else ("repeat", rep[1], self.arrow(rep[0]))
            return self.single((op, head, tuple(self.key(p) for p in ps)))
        if op == "MM":
            return _times(ps[0], ps[1])
        if op == "Tr":
            return {tuple((a, not tr) for a, tr in reversed(m)): c for m, c in ps[0].items()}
        if op == "Add":
            return _plus(ps[0], ps[1])
        if op == "Scale":
            return {m: c * t.data for m, c in ps[0].items()}
        assert isinstance(t.ob, R)
        shape = t.ob.shape
        if op == "SumRows":
            return _times({((self.ones(t.args[0].ob.shape[0])[0], True),): 1.0}, ps[0])  # type: ignore[attr-defined]
        if op == "SumCols":
            return _times(ps[0], {(self.ones(t.args[0].ob.shape[1]),): 1.0})  # type: ignore[attr-defined]
        if op == "Bcast":
            return _times(ps[0], {((self.ones(shape[1])[0], True),): 1.0})
        if op == "Softmax":
            one_row = (self.ones(shape[1])[0], True)
            kept = {m: c for m, c in ps[0].items() if not (m and m[-1] == one_row)}
            return self.single(("Softmax", self.key(kept)))
        if op == "Exp":
            factors = [{m: c} for m, c in ps[0].items()] or [{}]
            return self._product([self.single(("Exp", self.key(f))) for f in factors])
        return self._product(ps)  # Mul

    def _product(self, ps: list[Poly]) -> Poly:
        """The elementwise product: a multiset of factors, numbers pulled out."""
        coef, factors = 1.0, []
        for p in ps:
            if len(p) == 1:
                ((m, c),) = p.items()
                coef *= c
                inner = self.keys[m[0][0]] if len(m) == 1 and not m[0][1] else None
                if isinstance(inner, tuple) and inner[0] == "Mul":
                    factors.extend(inner[1])
                    continue
                factors.append(self.key({m: 1.0}))
            else:
                factors.append(self.key(p))
        if len(factors) == 1:
            return {m: c * coef for m, c in dict(factors[0]).items()}
        return {((self.atom(("Mul", tuple(sorted(factors)))), False),): coef}


def _times(p: Poly, q: Poly) -> Poly:
    out: Poly = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            out[m1 + m2] = out.get(m1 + m2, 0.0) + c1 * c2
    return out


def _plus(p: Poly, q: Poly) -> Poly:
    out = dict(p)
    for m, c in q.items():
        out[m] = out.get(m, 0.0) + c
    return out


def equal_modulo(theory: Theory, f: Arrow, g: Arrow) -> bool:
    """Whether ``f`` and ``g`` are equal by the structural laws and those of ``theory``.

    Decided by normal forms (see the module docstring); sound, and complete for
    the polynomial fragment (matrix products, transposes, sums, scalars,
    reductions). Only ``LINEAR_ALGEBRA`` has a normaliser today.
    """
    if theory is not LINEAR_ALGEBRA:
        raise ValueError(f"equal_modulo: no decision procedure for the theory {theory.name!r}")
    if (f.dom, f.cod) != (g.dom, g.cod):
        return False
    canon = Canon()
    return canon.arrow(f) == canon.arrow(g)
