"""Normal forms of arrows, and ``equal(f, g)``: equality in the free structure.

An arrow ``f: A -> B`` is read as a term ``x0 : A ⊢ t : B`` of the simply typed
λ-calculus with products, unit, sums, the empty type and one constant per box,
and normalised by evaluation: the arrow is run on a symbolic input and the result
is read back (*reified*) at its type, η-long. Terms are hash-consed and locally
nameless (a finished λ refers to its variable by a de Bruijn index), so equal
normal forms are one object and ``equal`` is a pointer comparison after two
linear-time normalisations.

**Decided (complete).** The cartesian closed fragment, βη: products, ``One``
and exponentials, with boxes as uninterpreted constants (equal iff same name,
types and attributes, compared with ``==``):

>>> from topos.objects import R, One, Zero
>>> from topos.arrows import (Box, Id, pair, copair, curry, ev, fst, snd, inl, inr,
...     copy, discard, swap, absurd, uncurry)
>>> A, B, C, X = R(1), R(2), R(3), R(4)
>>> f, g, h = Box("f", A, B), Box("g", A, C), Box("h", X, B ** A)
>>> m = Box("m", X * A, B)
>>> assert equal(pair(f, g) >> fst(B, C), f)                  # β for products
>>> assert equal(pair(fst(A, B), snd(A, B)), Id(A * B))       # η for products
>>> assert equal(f >> discard(B), discard(A))                 # η for One
>>> assert equal(curry(m) * Id(A) >> ev(B, A), m)             # β for exponentials
>>> assert equal(curry((h * Id(A)) >> ev(B, A)), h)          # η for exponentials
>>> assert equal(curry(uncurry(h)), h)
>>> assert equal(copy(A) >> swap(A, A), copy(A))              # derived maps
>>> assert not equal(swap(A, A), Id(A * A))                   # soundness

**Coproducts.** β and η for ``copair``/``inl``/``inr`` (``Sum`` is its derived
form ``copair(f >> inl, g >> inr)``), and the commuting conversions of case
analysis. A case split on a term of sum type (the input, a λ- or case-bound
variable, or the output of a box or of a neutral function) is placed at the
outermost position where its variables are bound: above pairs, injections, box
applications and the λs that do not bind them. Below a split the term stays
decided (repeated splits merge); a split whose branches agree is dropped; the
splits of one scope come in a canonical order (a reduced ordered decision
diagram: by the nesting of the case variables they use, then a structural hash
blind to variable levels, then the levels).

**Empty types.** Anything out of an empty type (``Zero``, a product with an
empty factor, a sum of two empties, ``B ** A`` with ``B`` empty and ``A``
inhabited) equals anything else of its type: a λ or a case branch binding a
variable of empty type is ``⊥``. A term of type ``Zero`` that is computed (a
box or function into ``Zero``, applied) absorbs whatever is built from it; if
the result is read from it, its scope is ``⊥`` too, and a ``⊥`` branch next to
a branch that ignores its variable is dropped. One that is discarded changes
nothing, so β for products holds around it. A ``⊥`` keeps the levels of the
variables that make its context inconsistent, so it never leaves their scope:
under ``λx1`` with ``x1: Zero ** A``, the body is ``⊥``, but ``λx1. ⊥`` is an
ordinary value outside (``Zero ** (Zero ** A)`` has one element when ``A`` is
inhabited, and two boxes out of it differ). In a finished normal form all ⊥s are
one term (any two terms agree where the context is inconsistent):

>>> Y = Zero ** (Zero ** A)
>>> print(normal_form(Box("p", Y, B)))
x0 : Zero ** Zero ** R(1) ⊢ p(λx1. ⊥) : R(2)
>>> equal(Box("p", Y, B), Box("q", Y, B))
False

>>> k = Box("k", C, B)
>>> assert equal(inl(A, C) >> copair(f, k), f)                # β for sums
>>> assert equal(copair(inl(A, C), inr(A, C)), Id(A + C))     # η for sums
>>> u = Box("u", A + C, X)
>>> assert equal(copair(inl(A, C) >> u, inr(A, C) >> u), u)   # η, with a box
>>> assert equal(Box("p", Zero * A, B), Box("q", Zero * A, B))   # initial object
>>> assert not equal(inl(A, A), inr(A, A))

**Not decided** (``equal`` answers ``False`` where it could say ``True``; it
never says ``True`` wrongly). (1) Inconsistency the result does not read: a
context holding a term of an empty type equates all arrows out of it, but only
arrows whose result reads that term become ``⊥`` (``pair(z, f) >> snd`` equals
``f`` but not ``pair(z, g) >> snd`` for another ``g``), and a box into ``Zero``
that is never applied collapses nothing (a box ``One -> Zero`` collapses every
model). (2) ``⊥`` branches are used as "don't care" only next to a branch that
ignores its variable. (3) Equations needing case splits that neither side
performs, beyond the ones above (full βη with sums needs a search for them:
Lindley, *Extensional rewriting with sums*, TLCA 2007; Scherer, *Deciding
equivalence with sums and the empty type*, POPL 2017). (4) ``Logic`` maps
(``conj``, ``neg`` ...) are uninterpreted constants: no Heyting algebra laws.
(5) ``Fin(n)`` and ``Omega`` are base types, not identified with ``One + ...``.
The order of splits is total (ties in the hash fall back to the printed
term) and the same for all arrows compared in one process.

``normal_form(f)`` gives the canonical value (hashable; ``str`` prints it):

>>> print(normal_form(pair(f, g) >> swap(B, C)))
x0 : R(1) ⊢ ⟨g(x0), f(x0)⟩ : R(3) * R(2)
>>> print(normal_form(copair(f, k)))
x0 : R(1) + R(3) ⊢ case x0 of inl l0 ⇒ f(l0) | inr r0 ⇒ k(r0) : R(2)
>>> print(normal_form(curry(m)))
x0 : R(4) ⊢ λx1. m(⟨x0, x1⟩) : R(2) ** R(1)

Normalisation runs compose chains in a loop and recurses only along the
nesting of constructors and types, so a chain of 100,000 boxes normalises
without reaching Python's recursion limit.
"""

from __future__ import annotations

import contextvars
import functools
import sys
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar, final

