"""Actegories: ``Actegory``, the default ``CARTESIAN`` one and ``Global(E)``."""

from __future__ import annotations

from typing import Any, ClassVar

from topos import arrows as ar_
from topos.arrows import (  # Box: the doctests use the module's names
    Arrow,
    Box,  # noqa: F401
    Id,
    assoc,
    compose,
    discard,
    fst,
    pair,
    snd,
    swap,
)
from topos.errors import TypeMismatch, not_a, short

# ---------------------------------------------------------------------------------
# Small arrow helpers (identities are dropped so that derived maps stay readable).
from topos.objects import (
    Ob,
    One,
    Product,
    R,  # noqa: F401  (the doctests use it)
)


def _tensor(f: Arrow, g: Arrow) -> Arrow:
    if isinstance(f, Id) and isinstance(g, Id):
        return Id(f.dom * g.dom)
    return f * g


def _interchange(p: Ob, q: Ob, a: Ob, c: Ob) -> Arrow:
    """(P * Q) * (A * C) -> (P * A) * (Q * C), the middle-four interchange."""
    pq, ac = p * q, a * c
    left, right = fst(pq, ac), snd(pq, ac)
    return pair(
        pair(left >> fst(p, q), right >> fst(a, c)),
        pair(left >> snd(p, q), right >> snd(a, c)),
    )


# ---------------------------------------------------------------------------------
# Actegories


