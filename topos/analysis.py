"""Which category does a morphism live in? The paper's theorem, executable.

``analyze(f)`` runs the diagram on *abstract values* that record, for every wire,
whether it depends on the input (parameters of a ``Para`` count as external, not as
input), while the map is polynomial its degree in the input (0 for a wire that is
only *piecewise constant*, as a choice of summand is), and the observations
(*events*) it was computed from. The verdict joins the events of the **output**
only, so it is a property of the map, not of how it is written:

- **order**, in ``ORDERS = ("first", "diagonal", "higher")``. A ``bilinear``
  generator ``B: X * Y -> Z`` whose two factors *both* vary with the input is the
  evaluation of a linear map chosen by the input: ``B = (curry(B) * Id) ; ev``.
  It is ``higher`` order (as self-attention, ``softmax(x Wq (x Wk)^T) · x Wv``,
  whether written with ``einsum`` or as ``choose ; ev``), unless it is *diagonal*:
  each output entry is the product of one entry of each factor, nothing is summed,
  and one factor spans the whole output (``mul`` with at most one factor
  broadcast, ``einsum`` such as ``'sd,s->sd'``, a box with ``diagonal=True``).
  Fixing the other factor then gives a pointwise scaling, a *diagonal* map, and
  its evaluation is the pointwise product: a first-order polynomial map, which
  needs no exponential. That is the third answer, ``diagonal``: gating (SwiGLU,
  GeGLU), normalisation (``x · rsqrt(mean(x²))``, and ``x ⊙ x`` itself). A
  product is linear in the input when one factor does not depend on it (a
  parameter, a constant), and piecewise linear when that factor is only piecewise
  constant (a mask chosen by a case split). An ``ev`` of a function that is not a
  ``curry`` — a function given as input or made by a box — and that depends on the
  input is ``higher`` order too. An ``ev`` of a ``curry`` is beta reduction: the
  body runs on the closure's environment and the argument, and only what the body
  does counts. A soft mixture of experts ``Σ_k g_k(x) e_k(x)``, an ``einsum``
  summing over the experts, is ``higher``: the gate chooses a linear map of the
  experts' outputs, as attention's rows choose a mixture of tokens.
- **class**: the join, over the live generating boxes that touch varying values, of
  their classes in the chain ``linear < pl < polynomial < smooth``. A product of two
  varying factors is ``polynomial`` (of the summed degree). ``pl`` joined with
  ``polynomial`` reports ``polynomial`` (read: piecewise polynomial).
- **lives in**: ``"PL pretopos"`` when first order and at most PL; ``"topos
  completion"`` when higher order (exponentials are needed: PL is not cartesian
  closed); ``"smooth maps"`` otherwise: first order with polynomial or smooth
  generators, or diagonal (a product of two varying factors is never PL: ``x ⊙ x``
  is quadratic, so a gated ReLU network leaves the PL pretopos — but stays first
  order among smooth, piecewise polynomial maps);
- **witnesses**: the sub-diagrams that force the verdict, each with its path (see
  ``locate``); for an order reached inside a ``curry`` applied by ``ev``, the ``ev``.
  A box that makes *labels* (a ``Fin``, a coproduct ``One + … + One``) out of a
  varying input — ``top_k`` choosing experts by argmax — splits the input space
  into cases; the labels are piecewise constant, the map is the coproduct of its
  pieces, and a ``coproduct`` witness names the box.

Invariance: ``equal(f, g)`` implies the same order, class and lives-in. Dead code
(a branch dropped by a projection, ``discard`` or an injection's other summand)
leaves no event in the output; ``curry``/``ev`` are beta-reduced; a function that
leaves the diagram, or enters a box, is judged by its transpose (applied to a fresh
argument); a map out of an empty type is trivial. The laws of the free bicartesian
closed category are checked against ``analyze`` as hypothesis properties
(``tests/topos/test_analysis_laws.py``). Limits: boxes are opaque, so a map that
one spelling gives as a single box and another as several boxes can get different
verdicts — a contraction written ``broadcast ; mul ; reduce_sum`` is a diagonal
product followed by a sum, so ``diagonal``, where the ``einsum`` is ``higher``;
write contractions as ``einsum``. The Heyting-algebra equations of ``Omega`` are
not among ``equal``'s and are not respected (``p ∧ (p ∨ q)`` keeps ``q``'s class).

A box's class comes from its ``cls`` attribute, else from ``declare(name, cls)``
(backends declare their primitives), else it is unknown and counted as smooth, with
a witness saying so; a box whose ``cls`` is ``"unknown"`` (an imported primitive
nothing is known about, ``topos.nn.primitives.foreign``) is counted so too.
Groups (``topos.arrows.Group``) are analysed through their body, a ``Repeat`` by
iterating its body to a fixpoint, a ``Recur`` (a fold over a sequence) by iterating
its cell to a fixpoint of the carried state, with every item of the sequence one
input, and constants are constant.

>>> from topos import R, Fin, Box, pair, curry, ev, copy, discard, fst, Id
>>> X = R(4)
>>> relu, w = Box("relu", X, X, cls="pl"), Box("w", X, X, cls="linear")
>>> analyze(w >> relu >> w).lives_in
'PL pretopos'

Self-attention shape: the input chooses a linear map on sequences, ``ev`` applies it.

>>> scores = Box("scores", X, R(4, 4), cls="smooth")          # softmax(x Wq (x Wk)^T)
>>> mix = Box("mix", R(4, 4) * X, X, cls="bilinear")          # (A, v) |-> A v
>>> attn = copy(X) >> (scores >> curry(mix)) * Id(X) >> ev(X, X)
>>> report = analyze(attn)
>>> report.order, report.cls, report.lives_in
('higher', 'smooth', 'topos completion')
>>> print(report.witnesses[0])
order: ev applies a function that depends on the input, in the top level

The same map with the bilinear box applied directly (``ev`` beta-reduced), and
with a dead branch (a smooth box whose output is dropped), gets the same verdict:

>>> direct = copy(X) >> scores * Id(X) >> mix
>>> analyze(direct).order, analyze(direct).cls
('higher', 'smooth')
>>> dead = copy(X) >> (Box("tanh", X, X, cls="smooth") * (w >> relu)) >> discard(X) * Id(X)
>>> analyze(dead).cls
'pl'

Gating is diagonal: ``x ⊙ relu(x W)`` is first order, but not piecewise linear.

>>> gate = Box("mul", X * X, X, cls="bilinear")
>>> report = analyze(copy(X) >> Id(X) * (w >> relu) >> gate)
>>> report.order, report.cls, report.lives_in
('diagonal', 'polynomial', 'smooth maps')

A router that picks one of 3 experts by argmax is a case split, a coproduct:

>>> pick = Box("argmax", X, Fin(3), cls="pl")
>>> case = analyze(w >> pick).witnesses[-1]
>>> case.kind, case.arrow.name, "case split" in case.reason
('coproduct', 'argmax', True)

Linear attention (no softmax) is polynomial of degree 3:

>>> gram = Box("gram", X * X, R(4, 4), cls="bilinear")        # x x^T
>>> lin = copy(X) >> (copy(X) >> gram >> curry(mix)) * Id(X) >> ev(X, X)
>>> analyze(lin).cls, analyze(lin).degree
('polynomial', 3)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from topos import arrows as ar_
from topos.arrows import Arrow, Box
from topos.errors import short
from topos.normal import deep
from topos.objects import Coproduct, Empty, Exp, Fin, Ob, Product, Unit

__all__ = ["CLASSES", "ORDERS", "Analysis", "Witness", "analyze", "declare", "declared", "locate"]

#: The classes of maps, least first; ``bilinear`` is resolved per use (see module doc).
CLASSES = ("linear", "pl", "polynomial", "smooth")
_KINDS = (*CLASSES, "bilinear")
#: The orders, least first (see the module doc for ``diagonal``).
ORDERS = ("first", "diagonal", "higher")
_DECLARED: dict[str, str] = {}


def declare(name: str, cls: str) -> None:
    """Declare the class of the primitive boxes named ``name``.

    >>> declare("my_relu", "pl"); declared("my_relu")
    'pl'
    """
    if cls not in _KINDS:
        raise ValueError(f"declare({name!r}): class must be one of {_KINDS}, got {cls!r}")
    _DECLARED[name] = cls


def declared(name: str) -> str | None:
    """The class declared for boxes named ``name``, or None."""
    return _DECLARED.get(name)


Path = tuple[int | str, ...]


class _At:
    """A place in the diagram being analysed: the path from the root, shared.

    A place's path is its parent's plus one step, so the interpreter extends a path in
    constant time and memory however deep it is (copying it as a tuple at each level
    made 10,000 nested curries quadratic). Places are unique per path (children are
    kept by step), so they compare and hash by identity; ``path`` writes one out.
    """

    __slots__ = ("up", "step", "_kids")

    def __init__(self, up: _At | None, step: int | str | None) -> None:
        self.up, self.step = up, step
        self._kids: dict[int | str, _At] | None = None

    def at(self, step: int | str) -> _At:
        """The place one ``step`` below this one."""
        if self._kids is None:
            self._kids = {}
        kid = self._kids.get(step)
        if kid is None:
            kid = self._kids[step] = _At(self, step)
        return kid

    @property
    def path(self) -> Path:
        steps: list[int | str] = []
        node: _At | None = self
        while node is not None and node.up is not None:
            assert node.step is not None
            steps.append(node.step)
            node = node.up
        return tuple(reversed(steps))


@dataclass(frozen=True)
class Witness:
    """A sub-diagram that forces part of the verdict, and where it sits."""

    kind: str  # "order", "class" or "coproduct" (a case split on the input)
    reason: str
    arrow: Arrow = field(repr=False)
    path: Path

    @property
    def where(self) -> str:
        """The named sub-diagrams (layers) enclosing the witness, outermost first."""
        return " > ".join(step for step in self.path if isinstance(step, str))

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}, in {self.where or 'the top level'}"


@dataclass(frozen=True)
class Analysis:
    """The report of ``analyze``. ``str`` prints it as a small table."""

    order: str
    cls: str
    lives_in: str
    degree: int | None
    witnesses: tuple[Witness, ...]

    def __str__(self) -> str:
        rows = [
            f"order     {self.order}",
            f"class     {self.cls}" + (f" (degree {self.degree})" if self.degree else ""),
            f"lives in  {self.lives_in}",
        ]
        rows += [f"witness   {w}" for w in self.witnesses]
        return "\n".join(rows)


# -- abstract values -------------------------------------------------------------------
#
# Every leaf carries ``ev``: the events (ids of class and order observations) its value
# was computed from. The verdict joins the events of the *output* only, so a box whose
# result is dropped by a projection or a ``discard`` does not count (dead code).


class _Ev:
    """A set of event ids, shared: a union is one node over its two parts (O(1)).

    Values downstream of a long chain carry every event upstream of them; copying
    those sets at every box was quadratic in the length of the chain. The set is
    read (``ids()``) only where the verdict needs it; equality and hashing read it
    too (cached per node), so values compare as the sets they stand for.
    """

    __slots__ = ("_ids", "_parents", "_set", "top")

    def __init__(self, ids: tuple[int, ...] = (), parents: tuple[_Ev, ...] = ()) -> None:
        self._ids = ids
        self._parents = parents
        self._set: frozenset[int] | None = None
        self.top: int = max((*ids, *(q.top for q in parents)), default=-1)  # the largest id

    def __or__(self, other: _Ev) -> _Ev:
        if not other or other is self:
            return self
        if not self:
            return other
        return _Ev((), (self, other))

    def __bool__(self) -> bool:
        return bool(self._ids or self._parents)

    def ids(self, since: int = 0) -> frozenset[int]:
        """The ids in the set (those ``>= since`` only, reading no older part)."""
        if self._set is not None and since == 0:
            return self._set
        out: set[int] = set()
        seen: set[int] = set()
        stack = [self]
        while stack:
            node = stack.pop()
            if id(node) in seen or node.top < since:
                continue
            seen.add(id(node))
            if node._set is not None and since == 0:
                out |= node._set
                continue
            out.update(node._ids)
            stack.extend(node._parents)
        result = frozenset(i for i in out if i >= since)
        if since == 0:
            self._set = result
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ev) and (other is self or self.ids() == other.ids())

    def __hash__(self) -> int:
        return hash(self.ids())

    def __repr__(self) -> str:
        return f"_Ev({sorted(self.ids())})"


_NONE = _Ev()


@dataclass(frozen=True)
class _Base:
    dep: bool
    deg: int | None  # degree in the input while polynomial; 0 for constants
    ev: _Ev = _NONE


@dataclass(frozen=True)
class _Closure:
    body: Arrow  # m: X * A -> B of a curry
    env: Any
    path: _At


@dataclass(frozen=True)
class _Choice:
    """A function that is one of ``options`` (closures or opaque), chosen by ``guard``."""

    options: tuple[Any, ...]
    guard: _Base


@dataclass(frozen=True)
class _Opaque:
    """A function of type ``typ`` not given by a ``curry`` (an input, a box's output)."""

    dep: bool
    ev: _Ev
    typ: Exp


@dataclass(frozen=True)
class _Tagged:
    tag: _Base
    left: Any
    right: Any


_CONST = _Base(False, 0)


class _Dead:
    """The value of the unused summand of an injection: no wire, no dependence."""

    def __repr__(self) -> str:
        return "_DEAD"


_DEAD = _Dead()


def _leaves(v: Any) -> Iterator[Any]:
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, tuple):
            stack.extend(x)
        elif isinstance(x, _Tagged):
            stack.extend((x.tag, x.left, x.right))
        elif isinstance(x, _Closure):
            stack.append(x.env)
        elif isinstance(x, _Choice):
            stack.extend((x.guard, *x.options))
        elif x is not _DEAD:
            yield x