from topos import arrows as _arrows
from topos.arrows import (
    Absurd,
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
    Inl,
    Inr,
    Layer,
    Logic,
    Pair,
    Recur,
    Repeat,
    Snd,
    Stack,
    Sum,
    Swap,
    Tensor,
    fold,
)
from topos.errors import not_a, short, too_many_layers
from topos.objects import Coproduct, Empty, Exp, Ob, Product, Unit

__all__ = ["NormalForm", "Term", "deep", "equal", "normal_form"]

T = TypeVar("T")

_LEFT: Final = 0
_RIGHT: Final = 1

# ---------------------------------------------------------------------------------
# Terms: hash-consed within one normalisation, so structural equality is identity there.


@final
class Term:
    """A node of a normal form: ``tag``, non-term ``data`` and sub-terms ``args``.

    ``tag`` says what the node is (``"var"``, ``"box"``, ``"pair"``, ``"lam"``,
    ``"case"`` ...), ``data`` holds its non-term data (a level, a ``Box``, an op).
    Terms are locally nameless: a finished ``λ`` refers to its variable by a de
    Bruijn index (``"bvar"``, the number of λs in between), and only variables
    still being bound are levels (``"var"``; ``x0`` is the input). So a sub-term
    is written the same at whatever depth it was computed. The variables bound
    by ``case n`` are ``"left"``/``"right"`` nodes holding ``n`` as seen from
    where they occur.

    ``key`` is a structural hash (stable within a process); ``shape`` the same
    hash blind to levels (it orders case splits); ``mask`` has bit ``k`` set
    when something bound at level ``k`` occurs free; ``rank`` is the nesting of
    the case variables it mentions. Terms built by one normaliser are interned
    (``equal`` compares pointers); ``==`` compares structure in general.

    >>> from topos.objects import R
    >>> from topos.arrows import Box
    >>> f = Box("f", R(1), R(1))
    >>> t = normal_form(f >> f).term
    >>> t.tag, t.data.name, t.args[0].tag
    ('box', 'f', 'box')
    >>> t == normal_form(f >> f).term != normal_form(f).term
    True
    """

    __slots__ = ("tag", "data", "args", "key", "shape", "mask", "rank")

    def __init__(
        self,
        tag: str,
        data: Any,
        args: tuple[Term, ...],
        hashes: tuple[int, int],
        mask: int,
        rank: int,
    ) -> None:
        # Fields are Final (checked by mypy): a term never changes once interned.
        self.tag: Final[str] = tag
        self.data: Final[Any] = data
        self.args: Final[tuple[Term, ...]] = args
        self.key: Final[int] = hashes[0]
        self.shape: Final[int] = hashes[1]
        self.mask: Final[int] = mask
        self.rank: Final[int] = rank

    @property
    def scope(self) -> int:
        """The innermost scope (λ depth) binding a variable free in this term."""
        return max(self.mask.bit_length() - 1, 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Term):
            return NotImplemented
        return _same(self, other)

    def __hash__(self) -> int:
        return self.key

    def __repr__(self) -> str:
        return f"<Term {_render(self)}>"

    def __str__(self) -> str:
        return _render(self)


def _same(a: Term, b: Term) -> bool:
    """Structural equality of two terms, iteratively (terms may be 100,000 deep)."""
    seen: set[tuple[int, int]] = set()
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is y or (id(x), id(y)) in seen:
            continue
        if x.key != y.key or x.tag != y.tag or len(x.args) != len(y.args) or x.data != y.data:
            return False
        seen.add((id(x), id(y)))
        stack.extend(zip(x.args, y.args, strict=True))
    return True


def _make(tag: str, data: Any, args: tuple[Term, ...]) -> Term:
    blind = None if tag in ("var", "bottom") else data  # levels do not shape a term
    if not args:
        key, shape, mask, rank = hash((tag, data)), hash((tag, blind)), 0, 0
    elif len(args) == 1:
        (a,) = args
        key, shape = hash((tag, data, a.key)), hash((tag, blind, a.shape))
        mask, rank = a.mask, a.rank
    else:
        key = hash((tag, data, *[a.key for a in args]))
        shape = hash((tag, blind, *[a.shape for a in args]))
        mask, rank = 0, 0
        for a in args:
            mask |= a.mask
            rank = max(rank, a.rank)
    if tag == "var":
        mask = 1 << data
    elif tag == "bottom":  # ⊥ holds where its inconsistent context is bound
        mask = data
    elif tag == "left" or tag == "right":
        mask, rank = 1 << args[0].scope, args[0].rank + 1
    return Term(tag, data, args, (key, shape), mask, rank)


UNIT: Final = _make("unit", None, ())
BOTTOM: Final = _make("bottom", 0, ())  # ⊥ in every context (nothing to depend on)


class _Table:
    """Hash-consing: the unique term with a given tag, data and (interned) sub-terms."""

    def __init__(self) -> None:
        self.terms: dict[tuple[Any, ...], Term] = {("unit", None): UNIT, ("bottom", 0): BOTTOM}

    def term(self, tag: str, data: Any, args: tuple[Term, ...] = ()) -> Term:
        index = (tag, data, *map(id, args))  # sub-terms are interned here and kept alive
        t = self.terms.get(index)
        if t is None:
            t = self.terms[index] = _make(tag, data, args)
        return t


def _side_tag(side: int) -> str:
    return "left" if side == _LEFT else "right"


def _precedes(a: Term, b: Term) -> bool:
    """The canonical order on case scrutinees: by rank, shape, then variable levels.

    Shifting the levels above some point (as box arguments are) keeps the order.
    """
    if a.rank != b.rank:
        return a.rank < b.rank
    if a.shape != b.shape:
        return a.shape < b.shape
    la, lb = _levels(a), _levels(b)
    if la != lb:
        return la < lb
    return _render(a) < _render(b)


def _levels(t: Term) -> list[int]:
    """The variable levels in ``t``, in reading order (shared sub-terms once)."""
    out: list[int] = []
    seen: set[int] = set()
    stack = [t]
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if x.tag == "var":
            out.append(x.data)
        stack.extend(reversed(x.args))
    return out


def _mentions(t: Term, n: Term, side: int) -> bool:
    """Whether the variable bound by side ``side`` of a case on ``n`` occurs in ``t``."""
    tag, bit, rank = _side_tag(side), 1 << n.scope, n.rank + 1
    seen: set[int] = set()
    stack = [t]
    while stack:
        x = stack.pop()
        if x.tag == tag and x.args[0] is n:
            return True
        if not x.mask & bit or x.rank < rank or id(x) in seen:
            continue
        seen.add(id(x))
        stack.extend(x.args)
    return False


