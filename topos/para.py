"""Parametrised morphisms: actegories, ``Para``, reparametrisations.

A trainable layer is a *Para morphism* ``(P, f)``: a parameter object ``P`` and an
arrow ``f: P • A -> B``. For the default, cartesian actegory ``P • A = P * A``: the
layer is a function of its weights and its input. The parameter object ``P`` is a
binary product tree; its leaves are the weights, each with a path and an
initialiser (``Param``):

>>> from topos import R, Box, Id
>>> A, B, C = R(3), R(4), R(2)
>>> f = Para(R(3, 4), Box("matmul", R(3, 4) * A, B), params={"w": glorot_uniform})
>>> g = Para(R(4, 2), Box("matmul", R(4, 2) * B, C), params={"w": glorot_uniform})
>>> net = f.named("l1") >> g.named("l2")
>>> net.P, net.dom, net.cod
(R(3, 4) * R(4, 2), R(3), R(2))
>>> list(net.parameters())
['l1.w', 'l2.w']

Composition ``p >> q`` (first ``p``, then ``q``) has parameter object ``P * Q``:
the first layer's parameters come first, in the tree and in the listing.
Composition is associative and unital only *up to* the canonical isomorphisms of
parameter objects, ``(P * Q) * R ≅ P * (Q * R)`` and ``One * P ≅ P ≅ P * One``;
``isomorphic`` decides that (by normal forms, ``topos.equal``):

>>> h = Para(R(2, 2), Box("matmul", R(2, 2) * C, C), params={"w": zeros})
>>> left = (f.named("a") >> g.named("b")) >> h.named("c")
>>> right = f.named("a") >> (g.named("b") >> h.named("c"))
>>> left.P, right.P
(R(3, 4) * R(4, 2) * R(2, 2), R(3, 4) * (R(4, 2) * R(2, 2)))
>>> left == right, isomorphic(left, right), left.parameters() == right.parameters()
(False, True, True)
>>> isomorphic(Para.lift(Id(A)) >> f, f), isomorphic(f >> Para.lift(Id(B)), f)
(True, True)

Plain arrows mix with Para (as their lift, the unit parameter absorbed):

>>> relu = Box("relu", B, B)
>>> list((f >> relu >> g.named("l2")).parameters())
['w', 'l2.w']

Reparametrisations ``r: Q -> P`` are the 2-cells: ``p.reparam(r)`` is the layer
``act_arrow(r, A) >> f`` with parameters ``Q``. Tying two weights is reparametrising
along the diagonal ``copy``; freezing one is reparametrising along a constant:

>>> from topos.arrows import copy
>>> enc = Para(R(3, 3), Box("matmul", R(3, 3) * A, A), params={"enc.w": normal(0.02)})
>>> dec = Para(R(3, 3), Box("matmul", R(3, 3) * A, A), params={"dec.w": normal(0.02)})
>>> tied = (enc >> dec).tie("enc.w", "dec.w")
>>> list(tied.parameters()), equal_up_to(enc >> dec, tied, copy(R(3, 3)))
(['enc.w'], True)
>>> list((enc >> dec).freeze("enc.w").parameters())
['dec.w']

An actegory is a first-class value: ``CARTESIAN`` (the default) and
``Global(E)``, where every layer also reads a global input ``E`` (a graph's
adjacency matrix shared by all layers of a graph network). Its unitor and
multiplicator satisfy the triangle and pentagon laws:

>>> from topos import equal, One, fst
>>> P, Q, S = R(6), R(7), R(8)
>>> for act in (CARTESIAN, Global(R(5, 5))):
...     mu = act.multiplicator
...     assert equal(act.then(mu(P, One, A), act.act_on(P, act.unitor(A))),   # triangle
...                  act.act_arrow(fst(P, One), A))
...     assert equal(act.then(act.act_arrow(act.assoc_m(P, Q, S), A),         # pentagon
...                           mu(P, Q * S, A), act.act_on(P, mu(Q, S, A))),
...                  act.then(mu(P * Q, S, A), mu(P, Q, act.act(S, A))))

Composition and tensor of Para run in amortised constant time (the parameter
listing is computed lazily, without recursion), so a chain of 10,000 layers
builds in about a second.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from topos import arrows as ar_
from topos.arrows import (  # Box: the doctests use the module's names
    Arrow,
    Box,  # noqa: F401
    Const,
    Id,
    Repeat,
    assoc,
    compose,
    copy,
    discard,
    fold,
    fst,
    pair,
    snd,
    stacked,
    swap,
)
from topos.errors import TypeMismatch, not_a, short
from topos.objects import Ob, One, Product, R, Unit, factors

__all__ = [
    "CARTESIAN",
    "DEFAULT_INIT",
    "Actegory",
    "Cartesian",
    "Frozen",
    "Global",
    "Init",
    "Param",
    "Para",
    "canonical_iso",
    "constant",
    "equal_up_to",
    "glorot_uniform",
    "isomorphic",
    "normal",
    "ones",
    "parameter_leaves",
    "repeat",
    "uniform",
    "unroll",
    "zeros",
]

V = TypeVar("V")

# ---------------------------------------------------------------------------------
# Initialisers and parameters: plain data, read by backends.

# kind -> number of numeric arguments
_INIT_ARITY = {
    "normal": 1,
    "uniform": 1,
    "constant": 1,
    "zeros": 0,
    "ones": 0,
    "glorot_uniform": 0,
}


class Init:
    """How a backend draws a parameter: ``Init(kind, *args)``, hashable data.

    Use the constructors: ``normal(std)`` (N(0, std²)), ``uniform(scale)``
    (U(-scale, scale)), ``constant(value)``, and the values ``zeros``, ``ones``,
    ``glorot_uniform`` (U(-l, l), l = sqrt(6 / (fan_in + fan_out))). ``repr``
    evaluates back:

    >>> normal(0.02), zeros, Init("uniform", 0.1)
    (normal(0.02), zeros, uniform(0.1))
    >>> eval(repr(normal(0.02))) == normal(0.02) and hash(zeros) == hash(Init("zeros"))
    True
    """

    __slots__ = ("kind", "args")
    kind: str
    args: tuple[float, ...]

    def __init__(self, kind: str, *args: float) -> None:
        if kind not in _INIT_ARITY:
            raise ValueError(f"Init: unknown kind {kind!r}, expected one of {sorted(_INIT_ARITY)}")
        if len(args) != _INIT_ARITY[kind]:
            raise TypeError(
                f"Init {kind!r}: expected {_INIT_ARITY[kind]} numeric argument(s), got {args!r}"
            )
        for a in args:
            if isinstance(a, bool) or not isinstance(a, (int, float)):
                raise TypeError(f"Init {kind!r}: arguments must be numbers, got {a!r}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "args", tuple(args))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Init is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Init):
            return NotImplemented
        return (self.kind, self.args) == (other.kind, other.args)

    def __hash__(self) -> int:
        return hash(("Init", self.kind, self.args))

    def __repr__(self) -> str:
        if not self.args:
            return self.kind
        return f"{self.kind}({', '.join(repr(a) for a in self.args)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Init, (self.kind, *self.args))


def normal(std: float) -> Init:
    """Gaussian initialiser N(0, std²).

    >>> normal(0.02).kind, normal(0.02).args
    ('normal', (0.02,))
    """
    return Init("normal", std)


def uniform(scale: float) -> Init:
    """Uniform initialiser U(-scale, scale).

    >>> uniform(0.5)
    uniform(0.5)
    """
    return Init("uniform", scale)


def constant(value: float) -> Init:
    """Every entry equal to ``value``.

    >>> constant(1.5).args
    (1.5,)
    """
    return Init("constant", value)


zeros = Init("zeros")
ones = Init("ones")
glorot_uniform = Init("glorot_uniform")

#: The initialiser of parameters declared without one (a standard normal).
DEFAULT_INIT = normal(1.0)


@dataclass(frozen=True)
class Param:
    """A parameter leaf: its ``path`` (``"block0.attn.w_q"``), object and initialiser.

    ``stacked`` counts leading axes added by ``repeat`` (one per nesting): the
    initialiser applies to each slice ``ob.shape[stacked:]``.

    >>> Param("w", R(3, 4), glorot_uniform)
    Param('w', R(3, 4), glorot_uniform)
    >>> Param("w", R(3, 4) * R(4), zeros)
    Traceback (most recent call last):
    ...
    TypeError: Param 'w': the object must be a leaf (not a product, not One), got R(3, 4) * R(4)
    """

    path: str
    ob: Ob
    init: Init
    stacked: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise TypeError(f"Param: path must be a non-empty string, got {self.path!r}")
        if not isinstance(self.ob, Ob):
            raise not_a(f"Param {self.path!r}", "an object (R, Fin, ...)", self.ob)
        if isinstance(self.ob, (Product, Unit)):
            raise TypeError(
                f"Param {self.path!r}: the object must be a leaf (not a product, not One),"
                f" got {self.ob!r}"
            )
        if not isinstance(self.init, Init):
            raise not_a(f"Param {self.path!r}", "an Init (normal(0.02), zeros, ...)", self.init)
        if isinstance(self.stacked, bool) or not isinstance(self.stacked, int) or self.stacked < 0:
            raise TypeError(f"Param {self.path!r}: stacked must be an int >= 0")

    def __repr__(self) -> str:
        extra = f", stacked={self.stacked}" if self.stacked else ""
        return f"Param({self.path!r}, {self.ob!r}, {self.init!r}{extra})"

    def renamed(self, path: str) -> Param:
        """The same parameter under another path.

        >>> Param("w", R(2), zeros).renamed("l1.w").path
        'l1.w'
        """
        return Param(path, self.ob, self.init, self.stacked)


# ---------------------------------------------------------------------------------
# Small arrow helpers (identities are dropped so that derived maps stay readable).


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


# ---------------------------------------------------------------------------------
# Parameter trees


def parameter_leaves(x: Ob) -> list[Ob]:
    """The parameter leaves of a product tree, left to right (``One`` is not one).

    >>> parameter_leaves((R(1) * One) * (R(2) * R(3)))
    [R(1), R(2), R(3)]
    """
    return [y for y in factors(x) if not isinstance(y, Unit)]


_param_leaves = parameter_leaves


def _map_leaves(x: Ob, fn: Callable[[int, Ob], Ob]) -> Ob:
    """Rebuild a product tree with each parameter leaf ``i`` replaced by ``fn(i, leaf)``."""
    done: list[Ob] = []
    stack: list[tuple[Ob, bool]] = [(x, False)]
    count = 0
    while stack:
        y, ready = stack.pop()
        if ready:
            right, left = done.pop(), done.pop()
            done.append(left * right)
        elif isinstance(y, Product):
            stack += [(y, True), (y.right, False), (y.left, False)]
        elif isinstance(y, Unit):
            done.append(y)
        else:
            done.append(fn(count, y))
            count += 1
    return done[0]


def _path_to(x: Ob, index: int) -> list[bool]:
    """The way down to parameter leaf ``index`` of ``x``: False = left, True = right."""
    way: list[bool] = []
    stack: list[tuple[Ob, int, bool]] = [(x, 0, False)]  # (node, depth, came right)
    count = 0
    while stack:
        y, depth, right = stack.pop()
        if depth:
            del way[depth - 1 :]
            way.append(right)
        if isinstance(y, Product):
            stack.append((y.right, depth + 1, True))
            stack.append((y.left, depth + 1, False))
            continue
        if isinstance(y, Unit):
            continue
        if count == index:
            return way
        count += 1
    raise IndexError(index)


def _descend(x: Ob, way: Sequence[bool]) -> list[Ob]:
    """The nodes met going down ``way`` from ``x`` (``x`` first)."""
    nodes = [x]
    for right in way:
        y = nodes[-1]
        assert isinstance(y, Product)
        nodes.append(y.right if right else y.left)
    return nodes


def _project(x: Ob, way: Sequence[bool]) -> Arrow:
    """The projection of ``x`` onto the node at ``way``."""
    nodes = _descend(x, way)
    steps: list[Arrow] = [Id(x)]
    for y, right in zip(nodes, way, strict=False):
        assert isinstance(y, Product)
        steps.append(snd(y.left, y.right) if right else fst(y.left, y.right))
    return compose(*steps)


def _remove(x: Ob, way: Sequence[bool], new: Ob) -> tuple[Ob, Arrow]:
    """Remove the leaf at ``way`` (of object ``new``) from ``x``.

    Returns ``Q`` (the tree without it, products collapsed) and ``ins: Q * new -> x``
    putting a value back in its place. Cost linear in the depth.
    """
    nodes = _descend(x, way)
    if not way:
        return One, snd(One, new)
    # The leaf's parent collapses to the sibling.
    parent = nodes[-2]
    assert isinstance(parent, Product)
    ins: Arrow
    if way[-1]:
        q, ins = parent.left, Id(parent.left * new)
    else:
        q, ins = parent.right, swap(parent.right, new)
    for y, right in zip(reversed(nodes[:-2]), reversed(way[:-1]), strict=True):
        assert isinstance(y, Product)
        if right:  # (L * Q') * X -> L * (Q' * X) -> L * R
            ins = assoc(y.left, q, new) >> _tensor(Id(y.left), ins)
            q = y.left * q
        else:  # (Q' * R) * X -> (Q' * X) * R -> L * R
            qr = q * y.right
            ins = pair(
                pair(fst(qr, new) >> fst(q, y.right), snd(qr, new)), fst(qr, new) >> snd(q, y.right)
            ) >> _tensor(ins, Id(y.right))
            q = q * y.right
    return q, ins


def _way_after_removal(way: list[bool], removed: list[bool]) -> list[bool]:
    """Where a leaf at ``way`` ends up once the leaf at ``removed`` is taken out."""
    parent = removed[:-1]
    if way[: len(parent)] == parent:
        return parent + way[len(parent) + 1 :]
    return way


def _canonical(q: Ob, p: Ob) -> Arrow:
    """The canonical isomorphism ``q -> p`` between two trees of the same parameter leaves.

    Built from projections (associators and unitors); linear in the size of the trees.
    """
    projections: list[Arrow] = []
    stack: list[tuple[Ob, Arrow]] = [(q, Id(q))]
    while stack:
        y, proj = stack.pop()
        if isinstance(y, Product):
            stack.append((y.right, proj >> snd(y.left, y.right)))
            stack.append((y.left, proj >> fst(y.left, y.right)))
        elif not isinstance(y, Unit):
            projections.append(proj)
    it = iter(projections)
    done: list[Arrow] = []
    todo: list[tuple[Ob, bool]] = [(p, False)]
    while todo:
        y, ready = todo.pop()
        if ready:
            right, left = done.pop(), done.pop()
            done.append(pair(left, right))
        elif isinstance(y, Product):
            todo += [(y, True), (y.right, False), (y.left, False)]
        elif isinstance(y, Unit):
            done.append(discard(q))
        else:
            done.append(next(it))
    return done[0]


# ---------------------------------------------------------------------------------
# Para


def _normalise_params(op: str, p: Ob, params: Any) -> tuple[Param, ...]:
    leaves = _param_leaves(p)
    if params is None:
        return tuple(Param(f"p{i}", x, DEFAULT_INIT) for i, x in enumerate(leaves))
    items: list[Any] = []
    if isinstance(params, Mapping):
        for key, value in params.items():
            if isinstance(value, Param) and value.path != key:
                raise ValueError(f"{op}: params key {key!r} holds a Param with path {value.path!r}")
            if not isinstance(value, (Param, Init)):
                raise not_a(f"{op}: params[{key!r}]", "a Param or an Init", value)
            items.append(value if isinstance(value, Param) else (key, value))
    elif isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
        raise not_a(op, "params as a sequence of Param (or paths) or a dict path -> Init", params)
    else:
        items = list(params)
    if len(items) != len(leaves):
        raise ValueError(
            f"{op}: {len(items)} params given, but the parameter object {short(p, 80)}"
            f" has {len(leaves)} leaves: {', '.join(repr(x) for x in leaves[:8])}"
        )
    out: list[Param] = []
    seen: set[str] = set()
    for item, leaf in zip(items, leaves, strict=True):
        if isinstance(item, str):
            param = Param(item, leaf, DEFAULT_INIT)
        elif isinstance(item, tuple):
            param = Param(item[0], leaf, item[1])
        else:
            param = item
        if not isinstance(param, Param):
            raise not_a(f"{op}: params", "a Param or a path", item)
        if param.ob != leaf:
            raise TypeMismatch(
                f"{op}: parameter {param.path!r} is declared {param.ob!r},"
                f" but its leaf of the parameter object is {leaf!r}"
            )
        if param.path in seen:
            raise ValueError(f"{op}: parameter path {param.path!r} is declared twice")
        seen.add(param.path)
        out.append(param)
    return tuple(out)


@dataclass(frozen=True)
class Frozen:
    """The value of a frozen parameter, as a ``Const``: read by ``path``, or ``value``.

    ``init`` and ``stacked`` say how the parameter was declared (a backend draws
    an unvalued frozen parameter like a trainable one); ``value``, when given, is
    the constant itself (a literal or ``topos.arrows.ArrayData``).

    >>> Frozen("enc.w", normal(0.02))
    Frozen(path='enc.w', init=normal(0.02), stacked=0, value=None)
    """

    path: str
    init: Init
    stacked: int = 0
    value: Hashable | None = None


def _const_box(param: Param, value: Any = None) -> Const:
    return Const(param.ob, Frozen(param.path, param.init, param.stacked, value), param.path)


def _is_const(f: Arrow) -> bool:
    return isinstance(f, Const) and isinstance(f.value, Frozen)


def _const_param(f: Const) -> Param:
    ref: Frozen = f.value
    return Param(ref.path, f.cod, ref.init, ref.stacked)


def _scan_consts(f: Arrow) -> tuple[Param, ...]:
    """The frozen parameters (``const`` boxes) of an arrow, in diagram order."""

    def step(node: Arrow, kids: list[Sequence[Param]]) -> Sequence[Param]:
        if _is_const(node):
            assert isinstance(node, Const)
            return (_const_param(node),)
        return tuple(c for kid in kids for c in kid)

    found: Sequence[Param] = fold(f, step)
    return tuple(dict.fromkeys(found))


class Para:
    """A parametrised morphism ``(P, f)``: parameter object ``P``, arrow ``f: P • A -> B``.

    ``params`` names the leaves of the product tree ``P`` (left to right, ``One``
    leaves skipped): a sequence of ``Param`` (or of paths), or a dict path ->
    ``Param`` or path -> ``Init``; by default ``p0, p1, ...`` with ``DEFAULT_INIT``.

    >>> p = Para(R(3, 4) * R(4), Box("affine", (R(3, 4) * R(4)) * R(3), R(4)),
    ...          params={"w": glorot_uniform, "b": zeros})
    >>> p.dom, p.cod, p.P
    (R(3), R(4), R(3, 4) * R(4))
    >>> p.parameters()["b"]
    Param('b', R(4), zeros)
    >>> eval(repr(p)) == p
    True
    >>> print(p)
    Para(w: R(3, 4), b: R(4); R(3) -> R(4))
    >>> Para(R(3, 4), Box("affine", R(3) * R(3, 4), R(4)))
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: Para: the arrow's domain must be P * A with P = R(3, 4),
    got R(3) * R(3, 4)
    """

    __slots__ = (
        "P",
        "arrow",
        "dom",
        "cod",
        "actegory",
        "_own",
        "_consts",
        "_parts",
        "_names",
        "_count",
        "_listing",
        "_hash",
    )
    P: Ob
    arrow: Arrow
    dom: Ob
    cod: Ob
    actegory: Actegory
    _own: tuple[Param, ...]
    _consts: tuple[Param, ...]
    _parts: tuple[Para, ...]
    _names: set[str]
    _count: int
    _listing: tuple[tuple[Param, ...], tuple[Param, ...]] | None
    _hash: int

    # Arrow.__rshift__ and __mul__ defer to Para for mixing (f >> p, f * p).
    _mixes_with_arrows: ClassVar[bool] = True

    def __init__(
        self,
        P: Ob,  # noqa: N803 (the mathematical name)
        f: Arrow,
        params: Any = None,
        actegory: Actegory = CARTESIAN,
    ) -> None:
        if not isinstance(P, Ob):
            raise not_a("Para", "a parameter object (R, products of R, One ...)", P)
        if not isinstance(f, Arrow):
            raise not_a("Para", "an arrow f: P • A -> B", f)
        if not isinstance(actegory, Actegory):
            raise not_a("Para", "an Actegory (CARTESIAN, Global(E))", actegory)
        a = actegory.split(P, f.dom)
        own = _normalise_params("Para", P, params)
        self._setup(P, f, a, actegory, own, _scan_consts(f), ())

    def _setup(
        self,
        p: Ob,
        f: Arrow,
        a: Ob,
        actegory: Actegory,
        own: tuple[Param, ...],
        consts: tuple[Param, ...],
        parts: tuple[Para, ...],
        op: str = "Para",
    ) -> None:
        put = object.__setattr__
        put(self, "P", p)
        put(self, "arrow", f)
        put(self, "dom", a)
        put(self, "cod", f.cod)
        put(self, "actegory", actegory)
        put(self, "_own", own)
        put(self, "_consts", consts)
        put(self, "_parts", parts)
        put(self, "_listing", None)
        put(self, "_hash", hash(("Para", p, f, actegory)))
        names, count = _merge_names(op, parts, [x.path for x in own + consts])
        put(self, "_names", names)
        put(self, "_count", count)

    @classmethod
    def _make(
        cls,
        p: Ob,
        f: Arrow,
        a: Ob,
        actegory: Actegory,
        own: tuple[Param, ...] = (),
        consts: tuple[Param, ...] = (),
        parts: tuple[Para, ...] = (),
        op: str = "Para",
    ) -> Para:
        out = object.__new__(cls)
        out._setup(p, f, a, actegory, own, consts, parts, op)
        return out

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Para is immutable")

    # -- parameters ----------------------------------------------------------------
    def _lists(self) -> tuple[tuple[Param, ...], tuple[Param, ...]]:
        if self._listing is not None:
            return self._listing
        params: list[Param] = []
        consts: list[Param] = []
        stack: list[Para] = [self]
        while stack:
            node = stack.pop()
            if node._listing is not None:
                params += node._listing[0]
                consts += node._listing[1]
                continue
            params += node._own
            consts += node._consts
            stack.extend(reversed(node._parts))
        listing = (tuple(params), tuple(consts))
        object.__setattr__(self, "_listing", listing)
        return listing

    def _paths(self) -> list[str]:
        params, consts = self._lists()
        return [x.path for x in params + consts]

    def parameters(self) -> dict[str, Param]:
        """The parameters, ``path -> Param``, in the order of the leaves of ``P``.

        >>> lin = Para(R(4, 4), Box("matmul", R(4, 4) * R(4), R(4)), ["w"])
        >>> list((lin.named("a") >> Box("relu", R(4), R(4)) >> lin.named("b")).parameters())
        ['a.w', 'b.w']
        """
        return {x.path: x for x in self._lists()[0]}

    @property
    def params(self) -> tuple[Param, ...]:
        """The parameters as a tuple, in order (``Para(p.P, p.arrow, p.params) == p``)."""
        return self._lists()[0]

    def constants(self) -> dict[str, Param]:
        """The frozen parameters (``const`` boxes in the arrow), ``path -> Param``.

        >>> lin = Para(R(3, 4), Box("matmul", R(3, 4) * R(3), R(4)), ["w"])
        >>> lin.freeze("w").constants()
        {'w': Param('w', R(3, 4), normal(1.0))}
        """
        return {x.path: x for x in self._lists()[1]}

    def num_params(self) -> int:
        """The number of real entries of the ``R`` parameters (what an optimiser updates).

        >>> Para(R(3, 4) * R(4), Box("f", (R(3, 4) * R(4)) * R(3), R(4))).num_params()
        16
        """
        return sum(x.ob.size for x in self.params if isinstance(x.ob, R))

    def unflatten(
        self,
        values: Mapping[str, V],
        pair: Callable[[tuple[Any, Any]], Any] = tuple,
        unit: Any = (),
    ) -> Any:
        """The value of ``P`` built from ``values`` (path -> leaf value).

        Products become ``pair((left, right))`` (nested 2-tuples by default), ``One``
        becomes ``unit``. Keys beyond the parameters are ignored (e.g. frozen ones).

        >>> f = Box("f", (R(2) * R(3)) * R(1), R(1))
        >>> p = Para.lift(Id(R(1))) >> Para(R(2) * R(3), f, ["a", "b"])
        >>> p.P
        One * (R(2) * R(3))
        >>> p.unflatten({"a": 1.0, "b": 2.0})
        ((), (1.0, 2.0))
        """
        paths = iter(self.parameters())
        done: list[Any] = []
        stack: list[tuple[Ob, bool]] = [(self.P, False)]
        while stack:
            y, ready = stack.pop()
            if ready:
                right, left = done.pop(), done.pop()
                done.append(pair((left, right)))
            elif isinstance(y, Product):
                stack += [(y, True), (y.right, False), (y.left, False)]
            elif isinstance(y, Unit):
                done.append(unit)
            else:
                path = next(paths)
                if path not in values:
                    raise KeyError(f"unflatten: no value for the parameter {path!r} ({y!r})")
                done.append(values[path])
        return done[0]

    # -- construction --------------------------------------------------------------
    @staticmethod
    def lift(f: Arrow, actegory: Actegory = CARTESIAN) -> Para:
        """A parameter-free arrow as a Para with ``P = One``: the arrow ``η ; f``.

        >>> Para.lift(Box("relu", R(3), R(3)))
        Para(One, snd(One, R(3)) >> Box('relu', R(3), R(3)), params=())
        """
        if not isinstance(f, Arrow):
            raise not_a("Para.lift", "an arrow", f)
        arrow = actegory.para_lift(f)
        return Para._make(One, arrow, f.dom, actegory, consts=_scan_consts(f), op="Para.lift")

    def named(self, prefix: str) -> Para:
        """Every path prefixed with ``prefix + "."`` (frozen constants too).

        >>> lin = Para(R(3, 4), Box("matmul", R(3, 4) * R(3), R(4)), ["w"])
        >>> list(lin.named("block0").named("model").parameters())
        ['model.block0.w']
        """
        if not isinstance(prefix, str) or not prefix:
            raise TypeError(f"named: prefix must be a non-empty string, got {prefix!r}")
        params, consts = self._lists()
        arrow = self.arrow
        if consts:
            from topos.functor import Free, Functor

            def rename(node: Arrow) -> Arrow:
                if not isinstance(node, Const) or not _is_const(node):
                    return node
                ref: Frozen = node.value
                return _const_box(_const_param(node).renamed(f"{prefix}.{ref.path}"), ref.value)

            arrow = Functor(ob=lambda x: x, ar=rename, cod=Free())(arrow)
        return Para._make(
            self.P,
            arrow,
            self.dom,
            self.actegory,
            own=tuple(x.renamed(f"{prefix}.{x.path}") for x in params),
            consts=tuple(x.renamed(f"{prefix}.{x.path}") for x in consts),
            op=f"named({prefix!r})",
        )

    def _same(self, other: Para, op: str) -> None:
        if self.actegory != other.actegory:
            raise TypeMismatch(
                f"{op}: Para over different actegories, {self.actegory!r} and {other.actegory!r}"
            )

    def then(self, other: Para | Arrow) -> Para:
        """``self >> other``: first ``self``, then ``other``; parameters ``P * Q``.

        An arrow ``g`` composes as its lift, its unit parameter absorbed:
        ``p >> g`` has the parameters of ``p``.

        >>> lin = Para(R(3, 3), Box("matmul", R(3, 3) * R(3), R(3)), ["w"])
        >>> (lin.named("a") >> lin.named("b")).P
        R(3, 3) * R(3, 3)
        >>> lin >> lin
        Traceback (most recent call last):
        ...
        ValueError: >>: the parameter path 'w' occurs on both sides;
        name the layers apart with .named('...')
        """
        act = self.actegory
        if isinstance(other, Arrow) and other.dom != self.cod:
            raise TypeMismatch(
                f"{short(self)} >> {short(other)}: codomain {self.cod!r}"
                f" does not match domain {other.dom!r}"
            )
        if isinstance(other, Arrow):
            arrow = act.then(self.arrow, act.embed(other))
            return Para._make(
                self.P, arrow, self.dom, act, consts=_scan_consts(other), parts=(self,), op=">>"
            )
        if not isinstance(other, Para):
            raise not_a(">>", "a Para or an arrow", other)
        self._same(other, ">>")
        if self.cod != other.dom:
            raise TypeMismatch(
                f"{short(self)} >> {short(other)}: codomain {self.cod!r}"
                f" does not match domain {other.dom!r}"
            )
        arrow = act.para_compose(self.P, other.P, self.dom, self.arrow, other.arrow)
        return Para._make(self.P * other.P, arrow, self.dom, act, parts=(self, other), op=">>")

    def __rshift__(self, other: Para | Arrow) -> Para:
        return self.then(other)

    def __rrshift__(self, other: Arrow) -> Para:
        if not isinstance(other, Arrow):
            return NotImplemented
        act = self.actegory
        if other.cod != self.dom:
            raise TypeMismatch(
                f"{short(other)} >> {short(self)}: codomain {other.cod!r}"
                f" does not match domain {self.dom!r}"
            )
        arrow = act.then(act.act_on(self.P, act.embed(other)), self.arrow)
        return Para._make(
            self.P, arrow, other.dom, act, consts=_scan_consts(other), parts=(self,), op=">>"
        )

    def tensor(self, other: Para | Arrow) -> Para:
        """``self * other``: the two side by side, ``(P * Q) • (A * C) -> B * D``.

        >>> lin = Para(R(3, 3), Box("matmul", R(3, 3) * R(3), R(3)), ["w"])
        >>> both = lin.named("a") * lin.named("b")
        >>> both.dom, list(both.parameters())
        (R(3) * R(3), ['a.w', 'b.w'])
        """
        if isinstance(other, Arrow):
            return (self * Para.lift(other, self.actegory)).reparam(
                pair(Id(self.P), discard(self.P))
            )
        if not isinstance(other, Para):
            raise not_a("*", "a Para or an arrow", other)
        self._same(other, "*")
        act = self.actegory
        arrow = act.para_tensor(self.P, other.P, self.dom, other.dom, self.arrow, other.arrow)
        return Para._make(
            self.P * other.P, arrow, self.dom * other.dom, act, parts=(self, other), op="*"
        )

    def __mul__(self, other: Para | Arrow) -> Para:
        return self.tensor(other)

    def __rmul__(self, other: Arrow) -> Para:
        if not isinstance(other, Arrow):
            return NotImplemented
        lifted = Para.lift(other, self.actegory)
        return (lifted * self).reparam(pair(discard(self.P), Id(self.P)))

    # -- reparametrisation (2-cells) -------------------------------------------------
    def reparam(self, r: Arrow, params: Any = None) -> Para:
        """The layer reparametrised along ``r: Q -> P``: ``(Q, act_arrow(r, A) ; f)``.

        ``params`` names the leaves of ``Q``; by default the parameters of ``self``
        when ``Q`` has the same leaves, else ``p0, p1, ...``.

        >>> lin = Para(R(3, 3), Box("matmul", R(3, 3) * R(3), R(3)), ["w"])
        >>> sym = Box("symmetrise", R(3, 3), R(3, 3))
        >>> lin.reparam(sym).arrow
        Box('symmetrise', R(3, 3), R(3, 3)) * Id(R(3)) >> Box('matmul', R(3, 3) * R(3), R(3))
        """
        if not isinstance(r, Arrow):
            raise not_a("reparam", "an arrow r: Q -> P", r)
        if r.cod != self.P:
            raise TypeMismatch(
                f"reparam({short(r)}): its codomain {r.cod!r} is not the parameter"
                f" object {self.P!r}"
            )
        act = self.actegory
        arrow = act.then(act.act_arrow(r, self.dom), self.arrow)
        consts = _scan_consts(r)
        if params is None and [x.ob for x in self.params] == _param_leaves(r.dom):
            return Para._make(
                r.dom, arrow, self.dom, act, consts=consts, parts=(self,), op="reparam"
            )
        own = _normalise_params("reparam", r.dom, params)
        old = self._lists()[1]
        return Para._make(r.dom, arrow, self.dom, act, own=own, consts=old + consts, op="reparam")

    def _leaf(self, op: str, path: str) -> tuple[int, Param]:
        for i, x in enumerate(self.params):
            if x.path == path:
                return i, x
        raise KeyError(f"{op}: no parameter {path!r}; the parameters are {_some(self.params)}")

    def _select(self, op: str, path: str) -> list[str]:
        found = [x.path for x in self.params if x.path == path or x.path.startswith(path + ".")]
        if not found:
            raise KeyError(
                f"{op}: no parameter at or under {path!r}; the parameters are {_some(self.params)}"
            )
        return found

    def tie_along(self, keep: str, drop: str, via: Arrow | None = None) -> tuple[Arrow, Para]:
        """The reparametrisation ``r`` that ``tie`` uses, and the tied Para.

        >>> w = Para(R(2, 2) * R(2, 2), Box("f", (R(2, 2) * R(2, 2)) * R(2), R(2)), ["a", "b"])
        >>> w.tie_along("a", "b")[0]
        copy(R(2, 2))
        """
        i, a = self._leaf("tie", keep)
        j, b = self._leaf("tie", drop)
        if i == j:
            raise ValueError(f"tie: cannot tie {keep!r} with itself")
        if via is None:
            if a.ob != b.ob:
                raise TypeMismatch(
                    f"tie({keep!r}, {drop!r}): {keep!r} is {a.ob!r} but {drop!r} is {b.ob!r};"
                    f" pass via=<an arrow {a.ob!r} -> {b.ob!r}>"
                )
            via = Id(a.ob)
        elif not isinstance(via, Arrow) or via.dom != a.ob or via.cod != b.ob:
            raise TypeMismatch(
                f"tie({keep!r}, {drop!r}): via must be an arrow {a.ob!r} -> {b.ob!r}, got {via!r}"
            )
        way_b = _path_to(self.P, j)
        q, ins = _remove(self.P, way_b, b.ob)
        way_a = _way_after_removal(_path_to(self.P, i), way_b)
        source = _project(q, way_a) >> via
        r = copy(q) >> _tensor(Id(q), source) >> ins
        own = tuple(x for x in self.params if x.path != drop)
        return r, self.reparam(r, own)

    def tie(self, keep: str, drop: str, via: Arrow | None = None) -> Para:
        """Tie two parameters: reparametrise along the diagonal ``copy`` so ``drop`` reads ``keep``.

        ``drop`` disappears from ``parameters()``; with ``via: ob(keep) -> ob(drop)``
        (a transpose, say) the tied leaf is ``keep`` mapped through ``via``.

        >>> enc = Para(R(3, 2), Box("matmul", R(3, 2) * R(3), R(2)), ["enc.w"])
        >>> dec = Para(R(3, 2), Box("matmul_t", R(3, 2) * R(2), R(3)), ["dec.w"])
        >>> list((enc >> dec).tie("enc.w", "dec.w").parameters())
        ['enc.w']
        """
        return self.tie_along(keep, drop, via)[1]

    def freeze(self, path: str, value: Hashable | None = None) -> Para:
        """Freeze a parameter (or every parameter under a prefix): reparametrise along a constant.

        Each frozen leaf is replaced by a constant ``Const(ob, Frozen(path, init,
        stacked, value))``, so it leaves ``parameters()`` and appears in
        ``constants()``. A backend reads the constant's value from ``value``, or
        else from the parameter dict by path. Frozen parameters may sit inside
        groups and repeats (a repeated block shares them across its layers).

        >>> net = Para(R(2) * R(2), Box("f", (R(2) * R(2)) * R(1), R(1)), ["enc.w", "dec.w"])
        >>> list(net.freeze("enc").parameters()), list(net.freeze("enc").constants())
        (['dec.w'], ['enc.w'])
        """
        paths = self._select("freeze", path)
        if value is not None and len(paths) != 1:
            raise ValueError(f"freeze({path!r}): a value fixes one parameter, not {paths}")
        if value is not None:
            try:
                hash(value)
            except TypeError:
                raise TypeError(
                    f"freeze({path!r}): the value must be hashable (nested tuples or"
                    f" topos.arrows.ArrayData), got {type(value).__name__}"
                ) from None
        out = self
        for name in paths:
            j, b = out._leaf("freeze", name)
            q, ins = _remove(out.P, _path_to(out.P, j), b.ob)
            r = pair(Id(q), discard(q) >> _const_box(b, value)) >> ins
            out = out.reparam(r, tuple(x for x in out.params if x.path != name))
        return out

    def as_cartesian(self) -> Para:
        """The same layer as a cartesian Para (what a cartesian backend runs).

        For ``Global(E)`` the input becomes ``E * A``; for ``CARTESIAN`` it is ``self``.

        >>> G = Global(R(2, 2))
        >>> p = Para(R(2), Box("f", R(2, 2) * (R(2) * R(2)), R(2)), ["w"], actegory=G)
        >>> p.as_cartesian().dom
        R(2, 2) * R(2)
        """
        if self.actegory == CARTESIAN:
            return self
        x, arrow = self.actegory.cartesian(self.P, self.dom, self.arrow)
        return Para._make(self.P, arrow, x, CARTESIAN, parts=(self,), op="as_cartesian")

    def unroll(self) -> Para:
        """The explicit composite of a ``repeat`` Para: see ``unroll``."""
        return unroll(self)

    # -- values ----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Para):
            return NotImplemented
        if self is other:
            return True
        return (
            self._hash == other._hash
            and self.actegory == other.actegory
            and self.P == other.P
            and self.arrow == other.arrow
            and self.params == other.params
        )

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        extra = "" if self.actegory == CARTESIAN else f", actegory={self.actegory!r}"
        return f"Para({self.P!r}, {self.arrow!r}, params={self.params!r}{extra})"

    def __str__(self) -> str:
        params = ", ".join(f"{x.path}: {x.ob}" for x in self.params[:6])
        if len(self.params) > 6:
            params += f", … {len(self.params) - 6} more"
        over = "" if self.actegory == CARTESIAN else f" over {self.actegory!r}"
        return f"Para({params}{'; ' if params else ''}{self.dom} -> {self.cod}{over})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Para, (self.P, self.arrow, self.params, self.actegory))

    def __functor__(self, functor: Any) -> Any:
        """A functor maps a Para through its arrow: ``F(p) == F(p.arrow)``."""
        return functor(self.arrow)

    def _repr_svg_(self) -> str:
        """The string diagram as SVG (``topos.draw.draw``), shown by Jupyter."""
        from topos.draw import draw

        return draw(self)

    def summary(self) -> str:
        """A table of the parameters: path, object, initialiser; then the total count.

        >>> f = Box("f", (R(3, 4) * R(4)) * R(3), R(4))
        >>> print(Para(R(3, 4) * R(4), f, ["w", "b"]).summary())
        Para: R(3) -> R(4)
          w  R(3, 4)  normal(1.0)
          b  R(4)     normal(1.0)
        16 parameters
        """
        rows = [(x.path, repr(x.ob), repr(x.init)) for x in self.params]
        rows += [(x.path, repr(x.ob), "frozen") for x in self._lists()[1]]
        widths = [max((len(r[k]) for r in rows), default=0) for k in range(2)]
        lines = [f"Para: {self.dom} -> {self.cod}"]
        lines += [f"  {p:<{widths[0]}}  {o:<{widths[1]}}  {i}" for p, o, i in rows]
        lines.append(f"{self.num_params()} parameters")
        return "\n".join(lines)


def _some(params: Sequence[Param], limit: int = 8) -> str:
    names = ", ".join(repr(x.path) for x in params[:limit])
    more = f", … ({len(params) - limit} more)" if len(params) > limit else ""
    return f"[{names}{more}]" if params else "[] (none)"


def _merge_names(op: str, parts: Sequence[Para], extra: Sequence[str]) -> tuple[set[str], int]:
    """The set of paths of a node: its parts' and ``extra``, checking collisions.

    The largest part's set is extended in place when no one else has extended it
    (its size still matches), so a chain of compositions costs amortised time
    proportional to what each step adds.
    """
    names: set[str] | None = None
    rest: list[Para] = list(parts)
    if rest:
        big = max(rest, key=lambda x: x._count)
        rest.remove(big)
        if len(big._names) == big._count:
            names = big._names
        else:
            names = set(big._paths())
    if names is None:
        names = set()
    added: list[str] = []
    for part in rest:
        added += part._paths()  # in listing order, so the error names the first clash
    added += extra
    clash = [x for x in added if x in names]
    if not clash:
        fresh: set[str] = set()
        for x in added:
            if x in fresh:
                clash.append(x)
            fresh.add(x)
    if clash:
        hint = ";\nname the layers apart with .named('...')" if op in (">>", "*") else ""
        raise ValueError(f"{op}: the parameter path {clash[0]!r} occurs on both sides{hint}")
    names.update(added)
    return names, len(names)


# ---------------------------------------------------------------------------------
# Deciding equality of Para up to 2-cells


def _check_same_type(op: str, p: Para, q: Para) -> None:
    if not isinstance(p, Para) or not isinstance(q, Para):
        raise TypeError(f"{op}: expected two Para")
    if p.actegory != q.actegory or p.dom != q.dom or p.cod != q.cod:
        raise TypeMismatch(
            f"{op}: {p.dom} -> {p.cod} over {p.actegory!r} and {q.dom} -> {q.cod}"
            f" over {q.actegory!r} are not parallel"
        )


def equal_up_to(p: Para, q: Para, r: Arrow) -> bool:
    """Whether ``q`` is ``p`` reparametrised along ``r: Q -> P`` (decided by ``topos.equal``).

    >>> lin = Para(R(2, 2), Box("matmul", R(2, 2) * R(2), R(2)), ["w"])
    >>> sym = Box("sym", R(2, 2), R(2, 2))
    >>> equal_up_to(lin, lin.reparam(sym), sym), equal_up_to(lin, lin, sym)
    (True, False)
    """
    from topos.normal import equal

    _check_same_type("equal_up_to", p, q)
    if not isinstance(r, Arrow) or r.dom != q.P or r.cod != p.P:
        raise TypeMismatch(
            f"equal_up_to: r must be an arrow {q.P!r} -> {p.P!r}, got {short(r)}"
            + (f": {r.dom!r} -> {r.cod!r}" if isinstance(r, Arrow) else "")
        )
    act = p.actegory
    return bool(equal(act.then(act.act_arrow(r, p.dom), p.arrow), q.arrow))


def canonical_iso(q: Ob, p: Ob) -> Arrow | None:
    """The canonical isomorphism ``q -> p`` (associators, unitors of M), if one exists.

    It exists when both trees have the same parameter leaves in the same order.

    >>> canonical_iso(R(1) * (R(2) * One), (R(1) * R(2)))
    pair(fst(R(1), R(2) * One), snd(R(1), R(2) * One) >> fst(R(2), One))
    >>> canonical_iso(R(1) * R(2), R(2) * R(1)) is None
    True
    """
    if _param_leaves(q) != _param_leaves(p):
        return None
    return _canonical(q, p)


def isomorphic(p: Para, q: Para) -> bool:
    """Whether ``p`` and ``q`` are equal up to the canonical isomorphism of their parameters.

    That is: ``q.P`` and ``p.P`` have the same leaves in order and ``q`` is ``p``
    reparametrised along the canonical isomorphism (associators and unitors).
    Parameter names are not compared.

    >>> f, g = Box("f", R(1), R(2)), Box("g", R(2), R(3))
    >>> isomorphic(Para.lift(f >> g), Para.lift(f) >> Para.lift(g))
    True
    """
    _check_same_type("isomorphic", p, q)
    r = canonical_iso(q.P, p.P)
    return r is not None and equal_up_to(p, q, r)


# ---------------------------------------------------------------------------------
# Repetition: scan over layers


def repeat(block: Para, n: int) -> Para:
    """The ``n``-fold composite of an endomorphism ``block: A -> A``, parameters stacked.

    Each parameter leaf ``R(*s)`` becomes ``R(n, *s)`` (same path, same init per
    slice, ``stacked`` one more); the arrow is ``Repeat(block.arrow, n)``
    (``topos.arrows``), which a backend runs as a scan and every other semantics
    as its unrolling. Constants and frozen parameters inside the block are shared
    by all layers (not stacked). ``unroll`` gives the explicit composite.

    >>> blk = Para(R(4, 4), Box("matmul", R(4, 4) * R(4), R(4)), {"w": normal(0.02)})
    >>> deep = repeat(blk, 3)
    >>> deep.parameters()["w"]
    Param('w', R(3, 4, 4), normal(0.02), stacked=1)
    >>> type(deep.arrow).__name__, deep.arrow.n
    ('Repeat', 3)
    """
    if not isinstance(block, Para):
        raise not_a("repeat", "a Para", block)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TypeError(f"repeat: n must be an int >= 1, got {n!r}")
    if block.actegory != CARTESIAN:
        raise TypeMismatch(f"repeat: needs a Para over CARTESIAN, got one over {block.actegory!r}")
    if block.dom != block.cod:
        raise TypeMismatch(
            f"repeat: the block must be an endomorphism A -> A, got {block.dom!r} -> {block.cod!r}"
        )
    params = block.params
    for x, leaf in zip(params, _param_leaves(block.P), strict=True):
        if not isinstance(leaf, R):
            raise TypeMismatch(
                f"repeat: parameter {x.path!r} is {leaf!r}; only R(...) leaves can be stacked"
            )
    p = stacked(block.P, n)
    own = tuple(
        Param(x.path, leaf, x.init, x.stacked + 1)
        for x, leaf in zip(params, _param_leaves(p), strict=True)
    )
    arrow = Repeat(block.arrow, n)
    consts = tuple(block.constants().values())
    return Para._make(p, arrow, block.dom, CARTESIAN, own=own, consts=consts, op="repeat")


def unroll(p: Para) -> Para:
    """The explicit composite ``b.named("0") >> ... >> b.named(str(n-1))`` of ``repeat(b, n)``.

    Slice ``i`` of the stacked parameter ``path`` is the parameter ``f"{i}.{path}"``;
    frozen parameters of the block stay shared (their paths unchanged).

    >>> blk = Para(R(4, 4), Box("matmul", R(4, 4) * R(4), R(4)), {"w": normal(0.02)})
    >>> list(unroll(repeat(blk, 3)).parameters())
    ['0.w', '1.w', '2.w']
    """
    f = p.arrow
    if not (isinstance(p, Para) and isinstance(f, Repeat) and f.dom == p.P * p.dom):
        raise TypeError(f"unroll: expected a Para built by repeat(block, n), got {short(p)}")
    q = f.params
    own = tuple(
        Param(x.path, leaf, x.init, x.stacked - 1)
        for x, leaf in zip(p.params, _param_leaves(q), strict=True)
    )
    # The block's frozen parameters are shared: listed once, on the whole chain.
    block = Para._make(q, f.body, p.dom, CARTESIAN, own=own)
    out = block.named("0")
    for i in range(1, f.n):
        out = out >> block.named(str(i))
    shared = _scan_consts(f.body)
    return Para._make(out.P, out.arrow, out.dom, CARTESIAN, own=out.params, consts=shared)