def _depends(v: Any) -> bool:
    return any(leaf.dep for leaf in _leaves(v))


def _varies(v: Any) -> bool:
    """Whether ``v`` varies with the input other than piecewise constantly (as the summand
    it is in, and what is computed from that alone, does: degree 0)."""
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, tuple):
            stack.extend(x)
        elif isinstance(x, _Tagged):
            stack.extend((x.left, x.right))
        elif isinstance(x, _Closure):
            stack.append(x.env)
        elif isinstance(x, _Choice):
            stack.extend(x.options)
        elif isinstance(x, _Base) and x.dep and x.deg != 0:
            return True
        elif isinstance(x, _Opaque) and x.dep:
            return True
    return False


def _events(v: Any) -> _Ev:
    out = _NONE
    for leaf in _leaves(v):
        out |= leaf.ev
    return out


def _degree(v: Any) -> int | None:
    degs = [leaf.deg for leaf in _leaves(v) if isinstance(leaf, _Base)]
    if any(d is None for d in degs) or any(isinstance(x, _Opaque) and x.dep for x in _leaves(v)):
        return None
    return max((d for d in degs if d is not None), default=0)


def _fill(ob: Ob, leaf: _Base) -> Any:
    """An abstract value of type ``ob`` whose every wire is ``leaf``."""
    if isinstance(ob, Product):
        return (_fill(ob.left, leaf), _fill(ob.right, leaf))
    if isinstance(ob, Unit):
        return ()
    if isinstance(ob, Coproduct):
        tag = _Base(leaf.dep, 0, leaf.ev)  # which summand: locally constant
        return _Tagged(tag, _fill(ob.left, leaf), _fill(ob.right, leaf))
    if isinstance(ob, Exp):
        if leaf.dep and leaf.deg == 0:  # one of fixed functions, chosen piecewise
            return _Choice((_Opaque(False, _NONE, ob),), leaf)
        return _Opaque(leaf.dep, leaf.ev, ob)
    return leaf