# ---------------------------------------------------------------------------------
# Printing


def _render(t: Term) -> str:
    """The text of ``t``, streamed token by token (linear in the printed size).

    λs are named ``x1, x2 ...`` by depth (``x0`` is the input); the variables of
    the ``i``-th case met are ``l{i}`` and ``r{i}``.
    """
    out: list[str] = []
    binders: list[str] = []
    cases: list[tuple[Term, int, str, str]] = []  # scrutinee, λ depth there, side, name
    count = 0
    todo: list[str | Term | tuple[Any, ...]] = [t]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, tuple):  # entering or leaving a binder
            if item[0] == "bind":
                binders.append(item[1])
            elif item[0] == "case":
                cases.append((item[1], len(binders), item[2], item[3]))
            else:
                (binders if item[0] == "unbind" else cases).pop()
        elif item.tag == "lam":
            name = f"x{len(binders) + 1}"
            todo.extend([("unbind",), item.args[0], ("bind", name), f"λ{name}. "])
        elif item.tag == "case":
            n, left, right = item.args
            tokens: list[str | Term | tuple[Any, ...]] = ["case ", *_wrapped(n)]
            for tag, branch, name in (("left", left, f"l{count}"), ("right", right, f"r{count}")):
                tokens.append(f" of inl {name} ⇒ " if tag == "left" else f" | inr {name} ⇒ ")
                tokens.extend([("case", n, tag, name), *_wrapped(branch), ("uncase",)])
            count += 1
            todo.extend(reversed(tokens))
        elif item.tag == "bvar":
            i = item.data
            out.append(binders[-1 - i] if i < len(binders) else f"#{i}")
        elif item.tag in ("left", "right"):
            out.append(_case_var(item, cases, len(binders)))
        else:
            todo.extend(reversed(_tokens(item)))
    return "".join(out)


def _case_var(v: Term, cases: list[tuple[Term, int, str, str]], depth: int) -> str:
    for n, at, tag, name in reversed(cases):
        if tag == v.tag and _seen_as(v.args[0], n, depth - at):
            return name
    return f"{v.tag[0]}?"


def _seen_as(m: Term, n: Term, delta: int) -> bool:
    """Whether ``m`` is ``n`` seen from ``delta`` λs deeper (free indices shifted)."""
    if delta == 0:
        return m == n
    seen: set[tuple[int, int, int]] = set()
    stack = [(m, n, 0)]
    while stack:
        x, y, c = stack.pop()
        if (id(x), id(y), c) in seen:
            continue
        seen.add((id(x), id(y), c))
        if y.tag == "bvar" and y.data >= c:
            if x.tag != "bvar" or x.data != y.data + delta:
                return False
            continue
        if x.tag != y.tag or x.data != y.data or len(x.args) != len(y.args):
            return False
        inner = c + 1 if y.tag == "lam" else c
        stack.extend((a, b, inner) for a, b in zip(x.args, y.args, strict=True))
    return True


def _wrapped(t: Term) -> list[str | Term | tuple[Any, ...]]:
    return ["(", t, ")"] if t.tag in ("case", "lam") else [t]


_PREFIX: Final = {"inl": "inl", "inr": "inr", "fst": "π₁", "snd": "π₂"}


def _tokens(x: Term) -> list[str | Term | tuple[Any, ...]]:
    """How a node other than a binder or a variable prints: strings and sub-terms."""
    tag, args = x.tag, x.args
    if tag == "var":
        return [f"x{x.data}"]
    if tag == "unit":
        return ["()"]
    if tag == "bottom":
        return ["⊥"]
    if tag == "pair":
        return ["⟨", args[0], ", ", args[1], "⟩"]
    if tag in _PREFIX:
        return [f"{_PREFIX[tag]}(", args[0], ")"]
    arg: list[str | Term | tuple[Any, ...]] = ["()"] if args[-1] is UNIT else ["(", args[-1], ")"]
    if tag == "app":
        return [*_wrapped(args[0]), *arg]
    return [x.data.name if tag == "box" else x.data, *arg]


# ---------------------------------------------------------------------------------
# The normal form of an arrow


@final
class NormalForm:
    """The canonical value of an arrow ``dom -> cod``: ``x0 : dom ⊢ term : cod``.

    Two arrows are ``equal`` iff their normal forms are ``==``; normal forms are
    hashable, so they can key a dict of arrows up to equality.

    >>> from topos.objects import R
    >>> from topos.arrows import Box, pair, fst
    >>> f, g = Box("f", R(1), R(2)), Box("g", R(1), R(3))
    >>> normal_form(pair(f, g) >> fst(R(2), R(3))) == normal_form(f)
    True
    >>> len({normal_form(f), normal_form(pair(f, g) >> fst(R(2), R(3)))})
    1
    """

    __slots__ = ("dom", "cod", "term")
    dom: Ob
    cod: Ob
    term: Term

    def __init__(self, dom: Ob, cod: Ob, term: Term) -> None:
        object.__setattr__(self, "dom", dom)
        object.__setattr__(self, "cod", cod)
        object.__setattr__(self, "term", term)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("NormalForm is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NormalForm):
            return NotImplemented
        return self.dom == other.dom and self.cod == other.cod and self.term == other.term

    def __hash__(self) -> int:
        return hash((self.dom, self.cod, self.term.key))

    def __str__(self) -> str:
        return f"x0 : {self.dom!r} ⊢ {_render(self.term)} : {self.cod!r}"

    def __repr__(self) -> str:
        return f"<NormalForm {self}>"


def normal_form(f: Arrow) -> NormalForm:
    """The βη-normal form of ``f`` (see the module docstring for what it identifies).

    >>> from topos.objects import R
    >>> from topos.arrows import Box, copy, fst
    >>> f = Box("f", R(1), R(2))
    >>> print(normal_form(copy(R(1)) >> fst(R(1), R(1)) >> f))
    x0 : R(1) ⊢ f(x0) : R(2)
    """
    if not isinstance(f, Arrow):
        raise not_a("normal_form", "an arrow", f)
    return NormalForm(f.dom, f.cod, deep(lambda: _Normaliser(_Table()).run(f), f))


def _equal(f: Arrow, g: Arrow) -> bool:
    """Normal forms with repeats whole, then (if they differ) with repeats unrolled."""
    table = _Table()
    wholes: dict[int, _Whole] = {}
    for arrow in (f, g):
        _wholes(arrow, table, wholes)
    if wholes:  # equal bodies and counts make equal repeats: no unrolling needed
        if _Normaliser(table, wholes).run(f) is _Normaliser(table, wholes).run(g):
            return True
    return _Normaliser(table, what="equal").run(f) is _Normaliser(table, what="equal").run(g)


def _wholes(f: Arrow, table: _Table, out: dict[int, _Whole]) -> None:
    """Add to ``out`` a ``_Whole`` for each repeat in ``f``, inner repeats first."""

    def step(node: Arrow, _kids: list[None]) -> None:
        if isinstance(node, Repeat) and id(node) not in out:
            out[id(node)] = _Whole(node, _Normaliser(table, out).run(node.body))
        elif isinstance(node, Recur) and id(node) not in out:
            out[id(node)] = _Whole(node, _Normaliser(table, out).run(node.cell))

    fold(f, step)


@final
class _Whole:
    """A repeat (or a fold) taken whole: an uninterpreted constant named by its kind,
    count and the normal form of its body. Equal wholes stand for equal repeats
    (unrolling is a congruence)."""

    __slots__ = ("n", "body", "dom", "cod", "name", "_hash")

    def __init__(self, repeat: Repeat | Recur, body: Term) -> None:
        self.body, self.dom, self.cod = body, repeat.dom, repeat.cod
        self.n = (type(repeat).__name__, *repeat.head)
        self.name = short(repeat)
        self._hash = hash((self.n, body.key))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Whole):
            return NotImplemented
        return (self.n, self.dom, self.cod) == (other.n, other.dom, other.cod) and (
            self.body == other.body
        )

    def __hash__(self) -> int:
        return self._hash


