"""Hypothesis strategies and law suites for actegories and Para.

Strategies draw parameter objects (product trees of generating objects and
``One``), actegories (``CARTESIAN`` and ``Global(E)``), Para morphisms between
given objects, and *composable* tuples of Para whose parameter paths do not
collide. The laws are stated once, as ``topos.testing.Law`` data, and checked on
any ``topos.testing.Semantics`` (symbolically with ``topos.equal``, exactly in
``topos.finite``):

- ``ACTEGORY_LAWS``: the action is a functor in each argument and they commute;
  ``embed`` is a functor; unitor and multiplicator are natural isomorphisms;
  triangle (both unitors) and pentagon;
- ``PARA_LAWS``: composition associative and unital up to the canonical
  isomorphisms of parameter objects; ``lift`` is functorial; mixing arrows is
  lifting; ``reparam`` along identities and composites; the interchange law of
  ``*`` and ``>>`` up to the symmetry of M.

Each side of a law is a core arrow (an arrow of the acted-on category, in its
representation), so a semantics compares them as it compares any arrows.

>>> from hypothesis import settings
>>> from topos.testing import Semantics
>>> fast = settings(max_examples=5, derandomize=True, database=None)
>>> check_actegory(Semantics.symbolic(objects=parameter_objects()), settings=fast)
['actegory.act_arrow_functor', 'actegory.act_on_functor', ..., 'actegory.pentagon']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import hypothesis
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from topos.arrows import Arrow, Id, fst, pair, snd
from topos.objects import Ob, One, R
from topos.para import (
    CARTESIAN,
    Actegory,
    Global,
    Para,
    canonical_iso,
    parameter_leaves,
)
from topos.testing import strategies as gen
from topos.testing.laws import Law, Semantics, Trial, check

__all__ = [
    "ACTEGORY_LAWS",
    "PARA_ATOMS",
    "PARA_LAWS",
    "actegories",
    "check_actegory",
    "check_para",
    "composable_paras",
    "parameter_objects",
    "paras",
]

#: Small generating objects for parameters and inputs (finite models stay small).
PARA_ATOMS: tuple[Ob, ...] = (R(1), R(2), R(2, 2))


def parameter_objects(max_leaves: int = 3, atoms: Sequence[Ob] = PARA_ATOMS) -> SearchStrategy[Ob]:
    """Parameter objects: product trees of at most ``max_leaves`` leaves from ``atoms`` or ``One``.

    >>> from hypothesis import given, settings
    >>> from topos.objects import factors
    >>> @settings(max_examples=10, derandomize=True)
    ... @given(parameter_objects(max_leaves=2))
    ... def small(p):
    ...     assert len(factors(p)) <= 2
    >>> small()
    """
    key = (max_leaves, tuple(atoms))
    if key not in _TREES:  # strategies are built once: building them is what costs
        _TREES[key] = _trees(max_leaves, st.sampled_from((*atoms, One)))
    return _TREES[key]


_TREES: dict[tuple[int, tuple[Ob, ...]], SearchStrategy[Ob]] = {}


@st.composite
def _tree(draw: DrawFn, budget: int, leaf: SearchStrategy[Ob]) -> Ob:
    if budget <= 1 or not draw(st.booleans()):
        out: Ob = draw(leaf)
        return out
    left = draw(st.integers(1, budget - 1))
    return draw(_tree(left, leaf)) * draw(_tree(budget - left, leaf))


def _trees(max_leaves: int, leaf: SearchStrategy[Ob]) -> SearchStrategy[Ob]:
    return st.integers(1, max_leaves).flatmap(lambda n: _tree(n, leaf))


def actegories(environments: SearchStrategy[Ob] | None = None) -> SearchStrategy[Actegory]:
    """``CARTESIAN`` or ``Global(E)`` with ``E`` drawn from ``environments``.

    >>> from hypothesis import find
    >>> find(actegories(), lambda a: a != CARTESIAN)
    Global(R(1))
    """
    envs = st.sampled_from(PARA_ATOMS) if environments is None else environments
    return st.one_of(st.just(CARTESIAN), envs.map(Global))


def _para(
    draw: Callable[..., Any],
    act: Actegory,
    dom: Ob,
    cod: Ob,
    prefix: str,
    params: SearchStrategy[Ob],
    max_depth: int,
) -> Para:
    p = draw(params)
    f = draw(gen.arrows(act.carrier(act.act(p, dom)), cod, max_depth=max_depth))
    names = [f"{prefix}.{i}" for i in range(len(parameter_leaves(p)))]
    return Para(p, f, names, actegory=act)


def paras(
    dom: Ob,
    cod: Ob,
    *,
    actegory: Actegory = CARTESIAN,
    prefix: str = "p",
    params: SearchStrategy[Ob] | None = None,
    max_depth: int = 2,
) -> SearchStrategy[Para]:
    """Para morphisms ``dom -> cod`` over ``actegory``, parameters named ``prefix.0, ...``.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True)
    ... @given(paras(R(1), R(2)))
    ... def typed(p):
    ...     assert (p.dom, p.cod) == (R(1), R(2))
    ...     assert all(path.startswith("p.") for path in p.parameters())
    >>> typed()
    """
    ps = parameter_objects() if params is None else params

    @st.composite
    def one(draw: DrawFn) -> Para:
        return _para(draw, actegory, dom, cod, prefix, ps, max_depth)

    return one()


def composable_paras(
    n: int,
    *,
    actegory: Actegory | None = None,
    objects: SearchStrategy[Ob] | None = None,
    params: SearchStrategy[Ob] | None = None,
    max_depth: int = 2,
) -> SearchStrategy[tuple[Para, ...]]:
    """``n`` Para ``A0 -> A1, A1 -> A2, ...`` over one actegory, paths ``l0.*, l1.*, ...``.

    The actegory is drawn by ``actegories()`` unless given.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, derandomize=True)
    ... @given(composable_paras(3))
    ... def chains(ps):
    ...     p, q, r = ps
    ...     assert list((p >> q >> r).parameters()) == [*p.parameters(), *q.parameters(),
    ...                                                 *r.parameters()]
    >>> chains()
    """
    obs = st.sampled_from(PARA_ATOMS) if objects is None else objects
    ps = parameter_objects() if params is None else params
    acts = actegories() if actegory is None else st.just(actegory)

    @st.composite
    def chain(draw: DrawFn) -> tuple[Para, ...]:
        act = draw(acts)
        xs = [draw(obs) for _ in range(n + 1)]
        return tuple(
            _para(draw, act, a, b, f"l{i}", ps, max_depth)
            for i, (a, b) in enumerate(zip(xs, xs[1:], strict=False))
        )

    return chain()


# ---------------------------------------------------------------------------------
# Laws


class _Draw:
    """What a law quantifies over, drawn through a ``Trial``."""

    def __init__(self, t: Trial, actegory: Actegory | None) -> None:
        self.t = t
        self.act: Actegory = t.draw(actegories() if actegory is None else st.just(actegory))

    def ob(self) -> Ob:
        return self.t.ob()

    def param(self) -> Ob:
        out: Ob = self.t.draw(parameter_objects(max_leaves=2))
        return out

    def c_arrow(self, x: Ob, y: Ob) -> Arrow:
        """An arrow ``x -> y`` of the acted-on category (in its representation)."""
        return self.t.arrow(self.act.carrier(x), y)

    def m_arrow(self, q: Ob, p: Ob) -> Arrow:
        """A reparametrisation ``q -> p`` (an arrow of M: a core arrow)."""
        return self.t.arrow(q, p)

    def para(self, a: Ob, b: Ob, prefix: str) -> Para:
        return _para(self.t.draw, self.act, a, b, prefix, parameter_objects(max_leaves=2), 1)


_ACTEGORY: list[tuple[str, str, Callable[[_Draw], tuple[Arrow, Arrow]]]] = []
_PARA: list[tuple[str, str, Callable[[_Draw], tuple[Arrow, Arrow]]]] = []


def _actegory_law(
    name: str, statement: str
) -> Callable[[Callable[[_Draw], tuple[Arrow, Arrow]]], Callable[[_Draw], tuple[Arrow, Arrow]]]:
    def register(
        fn: Callable[[_Draw], tuple[Arrow, Arrow]],
    ) -> Callable[[_Draw], tuple[Arrow, Arrow]]:
        _ACTEGORY.append((name, statement, fn))
        return fn

    return register


def _para_law(
    name: str, statement: str
) -> Callable[[Callable[[_Draw], tuple[Arrow, Arrow]]], Callable[[_Draw], tuple[Arrow, Arrow]]]:
    def register(
        fn: Callable[[_Draw], tuple[Arrow, Arrow]],
    ) -> Callable[[_Draw], tuple[Arrow, Arrow]]:
        _PARA.append((name, statement, fn))
        return fn

    return register


@_actegory_law("act_arrow_functor", "(r ; s) • A = r • A ; s • A and Id(P) • A = id")
def _act_arrow_functor(d: _Draw) -> tuple[Arrow, Arrow]:
    act, a = d.act, d.ob()
    q = d.param()
    p = d.param()
    s_cod = d.param()
    r, s = d.m_arrow(q, p), d.m_arrow(p, s_cod)
    lhs = act.then(act.act_arrow(r >> s, a), act.act_arrow(Id(s_cod), a))
    return lhs, act.then(act.act_arrow(r, a), act.act_arrow(s, a))


@_actegory_law("act_on_functor", "P • (f ; g) = P • f ; P • g and P • id = id")
def _act_on_functor(d: _Draw) -> tuple[Arrow, Arrow]:
    act, p = d.act, d.param()
    a, b, c = d.ob(), d.ob(), d.ob()
    f, g = d.c_arrow(a, b), d.c_arrow(b, c)
    lhs = act.then(act.act_on(p, act.then(f, g)), act.act_on(p, act.identity(c)))
    return lhs, act.then(act.act_on(p, f), act.act_on(p, g))


@_actegory_law("bifunctor", "r • A ; P • f = Q • f ; r • B")
def _bifunctor(d: _Draw) -> tuple[Arrow, Arrow]:
    act, q, p = d.act, d.param(), d.param()
    a, b = d.ob(), d.ob()
    r, f = d.m_arrow(q, p), d.c_arrow(a, b)
    return (
        act.then(act.act_arrow(r, a), act.act_on(p, f)),
        act.then(act.act_on(q, f), act.act_arrow(r, b)),
    )


@_actegory_law("embed_functor", "embed(f >> g) = embed(f) ; embed(g) and embed(Id) = id")
def _embed_functor(d: _Draw) -> tuple[Arrow, Arrow]:
    act = d.act
    a, b, c = d.ob(), d.ob(), d.ob()
    f, g = d.t.arrow(a, b), d.t.arrow(b, c)
    lhs = act.then(act.embed(f >> g), act.embed(Id(c)))
    return lhs, act.then(act.embed(f), act.embed(g), act.identity(c))


@_actegory_law("unitor_iso", "η ; η⁻¹ = id")
def _unitor_iso(d: _Draw) -> tuple[Arrow, Arrow]:
    act, a = d.act, d.ob()
    return act.then(act.unitor(a), act.unitor_inv(a)), act.identity(act.act(One, a))


@_actegory_law("unitor_inv_iso", "η⁻¹ ; η = id")
def _unitor_inv_iso(d: _Draw) -> tuple[Arrow, Arrow]:
    act, a = d.act, d.ob()
    return act.then(act.unitor_inv(a), act.unitor(a)), act.identity(a)


@_actegory_law("multiplicator_iso", "μ ; μ⁻¹ = id")
def _multiplicator_iso(d: _Draw) -> tuple[Arrow, Arrow]:
    act, p, q, a = d.act, d.param(), d.param(), d.ob()
    mu, inv = act.multiplicator(p, q, a), act.multiplicator_inv(p, q, a)
    return act.then(mu, inv), act.identity(act.act(p * q, a))


@_actegory_law("multiplicator_inv_iso", "μ⁻¹ ; μ = id")
def _multiplicator_inv_iso(d: _Draw) -> tuple[Arrow, Arrow]:
    act, p, q, a = d.act, d.param(), d.param(), d.ob()
    mu, inv = act.multiplicator(p, q, a), act.multiplicator_inv(p, q, a)
    return act.then(inv, mu), act.identity(act.act(p, act.act(q, a)))


@_actegory_law("unitor_natural", "One • f ; η_B = η_A ; f")
def _unitor_natural(d: _Draw) -> tuple[Arrow, Arrow]:
    act, a, b = d.act, d.ob(), d.ob()
    f = d.c_arrow(a, b)
    return act.then(act.act_on(One, f), act.unitor(b)), act.then(act.unitor(a), f)


@_actegory_law("multiplicator_natural", "μ ; P • (Q • f) = (P * Q) • f ; μ")
def _multiplicator_natural(d: _Draw) -> tuple[Arrow, Arrow]:
    act, p, q, a, b = d.act, d.param(), d.param(), d.ob(), d.ob()
    f = d.c_arrow(a, b)
    return (
        act.then(act.multiplicator(p, q, a), act.act_on(p, act.act_on(q, f))),
        act.then(act.act_on(p * q, f), act.multiplicator(p, q, b)),
    )


@_actegory_law("multiplicator_natural_m", "(r * s) • A ; μ = μ ; r • (Q' • A) ; P • (s • A)")
def _multiplicator_natural_m(d: _Draw) -> tuple[Arrow, Arrow]:
    act, a = d.act, d.ob()
    p2, p, q2, q = d.param(), d.param(), d.param(), d.param()
    r, s = d.m_arrow(p2, p), d.m_arrow(q2, q)
    return (
        act.then(act.act_arrow(r * s, a), act.multiplicator(p, q, a)),
        act.then(
            act.multiplicator(p2, q2, a),
            act.act_arrow(r, act.act(q2, a)),
            act.act_on(p, act.act_arrow(s, a)),
        ),
    )


@_actegory_law("triangle_right", "μ(P, One, A) ; P • η_A = ρ_P • A")
def _triangle_right(d: _Draw) -> tuple[Arrow, Arrow]:
    act, p, a = d.act, d.param(), d.ob()
    return (
        act.then(act.multiplicator(p, One, a), act.act_on(p, act.unitor(a))),
        act.act_arrow(act.right_unitor_m(p), a),
    )


@_actegory_law("triangle_left", "μ(One, P, A) ; η_(P • A) = λ_P • A")
def _triangle_left(d: _Draw) -> tuple[Arrow, Arrow]:
    act, p, a = d.act, d.param(), d.ob()
    return (
        act.then(act.multiplicator(One, p, a), act.unitor(act.act(p, a))),
        act.act_arrow(act.left_unitor_m(p), a),
    )


@_actegory_law(
    "pentagon", "α • A ; μ(P, Q * R, A) ; P • μ(Q, R, A) = μ(P * Q, R, A) ; μ(P, Q, R • A)"
)
def _pentagon(d: _Draw) -> tuple[Arrow, Arrow]:
    act, p, q, r, a = d.act, d.param(), d.param(), d.param(), d.ob()
    return (
        act.then(
            act.act_arrow(act.assoc_m(p, q, r), a),
            act.multiplicator(p, q * r, a),
            act.act_on(p, act.multiplicator(q, r, a)),
        ),
        act.then(act.multiplicator(p * q, r, a), act.multiplicator(p, q, act.act(r, a))),
    )


def _up_to(p: Para, q: Para, r: Arrow | None = None) -> tuple[Arrow, Arrow]:
    """The two sides of "q is p reparametrised along r" (the canonical iso by default)."""
    if r is None:
        iso = canonical_iso(q.P, p.P)
        assert iso is not None, f"no canonical isomorphism {q.P!r} -> {p.P!r}"
        r = iso
    act = p.actegory
    return act.then(act.act_arrow(r, p.dom), p.arrow), q.arrow


@_para_law("assoc", "(p >> q) >> r ≅ p >> (q >> r)  (along the associator)")
def _para_assoc(d: _Draw) -> tuple[Arrow, Arrow]:
    a, b, c, e = d.ob(), d.ob(), d.ob(), d.ob()
    p, q, r = d.para(a, b, "p"), d.para(b, c, "q"), d.para(c, e, "r")
    return _up_to((p >> q) >> r, p >> (q >> r))


@_para_law("left_unit", "lift(Id(A)) >> p ≅ p  (along the left unitor)")
def _para_left_unit(d: _Draw) -> tuple[Arrow, Arrow]:
    a, b = d.ob(), d.ob()
    p = d.para(a, b, "p")
    return _up_to(Para.lift(Id(a), d.act) >> p, p)


@_para_law("right_unit", "p >> lift(Id(B)) ≅ p  (along the right unitor)")
def _para_right_unit(d: _Draw) -> tuple[Arrow, Arrow]:
    a, b = d.ob(), d.ob()
    p = d.para(a, b, "p")
    return _up_to(p >> Para.lift(Id(b), d.act), p)


@_para_law("lift_functor", "lift(f >> g) ≅ lift(f) >> lift(g)")
def _lift_functor(d: _Draw) -> tuple[Arrow, Arrow]:
    a, b, c = d.ob(), d.ob(), d.ob()
    f, g = d.t.arrow(a, b), d.t.arrow(b, c)
    return _up_to(Para.lift(f >> g, d.act), Para.lift(f, d.act) >> Para.lift(g, d.act))


@_para_law("mix_then", "p >> f ≅ p >> lift(f) and f >> p ≅ lift(f) >> p")
def _mix_then(d: _Draw) -> tuple[Arrow, Arrow]:
    a, b, c = d.ob(), d.ob(), d.ob()
    p, g, f = d.para(a, b, "p"), d.t.arrow(b, c), d.t.arrow(c, a)
    both = f >> (p >> g)
    return _up_to(both, Para.lift(f, d.act) >> (p >> Para.lift(g, d.act)))


@_para_law("mix_tensor", "p * f ≅ p * lift(f) and f * p ≅ lift(f) * p")
def _mix_tensor(d: _Draw) -> tuple[Arrow, Arrow]:
    a, b, c, e = d.ob(), d.ob(), d.ob(), d.ob()
    p, f = d.para(a, b, "p"), d.t.arrow(c, e)
    return _up_to((f * p) * f, (Para.lift(f, d.act) * p) * Para.lift(f, d.act))


@_para_law("reparam_id", "p.reparam(Id(P)) = p")
def _reparam_id(d: _Draw) -> tuple[Arrow, Arrow]:
    p = d.para(d.ob(), d.ob(), "p")
    return p.reparam(Id(p.P)).arrow, p.arrow


@_para_law("reparam_compose", "p.reparam(r).reparam(s) = p.reparam(s >> r)")
def _reparam_compose(d: _Draw) -> tuple[Arrow, Arrow]:
    p = d.para(d.ob(), d.ob(), "p")
    q, s_dom = d.param(), d.param()
    r, s = d.m_arrow(q, p.P), d.m_arrow(s_dom, q)
    return p.reparam(r).reparam(s).arrow, p.reparam(s >> r).arrow


@_para_law("interchange", "(p * q) >> (p' * q') = (p >> p') * (q >> q')  (along the symmetry)")
def _interchange(d: _Draw) -> tuple[Arrow, Arrow]:
    a, b, c, x, y, z = (d.ob() for _ in range(6))
    p, p2 = d.para(a, b, "p"), d.para(b, c, "p2")
    q, q2 = d.para(x, y, "q"), d.para(y, z, "q2")
    lhs, rhs = (p * q) >> (p2 * q2), (p >> p2) * (q >> q2)
    # (P * P') * (Q * Q') -> (P * Q) * (P' * Q'): the middle-four interchange in M.
    pp, qq = p.P * p2.P, q.P * q2.P
    left, right = fst(pp, qq), snd(pp, qq)
    r = pair(
        pair(left >> fst(p.P, p2.P), right >> fst(q.P, q2.P)),
        pair(left >> snd(p.P, p2.P), right >> snd(q.P, q2.P)),
    )
    return _up_to(lhs, rhs, r)


def _laws(
    theory: str,
    table: list[tuple[str, str, Callable[[_Draw], tuple[Arrow, Arrow]]]],
    actegory: Actegory | None,
) -> tuple[Law, ...]:
    def sides(fn: Callable[[_Draw], tuple[Arrow, Arrow]]) -> Callable[[Trial], tuple[Any, Any]]:
        return lambda t: fn(_Draw(t, actegory))

    return tuple(Law(theory, name, statement, sides(fn)) for name, statement, fn in table)


#: The laws of an actegory, for actegories drawn by ``actegories()``.
ACTEGORY_LAWS: tuple[Law, ...] = _laws("actegory", _ACTEGORY, None)

#: The laws of Para, for actegories drawn by ``actegories()``.
PARA_LAWS: tuple[Law, ...] = _laws("para", _PARA, None)


def check_actegory(
    semantics: Semantics,
    actegory: Actegory | None = None,
    *,
    settings: hypothesis.settings | None = None,
) -> list[str]:
    """Check the actegory laws of ``actegory`` (default: drawn) in ``semantics``.

    Use a semantics whose ``objects`` are small (``parameter_objects()``): the laws
    quantify over three parameter objects and an input at once.
    """
    laws = ACTEGORY_LAWS if actegory is None else _laws("actegory", _ACTEGORY, actegory)
    return check(semantics, laws, settings=settings)


def check_para(
    semantics: Semantics,
    actegory: Actegory | None = None,
    *,
    settings: hypothesis.settings | None = None,
) -> list[str]:
    """Check the Para laws over ``actegory`` (default: drawn) in ``semantics``.

    >>> from hypothesis import settings
    >>> from topos.testing import Semantics
    >>> fast = settings(max_examples=3, derandomize=True, database=None)
    >>> check_para(Semantics.symbolic(objects=parameter_objects(1)), settings=fast)
    ['para.assoc', 'para.left_unit', ..., 'para.interchange']
    """
    laws = PARA_LAWS if actegory is None else _laws("para", _PARA, actegory)
    return check(semantics, laws, settings=settings)