def _has_labels(ob: Ob) -> bool:
    if isinstance(ob, Product):
        return _has_labels(ob.left) or _has_labels(ob.right)
    return isinstance(ob, Fin)


def _all_labels(ob: Ob) -> bool:
    """Every factor of ``ob`` a ``Fin`` (or ``One``): a finite set of points, no continuum."""
    if isinstance(ob, Product):
        return _all_labels(ob.left) and _all_labels(ob.right)
    return isinstance(ob, Fin | Unit)


def _labels(ob: Ob) -> str:
    if isinstance(ob, Product):
        return _labels(ob.left) if _has_labels(ob.left) else _labels(ob.right)
    assert isinstance(ob, Fin)
    return f"Fin({ob.n})"


def _fill_labels(ob: Ob, leaf: _Base, label: _Base) -> Any:
    """Like ``_fill``, with the ``Fin`` factors of a product filled by ``label``."""
    if isinstance(ob, Product):
        return (_fill_labels(ob.left, leaf, label), _fill_labels(ob.right, leaf, label))
    return label if isinstance(ob, Fin) else _fill(ob, leaf)


def _empty(ob: Ob) -> bool:
    """Provably empty: ``Zero``, a product with an empty factor, a sum of empty terms."""
    if isinstance(ob, Empty):
        return True
    if isinstance(ob, Product):
        return _empty(ob.left) or _empty(ob.right)
    if isinstance(ob, Coproduct):
        return _empty(ob.left) and _empty(ob.right)
    if isinstance(ob, Exp):
        return _empty(ob.base) and not _empty(ob.exponent)
    return False