class Actegory:
    """An M-actegory: parameter objects M acting on a category C, ``P • A``.

    M is the cartesian monoidal category of objects (unit ``One``, ``⊗ = *``, its
    associator and unitors are ``assoc``, ``snd(One, P)``, ``fst(P, One)``). C is
    *represented* in the core: an arrow ``X -> Y`` of C is a core arrow
    ``carrier(X) -> Y`` (for the cartesian actegory, ``carrier(X) = X``), composed
    by ``then``. Structure maps, all arrows of C:

    - ``act(P, A)``: the object ``P • A``;
    - ``act_arrow(r, A): Q • A -> P • A`` for ``r: Q -> P`` (the action on 2-cells);
    - ``act_on(P, f): P • X -> P • Y`` for ``f: X -> Y`` in C;
    - ``unitor(A): One • A -> A`` and ``unitor_inv(A)``;
    - ``multiplicator(P, Q, A): (P * Q) • A -> P • (Q • A)`` and ``multiplicator_inv``.

    Laws (property-tested, symbolically and in finite sets): ``act`` is a functor in
    each argument and they commute; ``unitor`` and ``multiplicator`` are natural
    isomorphisms; triangle ``μ(P, One, A) ; P • η_A = act_arrow(ρ_P, A)`` and
    ``μ(One, P, A) ; η_{P • A} = act_arrow(λ_P, A)``; pentagon
    ``act_arrow(α, A) ; μ(P, Q * R, A) ; P • μ(Q, R, A) = μ(P * Q, R, A) ; μ(P, Q, R • A)``.

    Subclasses implement the C structure (``carrier``, ``identity``, ``then``,
    ``embed``, ``tensor``, ``split``) and the action; Para composition, tensor and
    lifting are derived here from them.

    >>> CARTESIAN.act(R(2), R(3)), Global(R(4, 4)).act(R(2), R(3))
    (R(2) * R(3), R(2) * R(3))
    >>> Global(R(4, 4)).carrier(R(3))
    R(4, 4) * R(3)
    """

    #: A short name for the kind of actegory ("cartesian", "global"), for serialisation.
    name: ClassVar[str] = ""

    # -- M, the parameter objects ---------------------------------------------------
    unit: ClassVar[Ob] = One

    def assoc_m(self, p: Ob, q: Ob, r: Ob) -> Arrow:
        """The associator of M, ``(P * Q) * R -> P * (Q * R)``."""
        return assoc(p, q, r)

    def left_unitor_m(self, p: Ob) -> Arrow:
        """``One * P -> P``."""
        return snd(One, p)

    def right_unitor_m(self, p: Ob) -> Arrow:
        """``P * One -> P``."""
        return fst(p, One)

    def swap_m(self, p: Ob, q: Ob) -> Arrow:
        """The symmetry of M, ``P * Q -> Q * P`` (used to list the first layer first)."""
        return swap(p, q)

    # -- C, represented in the core ------------------------------------------------
    def carrier(self, x: Ob) -> Ob:
        """The domain of the core arrow representing an arrow of C out of ``x``."""
        raise NotImplementedError

    def identity(self, x: Ob) -> Arrow:
        """The identity of ``x`` in C."""
        raise NotImplementedError

    def then(self, *fs: Arrow) -> Arrow:
        """Composition in C, diagrammatic order."""
        raise NotImplementedError

    def embed(self, f: Arrow) -> Arrow:
        """A core arrow ``X -> Y`` as an arrow of C."""
        raise NotImplementedError

    def tensor(self, f: Arrow, g: Arrow) -> Arrow:
        """The product ``f * g`` of two arrows of C."""
        raise NotImplementedError

    def source(self, f: Arrow) -> Ob:
        """The domain, in C, of the arrow of C represented by ``f``."""
        raise NotImplementedError

    # -- the action ----------------------------------------------------------------
    def act(self, p: Ob, a: Ob) -> Ob:
        """The object ``P • A``."""
        raise NotImplementedError

    def split(self, p: Ob, dom: Ob) -> Ob:
        """The ``A`` with ``carrier(act(P, A)) == dom``; a ``TypeMismatch`` if none."""
        raise NotImplementedError

    def act_arrow(self, r: Arrow, a: Ob) -> Arrow:
        """``r • A: Q • A -> P • A`` for a reparametrisation ``r: Q -> P``."""
        raise NotImplementedError

    def act_on(self, p: Ob, f: Arrow) -> Arrow:
        """``P • f: P • X -> P • Y`` for an arrow ``f: X -> Y`` of C."""
        raise NotImplementedError

    def unitor(self, a: Ob) -> Arrow:
        """``η: One • A -> A``."""
        raise NotImplementedError

    def unitor_inv(self, a: Ob) -> Arrow:
        """``η⁻¹: A -> One • A``."""
        raise NotImplementedError

    def multiplicator(self, p: Ob, q: Ob, a: Ob) -> Arrow:
        """``μ: (P * Q) • A -> P • (Q • A)``."""
        raise NotImplementedError

    def multiplicator_inv(self, p: Ob, q: Ob, a: Ob) -> Arrow:
        """``μ⁻¹: P • (Q • A) -> (P * Q) • A``."""
        raise NotImplementedError

    def interchange(self, p: Ob, q: Ob, a: Ob, c: Ob) -> Arrow:
        """``(P * Q) • (A * C) -> (P • A) * (Q • C)`` in C (for the tensor of Para)."""
        raise NotImplementedError

    def cartesian(self, p: Ob, a: Ob, f: Arrow) -> tuple[Ob, Arrow]:
        """For ``f: P • A -> B`` in C, an input ``X`` and a core arrow ``P * X -> B``.

        It is how a backend that runs cartesian Para runs this one
        (``Para.as_cartesian``).
        """
        raise NotImplementedError

    # -- Para structure, derived ----------------------------------------------------
    def para_compose(self, p: Ob, q: Ob, a: Ob, f: Arrow, g: Arrow) -> Arrow:
        """The arrow of ``(P, f) >> (Q, g)``: ``(P * Q) • A -> C``.

        ``act_arrow(σ, A) ; μ(Q, P, A) ; Q • f ; g`` (the symmetry puts the first
        layer's parameters first).
        """
        return self.then(
            self.act_arrow(self.swap_m(p, q), a),
            self.multiplicator(q, p, a),
            self.act_on(q, f),
            g,
        )

    def para_tensor(self, p: Ob, q: Ob, a: Ob, c: Ob, f: Arrow, g: Arrow) -> Arrow:
        """The arrow of ``(P, f) * (Q, g)``: ``(P * Q) • (A * C) -> B * D``."""
        return self.then(self.interchange(p, q, a, c), self.tensor(f, g))

    def para_lift(self, f: Arrow) -> Arrow:
        """The arrow of ``Para.lift(f)``: ``One • A -> B``, that is ``η ; f``."""
        return self.then(self.unitor(f.dom), self.embed(f))