def equal(f: Arrow, g: Arrow) -> bool:
    """Whether ``f`` and ``g`` are equal in the free structure (decided by normal forms).

    Sound always; complete for the cartesian closed fragment; see the module
    docstring for coproducts. Arrows of different types are never equal.

    >>> from topos.objects import R
    >>> from topos.arrows import Box, Id, curry, ev
    >>> A, B = R(3), R(4)
    >>> m = Box("m", R(2) * A, B)
    >>> equal(curry(m) * Id(A) >> ev(B, A), m)
    True
    >>> equal(m, Box("m", R(2) * A, B, kind="linear"))
    False
    """
    if not isinstance(f, Arrow):
        raise not_a("equal", "an arrow", f)
    if not isinstance(g, Arrow):
        raise not_a("equal", "an arrow", g)
    if f.dom != g.dom or f.cod != g.cod:
        return False
    if f == g:
        return True
    return deep(lambda: _equal(f, g), f, g)


# ---------------------------------------------------------------------------------
# Depth: the normaliser recurses once per λ it builds (reify -> lam -> region -> body),
# so an arrow with thousands of nested curries, or types with thousands of nested
# exponentials and sums, runs on a worker thread with a stack sized for it.

_FRAMES_PER_LEVEL: Final = 12  # Python frames per nested λ (reify, lam, region, ...)
_BYTES_PER_FRAME: Final = 4096  # C stack reserved per Python frame on the worker thread
_MAX_STACK: Final = 1 << 30