def _guard(v: Any, tag: _Base) -> Any:
    """``v`` as computed under a case split on ``tag``: it also depends on the tag."""
    if (not tag.dep and not tag.ev) or v is _DEAD:
        return v
    if isinstance(v, tuple):
        return tuple(_guard(x, tag) for x in v)
    if isinstance(v, _Tagged):
        return _Tagged(_guard(v.tag, tag), _guard(v.left, tag), _guard(v.right, tag))
    if isinstance(v, _Base):
        deg = None if tag.dep and v.deg != 0 else v.deg
        return _Base(v.dep or tag.dep, deg, v.ev | tag.ev)
    if isinstance(v, _Opaque) and not v.dep:
        return _Choice((v,), tag)
    if isinstance(v, _Opaque):
        return _Opaque(True, v.ev | tag.ev, v.typ)
    if isinstance(v, _Closure):
        return _Choice((v,), tag)
    assert isinstance(v, _Choice)
    g = v.guard
    return _Choice(v.options, _Base(g.dep or tag.dep, None, g.ev | tag.ev))


def _options(v: Any) -> tuple[tuple[Any, ...], _Base]:
    if isinstance(v, (_Closure, _Opaque)):
        return (v,), _CONST
    assert isinstance(v, _Choice)
    return v.options, v.guard