class Cartesian(Actegory):
    """The cartesian self-action ``P • A = P * A`` of the core (``CARTESIAN``).

    >>> CARTESIAN.multiplicator(R(1), R(2), R(3)).cod
    R(1) * (R(2) * R(3))
    """

    _instance: ClassVar[Cartesian | None] = None
    name = "cartesian"

    def __new__(cls) -> Cartesian:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "CARTESIAN"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Cartesian, ())

    def carrier(self, x: Ob) -> Ob:
        return x

    def identity(self, x: Ob) -> Arrow:
        return Id(x)

    def then(self, *fs: Arrow) -> Arrow:
        return compose(*fs)

    def embed(self, f: Arrow) -> Arrow:
        return f

    def tensor(self, f: Arrow, g: Arrow) -> Arrow:
        return _tensor(f, g)

    def source(self, f: Arrow) -> Ob:
        return f.dom

    def act(self, p: Ob, a: Ob) -> Ob:
        return p * a

    def split(self, p: Ob, dom: Ob) -> Ob:
        if not isinstance(dom, Product) or dom.left != p:
            raise TypeMismatch(
                f"Para: the arrow's domain must be P * A with P = {p!r},\ngot {dom!r}"
            )
        return dom.right

    def act_arrow(self, r: Arrow, a: Ob) -> Arrow:
        return _tensor(r, Id(a))

    def act_on(self, p: Ob, f: Arrow) -> Arrow:
        return _tensor(Id(p), f)

    def unitor(self, a: Ob) -> Arrow:
        return snd(One, a)

    def unitor_inv(self, a: Ob) -> Arrow:
        return pair(discard(a), Id(a))

    def multiplicator(self, p: Ob, q: Ob, a: Ob) -> Arrow:
        return assoc(p, q, a)

    def multiplicator_inv(self, p: Ob, q: Ob, a: Ob) -> Arrow:
        return ar_.unassoc(p, q, a)

    def interchange(self, p: Ob, q: Ob, a: Ob, c: Ob) -> Arrow:
        return _interchange(p, q, a, c)

    def cartesian(self, p: Ob, a: Ob, f: Arrow) -> tuple[Ob, Arrow]:
        return a, f

    def para_compose(self, p: Ob, q: Ob, a: Ob, f: Arrow, g: Arrow) -> Arrow:
        # ⟨π_Q, f ∘ ⟨π_P, π_A⟩⟩ ; g — equal to the general formula, and easier to read.
        pq = p * q
        params, x = fst(pq, a), snd(pq, a)
        return pair(params >> snd(p, q), pair(params >> fst(p, q), x) >> f) >> g


#: The cartesian self-action, the default actegory of ``Para``.
CARTESIAN = Cartesian()