def deep(run: Callable[[], T], *arrows: Arrow, here: bool = False) -> T:
    """``run()``, on a thread with enough stack and recursion limit for ``arrows``.

    For algorithms that recurse along the nesting of a diagram (normalisation,
    the analysis, functors into nested objects): cheap for shallow diagrams.
    With ``here``, ``run()`` stays on the calling thread with the recursion limit
    raised (for work that must not change threads, such as tracing under a JAX
    transformation, whose state is per thread); the C stack of the calling
    thread then bounds how deep it can go.

    >>> from topos import R, Box
    >>> deep(lambda: 42, Box("f", R(1), R(1)))
    42
    """
    frames = _FRAMES_PER_LEVEL * max(_nesting(f) for f in arrows)
    limit = sys.getrecursionlimit()
    if frames < limit // 2:
        return run()
    if here:
        with _DEEP:
            sys.setrecursionlimit(limit + frames)
            try:
                return run()
            finally:
                sys.setrecursionlimit(limit)
    out: list[tuple[bool, Any]] = []

    def work() -> None:
        try:
            out.append((True, run()))
        except BaseException as e:  # re-raised on the caller's thread
            out.append((False, e))

    size = threading.stack_size()
    with _DEEP:  # the recursion limit is per process: one deep run at a time
        sys.setrecursionlimit(limit + frames)
        threading.stack_size(min(max(frames * _BYTES_PER_FRAME, 1 << 24), _MAX_STACK))
        try:
            context = contextvars.copy_context()  # the caller's context variables
            worker = threading.Thread(target=context.run, args=(work,), name="topos.normal (deep)")
            worker.start()
            worker.join()
        finally:
            threading.stack_size(size)
            sys.setrecursionlimit(limit)
    ok, value = out[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


_DEEP = threading.Lock()


@functools.lru_cache(maxsize=1024)  # arrows are immutable; callers ask per call
def _nesting(f: Arrow) -> int:
    """An upper bound on how many λs normalising ``f`` nests: constructors, and the
    exponentials and sums in the types of its nodes (products are walked in loops)."""
    depths: dict[Ob, int] = {}

    def ob_depth(x: Ob) -> int:
        stack = [x]
        while stack:
            y = stack[-1]
            if y in depths:
                stack.pop()
                continue
            parts = _parts(y)
            todo = [p for p in parts if p not in depths]
            if todo:
                stack += todo
                continue
            stack.pop()
            inner = max((depths[p] for p in parts), default=0)
            depths[y] = inner + (0 if isinstance(y, Product) else 1)
        return depths[x]

    def step(node: Arrow, kids: list[int]) -> int:
        own = max(ob_depth(node.dom), ob_depth(node.cod))
        return max(own, *kids, 0) + (0 if isinstance(node, Compose) else 1)

    return fold(f, step)


def _parts(x: Ob) -> tuple[Ob, ...]:
    if isinstance(x, Product | Coproduct):
        return (x.left, x.right)
    if isinstance(x, Exp):
        return (x.base, x.exponent)
    return ()


# ---------------------------------------------------------------------------------
# Types: emptiness (isomorphic to Zero in every model) and inhabitation.

_KNOWN: dict[Ob, tuple[bool, bool]] = {}  # ob -> (empty, inhabited)


def _empty(ob: Ob) -> bool:
    """Whether ``ob`` is isomorphic to ``Zero`` in every model."""
    return _classify(ob)[0]


def _classify(ob: Ob) -> tuple[bool, bool]:
    """(empty, inhabited) for ``ob``: iteratively, as types may be 10,000 deep."""
    hit = _KNOWN.get(ob)
    if hit is not None:
        return hit
    stack: list[tuple[Ob, bool]] = [(ob, False)]
    while stack:
        x, ready = stack.pop()
        if x in _KNOWN:
            continue
        parts = (x.left, x.right) if isinstance(x, Product | Coproduct) else ()
        if isinstance(x, Exp):
            parts = (x.base, x.exponent)
        if not ready and parts:
            stack.append((x, True))
            stack.extend((y, False) for y in parts if y not in _KNOWN)
            continue
        (e1, i1), (e2, i2) = [_KNOWN[y] for y in parts] or [(False, False)] * 2
        if isinstance(x, Product):
            _KNOWN[x] = (e1 or e2, i1 and i2)
        elif isinstance(x, Coproduct):
            _KNOWN[x] = (e1 and e2, i1 or i2)
        elif isinstance(x, Exp):  # base ** exponent
            _KNOWN[x] = (e1 and i2, i1 or e2)
        else:
            _KNOWN[x] = (isinstance(x, Empty), isinstance(x, Unit))
    return _KNOWN[ob]


_TERMINAL: dict[Ob, bool] = {}


def _terminal(ob: Ob) -> bool:
    """Whether ``ob`` is terminal in every model: ``One``, products of such, ``T ** A``.

    Every value of such a type is ``()``-shaped, so η gives it one normal form even
    where it was computed from ⊥.
    """
    hit = _TERMINAL.get(ob)
    if hit is not None:
        return hit
    stack: list[tuple[Ob, bool]] = [(ob, False)]
    while stack:
        x, ready = stack.pop()
        if x in _TERMINAL:
            continue
        parts: tuple[Ob, ...] = (x.left, x.right) if isinstance(x, Product) else ()
        if isinstance(x, Exp):
            parts = (x.base,)
        if not ready and parts:
            stack.append((x, True))
            stack.extend((y, False) for y in parts if y not in _TERMINAL)
            continue
        _TERMINAL[x] = isinstance(x, Unit) or (bool(parts) and all(_TERMINAL[y] for y in parts))
    return _TERMINAL[ob]


_BASE: dict[type, bool] = {}


def _is_base(ob: Ob) -> bool:
    """Whether ``ob`` is a generating object (``R``, ``Fin``, ``Omega`` ...): no structure."""
    kind = type(ob)
    hit = _BASE.get(kind)
    if hit is None:
        hit = _BASE[kind] = not issubclass(kind, Product | Unit | Coproduct | Empty | Exp)
    return hit


# ---------------------------------------------------------------------------------
# Semantic values. A value of type
#   One: ()      A * B: a 2-tuple      B ** A: a Python callable
#   A + B: _Inj or _SumNeu             R, Fin, Omega: a Term
# and any type: _Bot, what a term of type Zero computes (only in an inconsistent context).


@final
class _Inj:
    __slots__ = ("side", "value")

    def __init__(self, side: int, value: Any) -> None:
        self.side, self.value = side, value


@final
class _SumNeu:
    """A neutral term of sum type, split when it is first eliminated."""

    __slots__ = ("term", "ob")

    def __init__(self, term: Term, ob: Coproduct) -> None:
        self.term, self.ob = term, ob


@final
class _Bot:
    """The value of anything computed from a term ``term`` of type Zero.

    It absorbs projections, applications and case analysis; the scope of
    ``term`` becomes ⊥ only if the result is read back from it (so a discarded
    one does not spoil β for products).
    """

    __slots__ = ("term",)

    def __init__(self, term: Term) -> None:
        self.term = term

    def __getitem__(self, index: int) -> _Bot:
        return self

    def __call__(self, argument: Any) -> _Bot:
        return self


class _Split(Exception):
    """Raised to ask the enclosing scope for a case split on ``term`` (``ob=None``: Zero)."""

    def __init__(self, term: Term, ob: Coproduct | None) -> None:
        super().__init__()
        self.term, self.ob = term, ob


class _Bottom(Exception):
    """Raised when a variable of an empty type is bound at ``scope``."""

    def __init__(self, scope: int) -> None:
        super().__init__()
        self.scope = scope


_Thunk = Callable[[], Term]


class _Normaliser:
    """One normalisation: the current λ depth, the case decisions, per-run memos."""

    def __init__(
        self, table: _Table, wholes: dict[int, _Whole] | None = None, what: str = "normal_form"
    ) -> None:
        self.term = table.term
        self.wholes = wholes  # repeats taken whole, by id; None: unroll them
        self.what = what  # the operation, for a refusal to unroll
        self.layers = 0  # layers of repeats unrolled so far
        self.depth = 0
        self.decisions: dict[int, int] = {}  # id(scrutinee) -> side
        self.memo: dict[tuple[int, int], tuple[Arrow, Any, Any]] = {}
        self.chains: dict[int, tuple[Arrow, tuple[Arrow, ...]]] = {}
        self.unrolled: dict[int, tuple[Repeat | Recur, Arrow]] = {}
        self.joins: dict[tuple[Term, Term, Term], Term] = {}
        self.input_bottoms = False  # whether some ⊥ records the input x0

    def run(self, f: Arrow) -> Term:
        def body() -> Term:
            return self.reify(f.cod, self.eval(f, self.reflect_var(self.term("var", 0), f.dom)))

        out = self.region(body)
        return self.forget_bottoms(out) if self.input_bottoms else out

    def bottom(self, scope: int) -> Term:
        """⊥ in the context bound at the levels of ``scope`` (a mask)."""
        self.input_bottoms |= bool(scope & 1)
        return self.term("bottom", scope)

    def forget_bottoms(self, t: Term) -> Term:
        """``t`` with every ⊥ the same term (once all its λs are closed).

        A ⊥'s record of the variables that make its context inconsistent keeps it
        in their scope while the term is built. In the finished term any two ⊥s at
        the same position are equal (everything is, in an inconsistent context),
        so the record is dropped: ``Box("p", A + B, One) >> Box("q", One, Zero)``
        equals ``discard(A + B) >> Box("q", One, Zero)``. Case splits whose
        branches become one term merge.
        """
        done: dict[int, Term] = {}
        stack: list[tuple[Term, bool]] = [(t, False)]
        while stack:
            x, ready = stack.pop()
            if id(x) in done:
                continue
            if not x.mask & 1:
                done[id(x)] = x
            elif x.tag == "bottom":
                done[id(x)] = BOTTOM
            elif not ready:
                stack.append((x, True))
                stack.extend((a, False) for a in x.args)
            else:
                args = tuple(done[id(a)] for a in x.args)
                if x.tag == "case" and args[1] is args[2]:
                    done[id(x)] = args[1]
                else:
                    done[id(x)] = self.term(x.tag, x.data, args)
        return done[id(t)]

    # -- scopes: case splits by re-running the body under each decision ----------
    def region(self, body: _Thunk) -> Term:
        """Run ``body`` at the current depth, splitting on the sums it eliminates."""
        out: list[Term] = []
        # tasks: ("run", path, None) | ("leaf", (), term) | ("join", (), scrutinee)
        tasks: list[tuple[str, tuple[tuple[Term, int], ...], Term | None]] = [("run", (), None)]
        while tasks:
            kind, path, t = tasks.pop()
            if kind == "leaf":
                assert t is not None
                out.append(t)
                continue
            if kind == "join":
                assert t is not None
                right, left = out.pop(), out.pop()
                out.append(self.join(t, left, right))
                continue
            result = self.attempt(body, path)
            if isinstance(result, Term):
                out.append(result)
                continue
            n, ob = result.term, result.ob
            if ob is None:  # n: Zero is computed here, so this context is inconsistent
                out.append(self.bottom(n.mask))
                continue
            tasks.append(("join", (), n))
            for side, part in ((_RIGHT, ob.right), (_LEFT, ob.left)):
                if _empty(part):  # the branch binds an empty type: ⊥ where n is bound
                    tasks.append(("leaf", (), self.bottom(n.mask)))
                else:
                    tasks.append(("run", (*path, (n, side)), None))
        return out[0]

    def attempt(self, body: _Thunk, path: tuple[tuple[Term, int], ...]) -> Term | _Split:
        depth, memo = self.depth, self.memo
        for n, side in path:
            self.decisions[id(n)] = side
        self.memo = {}
        try:
            return body()
        except _Split as split:
            if split.term.scope < depth:
                raise
            return split
        except _Bottom as bottom:
            if bottom.scope < depth:
                raise
            return self.bottom(1 << bottom.scope)
        finally:
            for n, _ in path:
                del self.decisions[id(n)]
            self.depth, self.memo = depth, memo

    def join(self, n: Term, left: Term, right: Term) -> Term:
        """``case n of inl ⇒ left | inr ⇒ right``, reduced and in canonical order."""
        if left.tag == "bottom" and right.tag == "bottom":  # inconsistent where n is bound
            return self.bottom(left.data | right.data | n.mask)
        if left is right:
            return left
        if right.tag == "bottom" and not _mentions(left, n, _LEFT):
            return left
        if left.tag == "bottom" and not _mentions(right, n, _RIGHT):
            return right
        key = (n, left, right)
        hit = self.joins.get(key)
        if hit is not None:
            return hit
        top = n
        for t in (left, right):
            if t.tag == "case" and _precedes(t.args[0], top):
                top = t.args[0]
        if top is n:
            out = self.term("case", None, (n, left, right))
        else:  # a smaller test below: hoist it above n (it cannot mention n's variables)
            l1, l2 = _cofactors(left, top)
            r1, r2 = _cofactors(right, top)
            out = self.join(top, self.join(n, l1, r1), self.join(n, l2, r2))
        self.joins[key] = out
        return out

    # -- reflection and reification ---------------------------------------------
    def reflect(self, n: Term, ob: Ob) -> Any:
        """The value of a neutral term ``n: ob`` (η-expanded lazily)."""
        if _is_base(ob):
            return n
        if not isinstance(ob, Product):
            return self.reflect_one(n, ob)
        out: list[Any] = []  # a product tree may be deep: walk it with a stack
        todo: list[tuple[Term, Ob, bool]] = [(n, ob, False)]
        while todo:
            m, t, ready = todo.pop()
            if ready:
                right = out.pop()
                out.append((out.pop(), right))
            elif isinstance(t, Product):
                todo.append((m, t, True))
                todo.append((self.term("snd", None, (m,)), t.right, False))
                todo.append((self.term("fst", None, (m,)), t.left, False))
            else:
                out.append(m if _is_base(t) else self.reflect_one(m, t))
        return out[0]

    def reflect_one(self, n: Term, ob: Ob) -> Any:
        if isinstance(ob, Unit):
            return ()
        if isinstance(ob, Coproduct):
            return _SumNeu(n, ob)
        if isinstance(ob, Empty):
            return _Bot(n)
        assert isinstance(ob, Exp), ob
        base, exponent = ob.base, ob.exponent
        return lambda a: self.neutral("app", n, exponent, a, base)

    def reflect_var(self, v: Term, ob: Ob) -> Any:
        if _empty(ob):
            raise _Bottom(v.scope)
        return self.reflect(v, ob)

    def reify(self, ob: Ob, value: Any) -> Term:
        """The η-long normal term of a value of type ``ob``."""
        if isinstance(ob, Unit):  # η for One: even a value computed from ⊥ is ()
            return UNIT
        if type(value) is _Bot and not _terminal(ob):
            raise _Split(value.term, None)
        if _is_base(ob):
            assert isinstance(value, Term), value
            return value
        if not isinstance(ob, Product):
            return self.reify_one(ob, value)
        out: list[Term] = []  # a product tree may be deep: walk it with a stack
        todo: list[tuple[Ob, Any, bool]] = [(ob, value, False)]
        while todo:
            t, v, ready = todo.pop()
            if type(v) is _Bot and not _terminal(t):
                raise _Split(v.term, None)
            if ready:
                right = out.pop()
                out.append(self.term("pair", None, (out.pop(), right)))
            elif isinstance(t, Product):
                todo.append((t, v, True))
                todo.append((t.right, v[1], False))
                todo.append((t.left, v[0], False))
            else:
                out.append(v if _is_base(t) else self.reify_one(t, v))
        return out[0]

    def reify_one(self, ob: Ob, value: Any) -> Term:
        if isinstance(ob, Unit):
            return UNIT
        if isinstance(ob, Coproduct):
            side, x = self.case(value)
            part = ob.left if side == _LEFT else ob.right
            return self.term("inl" if side == _LEFT else "inr", None, (self.reify(part, x),))
        assert isinstance(ob, Exp), ob
        return self.lam(ob, value)

    def neutral(self, tag: str, data: Any, dom: Ob, value: Any, cod: Ob) -> Any:
        """The value of a box (or a neutral function) ``data: dom -> cod`` at ``value``."""
        try:
            argument = self.reify(dom, value)
        except _Split as split:
            if split.ob is not None:
                raise
            return _Bot(split.term)  # the box is strict in ⊥
        if tag == "app":
            return self.reflect(self.term(tag, None, (data, argument)), cod)
        return self.reflect(self.term(tag, data, (argument,)), cod)

    def lam(self, ob: Exp, fn: Callable[[Any], Any], *, chained: bool = False) -> Term:
        """The λ-term of a function value ``fn`` of type ``ob``, at level ``depth + 1``.

        A λ whose body is again a λ (``A ** B ** C ...``, what nested ``curry``
        builds) is *chained*: it is returned open (its variable still a level) and
        the outermost λ of the chain closes all of their variables in one walk. So
        ``n`` nested curries cost ``O(n)``, not ``O(n²)`` (one walk per λ, each along
        the path to its variable). A chained λ only ever sits directly in the region
        of the λ above it (possibly under case splits), never inside a neutral term,
        so the variable of level ``L`` is always ``L - level`` λs below the top.
        """
        level = self.depth + 1

        def body() -> Term:
            value = fn(self.reflect_var(self.term("var", level), ob.exponent))
            inner = ob.base
            if isinstance(inner, Exp) and type(value) is not _Bot:
                return self.lam(inner, value, chained=True)
            return self.reify(inner, value)

        self.depth = level
        try:
            result = self.region(body)
        finally:
            self.depth = level - 1
        return self.term("lam", None, (result if chained else self.close(result, level),))

    def close(self, body: Term, level: int) -> Term:
        """``body`` with the variables of ``level`` and above made de Bruijn indices.

        Iterative (bodies may be 100,000 deep), memoised per node and λ count, and
        touching only nodes that mention such a variable. The levels above ``level``
        are those of the λs chained below it (see ``lam``): the λ of level ``L`` is
        ``L - level`` λs down, so a variable of level ``L`` met under ``k`` λs is the
        index ``k - (L - level)``. Case splits whose branches become the same term
        (they differed only in the ⊥s' record of now-bound variables) merge.
        """
        bits = ~((1 << level) - 1)
        done: dict[tuple[int, int], Term] = {}
        stack: list[tuple[Term, int, bool]] = [(body, 0, False)]
        while stack:
            x, k, ready = stack.pop()
            key = (id(x), k)
            if key in done:
                continue
            if not x.mask & bits:
                done[key] = x
            elif x.tag == "var":
                done[key] = self.term("bvar", k - (x.data - level))
            elif x.tag == "bottom":  # inside the λ, the bound variable is no dependency
                done[key] = self.bottom(x.data & ~bits)
            elif not ready:
                inner = k + 1 if x.tag == "lam" else k
                stack.append((x, k, True))
                stack.extend((a, inner, False) for a in x.args)
            else:
                inner = k + 1 if x.tag == "lam" else k
                args = tuple(done[id(a), inner] for a in x.args)
                if x.tag == "case" and args[1] is args[2]:
                    done[key] = args[1]
                else:
                    done[key] = self.term(x.tag, x.data, args)
        return done[id(body), 0]

    def case(self, value: Any) -> tuple[int, Any]:
        """Which side a value of sum type is on, splitting a neutral if undecided."""
        if isinstance(value, _Inj):
            return value.side, value.value
        n, ob = value.term, value.ob
        side = self.decisions.get(id(n))
        if side is None:
            raise _Split(n, ob)
        return side, self.reflect(
            self.term(_side_tag(side), None, (n,)), ob.left if side == _LEFT else ob.right
        )

    # -- evaluation ---------------------------------------------------------------
    def eval(self, f: Arrow, x: Any) -> Any:
        """The value of ``f`` at ``x``.

        A stack machine: nesting of compositions, pairs and tensors (a Para of
        thousands of layers) costs no Python recursion. Composites are memoised
        per run, so a sub-arrow shared in the diagram is evaluated once per value.
        """
        out: list[Any] = []
        todo: list[tuple[Any, ...]] = [(_RUN, f, x)]
        memo = self.memo
        while todo:
            task = todo.pop()
            op = task[0]
            if op is _RUN:
                _, g, v = task
                kind = type(g)
                rule = _LEAF.get(kind)
                if rule is not None:
                    out.append(rule(self, g, v))
                    continue
                if kind not in _COMPOSITE:
                    out.append(self.leaf(g, v))
                    continue
                hit = memo.get((id(g), id(v)))
                if hit is not None:
                    out.append(hit[2])
                    continue
                todo.append((_KEEP, g, v))
                self.expand(g, v, todo, out)
            elif op is _KEEP:  # the value of a composite: remember it
                _, g, v = task
                memo[id(g), id(v)] = (g, v, out[-1])
            elif op is _THEN:  # the next link of a chain, on the last value
                _, links, i = task
                if i < len(links):
                    todo.append((_THEN, links, i + 1))
                    todo.append((_RUN, links[i], out.pop()))
            elif op is _PAIR:
                right = out.pop()
                out.append((out.pop(), right))
            else:  # _WRAP: the injection of a Sum
                out.append(_Inj(task[1], out.pop()))
        return out[0]

    def expand(self, g: Arrow, v: Any, todo: list[tuple[Any, ...]], out: list[Any]) -> None:
        """Schedule the parts of a composite ``g`` at ``v``."""
        if isinstance(g, Compose):
            links = self.chains.get(id(g))
            if links is None:
                links = self.chains[id(g)] = (g, g.children)
            todo.append((_THEN, links[1], 1))
            todo.append((_RUN, links[1][0], v))
        elif isinstance(g, Group):  # a named sub-diagram is its body
            todo.append((_RUN, g.body, v))
        elif isinstance(g, (Repeat, Recur)):  # a stack of layers, a fold: its unrolling
            self.repeat(g, v, todo, out)
        elif isinstance(g, Pair):
            todo.extend([(_PAIR,), (_RUN, g.right, v), (_RUN, g.left, v)])
        elif isinstance(g, Tensor):
            todo.extend([(_PAIR,), (_RUN, g.right, v[1]), (_RUN, g.left, v[0])])
        elif isinstance(g, Copair | Sum):
            if type(v) is _Bot:
                out.append(v)
                return
            side, y = self.case(v)
            if isinstance(g, Sum):
                todo.append((_WRAP, side))
            todo.append((_RUN, g.left if side == _LEFT else g.right, y))
        else:
            assert isinstance(g, Curry)
            m = g.arrow
            out.append(lambda a: self.eval(m, (v, a)))

    def repeat(
        self, g: Repeat | Recur, v: Any, todo: list[tuple[Any, ...]], out: list[Any]
    ) -> None:
        """Schedule a repeat (or fold) at ``v``: whole (a constant), or unrolled (to a limit)."""
        if self.wholes is not None:
            out.append(self.neutral("box", self.wholes[id(g)], g.dom, v, g.cod))
            return
        if not isinstance(g.n, int):  # a fold over a Dim: refused by unroll, naming it
            g.unroll()
        assert isinstance(g.n, int)
        self.layers += g.n  # counted at each use: a repeat inside a repeat unrolls n * m
        limit = _arrows.MAX_UNROLLED_LAYERS
        if self.layers > limit:
            raise too_many_layers(self.what, self.layers, limit)
        unrolled = self.unrolled.get(id(g))
        if unrolled is None:
            unrolled = self.unrolled[id(g)] = (g, g.unroll())
        todo.append((_RUN, unrolled[1], v))

    def leaf(self, g: Arrow, v: Any) -> Any:
        if isinstance(g, Box):
            return self.neutral("box", g, g.dom, v, g.cod)
        raise TypeError(
            f"normal_form: cannot normalise arrows of type {type(g).__name__}"
            " (not a constructor of topos.arrows)"
        )


# Tasks of the evaluation machine.
_RUN, _KEEP, _THEN, _PAIR, _WRAP = "run", "keep", "then", "pair", "wrap"
_COMPOSITE: Final = frozenset({Compose, Pair, Tensor, Copair, Sum, Curry, Group, Repeat, Recur})

# How each non-composite constructor acts on values.
_LEAF: Final[dict[type, Callable[[_Normaliser, Any, Any], Any]]] = {
    Box: lambda nz, f, x: nz.neutral("box", f, f.dom, x, f.cod),
    Logic: lambda nz, f, x: nz.neutral("logic", f.op, f.dom, x, f.cod),
    Const: lambda nz, f, x: nz.neutral("box", f, f.dom, x, f.cod),
    Layer: lambda nz, f, x: _slice(nz, f, x),
    Stack: lambda nz, f, x: _stack(nz, f, x),
    Id: lambda nz, f, x: x,
    Fst: lambda nz, f, x: x[0],
    Snd: lambda nz, f, x: x[1],
    Copy: lambda nz, f, x: (x, x),
    Swap: lambda nz, f, x: (x[1], x[0]),
    Discard: lambda nz, f, x: (),
    Inl: lambda nz, f, x: _Inj(_LEFT, x),
    Inr: lambda nz, f, x: _Inj(_RIGHT, x),
    Absurd: lambda nz, f, x: x,  # a value of type Zero is a _Bot
    Ev: lambda nz, f, x: x[0](x[1]),
}


def _head_box(t: Term) -> Term:
    """The box term under the η-expansion of a product value: ``⟨fst(b), ...⟩`` gives ``b``."""
    while t.tag == "pair":
        t = t.args[0]
    while t.tag == "fst":
        t = t.args[0]
    return t


def _value_of(t: Term, ob: Ob) -> Any:
    """The value of a normal term ``t`` of ``ob`` (leaves ``R``/``One``): pairs become tuples."""
    if isinstance(ob, Product):
        return (_value_of(t.args[0], ob.left), _value_of(t.args[1], ob.right))
    if isinstance(ob, Unit):
        return ()
    return t


def _slice(nz: _Normaliser, f: Layer, x: Any) -> Any:
    """β for sequences: slice ``i`` of ``Stack(y0, ..., yn-1)`` is ``yi``."""
    try:
        t = nz.reify(f.dom, x)
    except _Split:
        return nz.neutral("box", f, f.dom, x, f.cod)
    b = _head_box(t)
    s = b.data
    if b.tag == "box" and isinstance(s, Stack) and (s.ob, s.n) == (f.ob, f.n):
        if nz.reify(f.dom, nz.reflect(b, f.dom)) is t:
            items = b.args[0]
            for _ in range(f.n - 1 - f.index):
                items = items.args[0]
            item = items if f.index == 0 else items.args[1]
            return _value_of(item, f.ob)
    return nz.neutral("box", f, f.dom, x, f.cod)


def _stack(nz: _Normaliser, f: Stack, x: Any) -> Any:
    """η for sequences: ``Stack(slice 0, ..., slice n-1)`` of one sequence is that sequence."""
    items: list[Any] = []
    for _ in range(f.n - 1):
        items.append(x[1])
        x = x[0]
    items.append(x)
    items.reverse()
    try:
        first = _head_box(nz.reify(f.ob, items[0]))
        seq = first.args[0] if first.tag == "box" and first.data == Layer(f.ob, f.n, 0) else None
        if seq is not None:
            for i, item in enumerate(items):
                want = nz.reflect(nz.term("box", Layer(f.ob, f.n, i), (seq,)), f.ob)
                if nz.reify(f.ob, item) is not nz.reify(f.ob, want):
                    break
            else:
                return _value_of(seq, f.cod)
    except _Split:
        pass
    out = items[0]
    for item in items[1:]:
        out = (out, item)
    return nz.neutral("box", f, f.dom, out, f.cod)


def _cofactors(t: Term, n: Term) -> tuple[Term, Term]:
    """The two branches of ``t`` for the test ``n`` (``t`` itself if ``n`` is not its top)."""
    if t.tag == "case" and t.args[0] is n:
        return t.args[1], t.args[2]
    return t, t