def _join(a: Any, b: Any) -> Any:
    if a == b or b is _DEAD:
        return a
    if a is _DEAD:
        return b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return tuple(_join(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, _Tagged) and isinstance(b, _Tagged):
        return _Tagged(_join(a.tag, b.tag), _join(a.left, b.left), _join(a.right, b.right))
    if isinstance(a, _Base) and isinstance(b, _Base):
        deg = None if a.deg is None or b.deg is None else max(a.deg, b.deg)
        return _Base(a.dep or b.dep, deg, a.ev | b.ev)
    fns = (_Closure, _Choice, _Opaque)
    if isinstance(a, fns) and isinstance(b, fns) and not (_is_dep_opaque(a) or _is_dep_opaque(b)):
        (oa, ga), (ob_, gb) = _options(a), _options(b)
        options = tuple(dict.fromkeys((*oa, *ob_)))
        guard = _join(ga, gb)
        return _Choice(options, guard)
    typ = a.typ if isinstance(a, _Opaque) else b.typ
    return _Opaque(_depends(a) or _depends(b), _events(a) | _events(b), typ)


def _mark(v: Any, ids: _Ev) -> Any:
    """``v`` with ``ids`` added to the events of its every leaf."""
    if isinstance(v, tuple):
        return tuple(_mark(x, ids) for x in v)
    if isinstance(v, _Tagged):
        return _Tagged(_mark(v.tag, ids), _mark(v.left, ids), _mark(v.right, ids))
    if isinstance(v, _Base):
        return _Base(v.dep, v.deg, v.ev | ids)
    if isinstance(v, _Opaque):
        return _Opaque(v.dep, v.ev | ids, v.typ)
    if isinstance(v, _Closure):
        return _Closure(v.body, _mark(v.env, ids), v.path)
    if isinstance(v, _Choice):
        return _Choice(v.options, _mark(v.guard, ids))
    return v


def _exponent(fn: Any) -> Ob:
    """The argument type of a function value."""
    if isinstance(fn, _Closure):
        arg: Ob = fn.body.dom.right  # type: ignore[attr-defined]
        return arg
    if isinstance(fn, _Opaque):
        return fn.typ.exponent
    return _exponent(fn.options[0])


def _is_dep_opaque(v: Any) -> bool:
    return isinstance(v, _Opaque) and v.dep


def _diagonal(f: Box) -> bool:
    """Whether a bilinear box is *diagonal*: each output entry is the product of one
    entry of each factor (nothing summed) and one factor is the whole output, so
    fixing the other factor gives a diagonal map (a pointwise scaling).

    ``mul`` is diagonal unless both factors are broadcast; ``einsum`` when it sums over
    no axis and the axes of one operand contain those of the other; another bilinear box
    when it says ``diagonal=True``.
    """
    flag = f.attrs.get("diagonal")
    if isinstance(flag, bool):
        return flag
    dom = f.dom
    if f.name == "mul" and isinstance(dom, Product):
        shapes = [getattr(x, "shape", None) for x in (dom.left, dom.right)]
        out = getattr(f.cod, "shape", None)
        return out is None or out in shapes
    spec = f.attrs.get("spec")
    if f.name == "einsum" and isinstance(spec, str) and "->" in spec:
        ins, out = spec.split("->")
        a, _, b = ins.partition(",")
        sa, sb, so = (set(s.replace("...", "*")) for s in (a, b, out))
        return sa | sb == so and (sa <= sb or sb <= sa)
    return False


# -- the abstract interpreter -------------------------------------------------------------


class _Run:
    def __init__(self) -> None:
        self.root = _At(None, None)
        self.events: list[tuple[str, str, Arrow, _At, str]] = []  # (kind, level, f, at, why)
        self.ids: dict[tuple[str, str, _At, str], int] = {}
        # inside folds, innermost last: (the fold, its state's mark, its items' mark)
        self.folds: list[tuple[ar_.Recur, int, int]] = []

    def event(self, kind: str, level: str, f: Arrow, path: _At, reason: str) -> _Ev:
        """Record an observation (kind ``order``, ``class`` or ``unknown``); its id."""
        key = (kind, level, path, reason)
        if key not in self.ids:
            self.ids[key] = len(self.events)
            self.events.append((kind, level, f, path, reason))
        return _Ev((self.ids[key],))

    def witness(self, i: int) -> tuple[str, str, Witness]:
        """Event ``i`` as (kind, level, witness): its path written out only when reported."""
        kind, level, f, at, reason = self.events[i]
        shown = {"unknown": "class", "via": "order", "case": "coproduct"}.get(kind, kind)
        return kind, level, Witness(shown, reason, f, at.path)

    def force(self, v: Any, f: Arrow, path: _At, out_: bool = False) -> _Ev:
        """The events of ``v`` once every function in it is applied.

        A function that flows into a box may be applied by it: a function that varies
        with the input is applied to a fresh varying argument (a fixed one is a
        parameter of the box). A function that flows out of the diagram (``out_``) is
        judged by its transpose (``uncurry``): applied to a fresh varying argument.
        """
        out = _NONE
        stack = [v]
        while stack:
            x = stack.pop()
            if isinstance(x, tuple):
                stack.extend(x)
            elif isinstance(x, _Tagged):
                out |= x.tag.ev
                stack.extend((x.left, x.right))
            elif isinstance(x, _Base):
                out |= x.ev
            elif isinstance(x, (_Closure, _Choice, _Opaque)):
                varies = out_ or _varies(x)
                arg = _fill(_exponent(x), _Base(varies, int(varies)))
                out |= self.force(self.apply(x, arg, f, path), f, path, out_)
        return out

    def run(self, f: Arrow, x: Any, path: _At) -> Any:
        if x is _DEAD:
            return _DEAD
        if isinstance(f, ar_.Compose):
            for i, g in enumerate(f.children):
                x = self.run(g, x, path.at(i))
            return x
        method = getattr(self, "_" + type(f).__name__.lower(), None)
        if method is None:
            raise TypeError(f"analyze: unknown arrow constructor {type(f).__name__}")
        return method(f, x, path)

    # structure
    def _id(self, f: Arrow, x: Any, path: _At) -> Any:
        return x

    def _fst(self, f: Arrow, x: Any, path: _At) -> Any:
        return x[0]

    def _snd(self, f: Arrow, x: Any, path: _At) -> Any:
        return x[1]

    def _copy(self, f: Arrow, x: Any, path: _At) -> Any:
        return (x, x)

    def _discard(self, f: Arrow, x: Any, path: _At) -> Any:
        return ()

    def _swap(self, f: Arrow, x: Any, path: _At) -> Any:
        return (x[1], x[0])

    def _pair(self, f: ar_.Pair, x: Any, path: _At) -> Any:
        return (self.run(f.left, x, path.at(0)), self.run(f.right, x, path.at(1)))

    def _tensor(self, f: ar_.Tensor, x: Any, path: _At) -> Any:
        return (self.run(f.left, x[0], path.at(0)), self.run(f.right, x[1], path.at(1)))

    def _inl(self, f: Arrow, x: Any, path: _At) -> Any:
        assert isinstance(f.cod, Coproduct)
        return _Tagged(_CONST, x, _DEAD)

    def _inr(self, f: Arrow, x: Any, path: _At) -> Any:
        assert isinstance(f.cod, Coproduct)
        return _Tagged(_CONST, _DEAD, x)

    def _absurd(self, f: Arrow, x: Any, path: _At) -> Any:
        return _DEAD

    def _copair(self, f: ar_.Copair, x: Any, path: _At) -> Any:
        out = _join(self.run(f.left, x.left, path.at(0)), self.run(f.right, x.right, path.at(1)))
        return _guard(out, x.tag)

    def _sum(self, f: ar_.Sum, x: Any, path: _At) -> Any:
        left = self.run(f.left, x.left, path.at(0))
        right = self.run(f.right, x.right, path.at(1))
        return _Tagged(x.tag, left, right)

    def _logic(self, f: Arrow, x: Any, path: _At) -> Any:
        dep = _depends(x)
        return _fill(f.cod, _Base(dep, None if dep else 0, _events(x)))

    # closed structure: ev of a closure is beta reduction (the notation, not the map)
    def _curry(self, f: ar_.Curry, x: Any, path: _At) -> Any:
        return _Closure(f.arrow, x, path.at(0))

    def _ev(self, f: Arrow, x: Any, path: _At) -> Any:
        fn, arg = x
        before = len(self.events)
        out = self.apply(fn, arg, f, path)
        made = _events(out).ids(since=before)  # reads only what this application added
        new = [i for i in made if self.events[i][:2] == ("order", "higher")]
        if new and _varies(fn):  # name the ev too: the witness a reader looks for
            reason = "ev applies a function that depends on the input"
            out = _mark(out, self.event("via", "higher", f, path, reason))
        return out

    def apply(self, fn: Any, arg: Any, f: Arrow, path: _At) -> Any:
        """The value of ``fn`` at ``arg``; ``f`` and ``path`` locate the application."""
        if fn is _DEAD:
            return _DEAD
        if isinstance(fn, _Choice):
            out = _DEAD
            for option in fn.options:
                out = _join(out, self.apply(option, arg, f, path))
            return _guard(out, fn.guard)
        if isinstance(fn, _Closure):
            return self.run(fn.body, (fn.env, arg), fn.path)
        assert isinstance(fn, _Opaque)
        seen = fn.ev | self.force(arg, f, path)
        if fn.dep:
            seen |= self.event("order", "higher", f, path, "ev applies a function given as input")
        varies = fn.dep or _varies(arg)
        if varies:
            seen |= self.event("class", "smooth", f, path, "ev of an opaque function")
        return _fill(fn.typ.base, _Base(fn.dep or _depends(arg), None if varies else 0, seen))

    # named sub-diagrams, stacks of layers, constants
    def _group(self, f: ar_.Group, x: Any, path: _At) -> Any:
        return self.run(f.body, x, path.at(f.name))

    def _layer(self, f: ar_.Layer, x: Any, path: _At) -> Any:
        return _fill(f.cod, _Base(_depends(x), _degree(x), _events(x)))

    def _const(self, f: ar_.Const, x: Any, path: _At) -> Any:
        return _fill(f.cod, _CONST)

    # generators
    def _box(self, f: Box, x: Any, path: _At) -> Any:
        attrs = f.attrs
        if not _depends(x):
            return _fill(f.cod, _CONST)
        cls = attrs.get("cls") or declared(f.name)
        seen = self.force(x, f, path)
        if not _varies(x):  # a function of which case the input is in: locally constant
            return _guard(_fill(f.cod, _CONST), _Base(True, 0, seen))
        if cls is None or cls == "unknown":
            what = "undeclared" if cls is None else "unknown"
            seen |= self.event(
                "unknown", "smooth", f, path, f"{what} box {_show(f)} (counted smooth)"
            )
            cls = "smooth"
        if cls == "bilinear":
            return self._bilinear(f, x, path, seen)
        if cls != "linear":
            seen |= self.event("class", cls, f, path, f"{cls} box {f.name}")
        deg = (
            _degree(x)
            if cls == "linear"
            else (attrs.get("degree") if cls == "polynomial" else None)
        )
        if cls == "polynomial" and isinstance(deg, int):
            inner = _degree(x)
            deg = None if inner is None else deg * inner
        out = _Base(True, deg if isinstance(deg, int) else None, seen)
        if _has_labels(f.cod) and not _all_labels(f.dom):
            # labels made from a varying real input: which case of a split it is in (labels
            # made from labels are a map out of a finite set, already a copairing)
            reason = (
                f"{_show(f)} chooses a label of {_labels(f.cod)} by the input: a case split,"
                " the map is a coproduct of its pieces (piecewise)"
            )
            split = _Base(True, 0, seen | self.event("case", cls, f, path, reason))
            return _fill_labels(f.cod, out, split)
        return _fill(f.cod, out)

    def _bilinear(self, f: Box, x: Any, path: _At, seen: _Ev) -> Any:
        if not isinstance(f.dom, Product):
            raise TypeError(
                f"analyze: bilinear box {f.name} must have a product domain, got {f.dom}"
            )
        a, b = x
        da, db = _varies(a), _varies(b)
        ga, gb = _degree(a), _degree(b)
        if da and db:
            both = f"bilinear box {_show(f)} with both factors input-dependent"
            seen |= self.event("class", "polynomial", f, path, both)
            if _diagonal(f):
                reason = f"{_show(f)} applies an input-chosen diagonal map (a gating)"
                seen |= self.event("order", "diagonal", f, path, reason)
            else:
                reason = f"{_show(f)} applies an input-chosen linear map"
                seen |= self.event("order", "higher", f, path, reason)
            chosen = self._transition(a, b)
            if chosen is not None:  # names a higher verdict best; decides nothing itself
                reason = (
                    f"{_show(f)} applies a map chosen by the input to the state carried by"
                    f" {chosen}: over the sequence, an input-chosen linear map on earlier"
                    " items (as attention's)"
                )
                seen |= self.event("via", "higher", f, path, reason)
            deg = None if ga is None or gb is None else ga + gb
        elif _depends(b if da else a):  # the other factor is chosen piecewise: a PL map
            seen |= self.event("class", "pl", f, path, f"{_show(f)} by a piecewise constant factor")
            deg = None
        else:
            deg = ga if da else gb
        return _fill(f.cod, _Base(True, deg, seen))

    def _repeat(self, f: ar_.Repeat, x: Any, path: _At) -> Any:
        params, state = x
        layer = _fill(f.params, _Base(_depends(params), _degree(params), _events(params)))
        for _ in range(min(f.n, 4)):  # dependence is monotone: a few rounds reach the fixpoint
            new = self.run(f.body, (layer, state), path.at("body"))
            if new == state:
                break
            state = _join(state, new) if f.n > 1 else new
        return state

    def _transition(self, a: Any, b: Any) -> str | None:
        """The fold whose carried state one factor holds while the other varies with its items.

        A bilinear map of the state whose other factor depends on the items is the
        evaluation of a map the input chooses (a gate, a selective transition, an
        input-dependent readout); across the steps it applies an input-chosen linear
        map to earlier items, as attention does: higher order.
        """
        if not self.folds:
            return None
        fold, carried, items = self.folds[-1]
        ea, eb = _events(a).ids(), _events(b).ids()
        if (carried in ea and items in eb) or (carried in eb and items in ea):
            return short(fold, 40)
        return None

    def _recur(self, f: ar_.Recur, x: Any, path: _At) -> Any:
        params, (state, xs) = x
        carried = self.event("mark", "state", f, path, "the carried state")
        marked = self.event("mark", "item", f, path, "an item of the sequence")
        item = _fill(f.item, _Base(_depends(xs), _degree(xs), _events(xs) | marked))
        state = _with_mark(state, carried)
        self.folds.append((f, next(iter(carried.ids())), next(iter(marked.ids()))))
        ys: Any = _DEAD
        rounds = f.n if isinstance(f.n, int) else 4
        try:
            for _ in range(min(rounds, 4)):  # dependence is monotone: a few rounds suffice
                new, y = self.run(f.cell, (params, (state, item)), path.at("cell"))
                ys = _join(ys, y)
                new = _with_mark(new, carried)
                if new == state:
                    break
                state = _join(state, new) if rounds > 1 else new
        finally:
            self.folds.pop()
        out = f.cod.right if isinstance(f.cod, Product) else f.cod
        return state, _fill(out, _Base(_depends(ys), _degree(ys), _events(ys)))

    def _stack(self, f: ar_.Stack, x: Any, path: _At) -> Any:
        return _fill(f.cod, _Base(_depends(x), _degree(x), _events(x)))


def _with_mark(v: Any, mark: _Ev) -> Any:
    """``v`` with ``mark`` among the events of each of its plain leaves that vary."""
    if isinstance(v, tuple):
        return tuple(_with_mark(w, mark) for w in v)
    if isinstance(v, _Base) and v.dep:
        return _Base(v.dep, v.deg, v.ev | mark)
    return v


def _show(f: Box) -> str:
    spec, op = f.attrs.get("spec"), f.attrs.get("op")
    if isinstance(op, str):  # a foreign primitive (topos.nn.primitives.foreign)
        return f"{f.name} {op}"
    return f"{f.name} {spec!r}" if isinstance(spec, str) else f.name


def _input_value(f: Any) -> tuple[Arrow, Any, Ob]:
    """The arrow to analyse, its abstract input (parameters external, the rest input),
    and the type of the input proper."""
    if isinstance(f, Arrow):
        return f, _fill(f.dom, _Base(True, 1)), f.dom
    arrow, params = getattr(f, "arrow", None), getattr(f, "P", None)
    if not isinstance(arrow, Arrow) or not isinstance(params, Ob):
        raise TypeError(f"analyze: expected an arrow or a Para, got {type(f).__name__} {f!r}")
    dom = arrow.dom
    if isinstance(dom, Product) and dom.left == params:
        return arrow, (_fill(params, _CONST), _fill(dom.right, _Base(True, 1))), dom.right
    glob = getattr(getattr(f, "actegory", None), "E", None)  # Global(E): E * (P * A)
    rest = dom.right if isinstance(dom, Product) and dom.left == glob else None
    if isinstance(rest, Product) and rest.left == params:  # E is a global parameter
        assert isinstance(glob, Ob)
        inner = (_fill(params, _CONST), _fill(rest.right, _Base(True, 1)))
        return arrow, (_fill(glob, _CONST), inner), rest.right
    return arrow, _fill(dom, _Base(True, 1)), dom  # another actegory: everything is input


def analyze(f: Any) -> Analysis:
    """Analyse an arrow or a Para: order, class of maps, where it lives, witnesses.

    See the module docstring for the rules and examples.
    """
    run = _Run()

    def go() -> tuple[Any, _Ev] | None:
        arrow, x, dom = _input_value(f)  # builds values along the objects' nesting
        if _empty(dom):  # the map out of an empty type is unique: nothing to judge
            return None
        out = run.run(arrow, x, run.root)
        return out, run.force(out, arrow, run.root, out_=True)

    # The interpreter, and the input value, recurse along the nesting of pairs,
    # tensors and products (an unrolled Para nests one level per layer, and its
    # parameter object is a product as deep): deep diagrams get a deep enough stack.
    top = f if isinstance(f, Arrow) else getattr(f, "arrow", None)
    result = deep(go, top) if isinstance(top, Arrow) else go()
    if result is None:
        return Analysis("first", "linear", "PL pretopos", 0, ())
    out, live = result
    events = [(*run.events[i][:2], i) for i in sorted(live.ids())]  # (kind, level, id)
    order_levels = [lv for kind, lv, _ in events if kind == "order"]
    order = max(order_levels, key=ORDERS.index, default="first")
    class_levels = [lv for kind, lv, _ in events if kind in ("class", "unknown")]
    cls = max(class_levels, key=CLASSES.index, default="linear")
    if order == "higher":
        lives = "topos completion"
    elif order == "first" and CLASSES.index(cls) <= CLASSES.index("pl"):
        lives = "PL pretopos"
    else:
        lives = "smooth maps"
    degree = _degree(out) if cls in ("linear", "polynomial") else None
    # an ev through which the order is reached names it best; else the box itself
    via = [i for kind, _, i in events if kind == "via" and order == "higher"]
    chosen = (via or [i for kind, lv, i in events if kind == "order" and lv == order])[:1]
    chosen += [i for kind, lv, i in events if kind in ("class", "unknown") and lv == cls][:1]
    chosen += [i for kind, _, i in events if kind == "unknown" and i not in chosen]
    chosen += [i for kind, _, i in events if kind == "case"][:1]
    witnesses = [run.witness(i)[2] for i in chosen]  # paths written out for these only
    return Analysis(order, cls, lives, degree, tuple(dict.fromkeys(witnesses)))


def locate(f: Arrow, path: Path) -> Arrow:
    """The sub-diagram of ``f`` at ``path`` (as reported by a witness).

    Integer steps index ``children`` (a composite's flattened chain); a string step
    enters the body of a group (its name), of a ``Repeat`` (``"body"``) or the cell of
    a ``Recur`` (``"cell"``).

    >>> from topos import R, Box, pair
    >>> f, g = Box("f", R(1), R(1)), Box("g", R(1), R(1))
    >>> locate(f >> pair(f, g), (1, 1))
    Box('g', R(1), R(1))
    """
    node = f
    for step in path:
        if isinstance(step, int):
            node = node.children[step]
        elif isinstance(node, (ar_.Group, ar_.Repeat)):
            node = node.body
        elif isinstance(node, ar_.Recur):
            node = node.cell
        else:
            raise KeyError(f"locate: {short(node)} has no body to enter at step {step!r}")
    return node