class Global(Actegory):
    """Every layer also reads a global input ``E``: the co-Kleisli category of ``E * -``.

    A graph network's adjacency matrix is such an input: each layer reads the same
    ``E``. An arrow ``X -> Y`` of this category is a core arrow ``E * X -> Y``
    (``carrier(X) = E * X``); composing copies ``E`` to both sides. Parameters act
    cartesianly, ``P • A = P * A``, so a layer is a core arrow ``E * (P * A) -> B``.

    >>> from topos.para import Para, glorot_uniform
    >>> E, X, W = R(5, 5), R(5, 3), R(3, 3)
    >>> G = Global(E)
    >>> propagate = Box("propagate", E * X, X)          # X |-> E X: reads the graph
    >>> matmul = Box("matmul", W * X, X)                # X |-> X W
    >>> layer = Para(W, G.then(G.act_on(W, propagate), G.embed(matmul)),
    ...              params={"w": glorot_uniform}, actegory=G)
    >>> layer.arrow.dom, layer.dom
    (R(5, 5) * (R(3, 3) * R(5, 3)), R(5, 3))
    >>> net = layer.named("l1") >> layer.named("l2")
    >>> net.as_cartesian().dom, list(net.parameters())
    (R(5, 5) * R(5, 3), ['l1.w', 'l2.w'])
    """

    __slots__ = ("E",)
    E: Ob
    name = "global"

    def __init__(self, E: Ob) -> None:  # noqa: N803 (the mathematical name)
        if not isinstance(E, Ob):
            raise not_a("Global", "an object (R, Fin, ...)", E)
        object.__setattr__(self, "E", E)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Global is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Global) and other.E == self.E

    def __hash__(self) -> int:
        return hash(("Global", self.E))

    def __repr__(self) -> str:
        return f"Global({self.E!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Global, (self.E,))

    def _rest(self, f: Arrow, op: str) -> Ob:
        dom = f.dom
        if not isinstance(dom, Product) or dom.left != self.E:
            raise TypeMismatch(
                f"{op}: an arrow of Global({self.E!r}) must be a core arrow out of"
                f" {self.E!r} * X, got {short(f)}: {dom!r} -> {f.cod!r}"
            )
        return dom.right

    def carrier(self, x: Ob) -> Ob:
        return self.E * x

    def identity(self, x: Ob) -> Arrow:
        return snd(self.E, x)

    def then(self, *fs: Arrow) -> Arrow:
        if not fs:
            raise TypeError("then: needs at least one arrow")
        out = fs[0]
        self._rest(out, "then")
        for g in fs[1:]:
            x = self._rest(out, "then")
            self._rest(g, "then")
            out = pair(fst(self.E, x), out) >> g
        return out

    def embed(self, f: Arrow) -> Arrow:
        return snd(self.E, f.dom) >> f

    def tensor(self, f: Arrow, g: Arrow) -> Arrow:
        a, c = self._rest(f, "*"), self._rest(g, "*")
        e, ac = self.E, a * c
        env, x = fst(e, ac), snd(e, ac)
        return pair(pair(env, x >> fst(a, c)) >> f, pair(env, x >> snd(a, c)) >> g)

    def source(self, f: Arrow) -> Ob:
        return self._rest(f, "source")

    def act(self, p: Ob, a: Ob) -> Ob:
        return p * a

    def split(self, p: Ob, dom: Ob) -> Ob:
        pa = dom.right if isinstance(dom, Product) and dom.left == self.E else None
        if not isinstance(pa, Product) or pa.left != p:
            raise TypeMismatch(
                f"Para over Global({self.E!r}): the arrow's domain must be"
                f" {self.E!r} * (P * A) with P = {p!r}, got {dom!r}"
            )
        return pa.right

    def act_arrow(self, r: Arrow, a: Ob) -> Arrow:
        return self.embed(_tensor(r, Id(a)))

    def act_on(self, p: Ob, f: Arrow) -> Arrow:
        x, e = self._rest(f, "act_on"), self.E
        px = p * x
        env, rest = fst(e, px), snd(e, px)
        return pair(rest >> fst(p, x), pair(env, rest >> snd(p, x)) >> f)

    def unitor(self, a: Ob) -> Arrow:
        return self.embed(snd(One, a))

    def unitor_inv(self, a: Ob) -> Arrow:
        return self.embed(pair(discard(a), Id(a)))

    def multiplicator(self, p: Ob, q: Ob, a: Ob) -> Arrow:
        return self.embed(assoc(p, q, a))

    def multiplicator_inv(self, p: Ob, q: Ob, a: Ob) -> Arrow:
        return self.embed(ar_.unassoc(p, q, a))

    def interchange(self, p: Ob, q: Ob, a: Ob, c: Ob) -> Arrow:
        return self.embed(_interchange(p, q, a, c))

    def cartesian(self, p: Ob, a: Ob, f: Arrow) -> tuple[Ob, Arrow]:
        e, ea = self.E, self.E * a
        params, rest = fst(p, ea), snd(p, ea)
        return ea, pair(rest >> fst(e, a), pair(params, rest >> snd(e, a))) >> f
