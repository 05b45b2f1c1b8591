"""The equational theory of the tensor primitives, declared once, as data.

A ``Law`` is an equation between two patterns of a small term language: the
*tensor expressions* that ``topos.rewrite`` reads out of a diagram. Its operations
are the primitives of ``topos.nn`` seen as algebra on 2-D arrays (others keep
any shape):

==============  =======================================  ==========================
operation       meaning                                  box it stands for
==============  =======================================  ==========================
``(MM a b)``    matrix product ``a b``                   ``einsum`` of two matrices
``(Tr a)``      transpose ``aᵀ``                         ``transpose(x, (1, 0))``
``(Add a b)``   ``a + b`` (same shape)                   ``add``
``(Scale x a)`` ``x · a`` for a number ``x``             ``scale``
``(Mul a b)``   ``a ⊙ b`` (same shape)                   ``mul``
``(Exp a)``     ``e^a`` elementwise                      ``exp``
``(SumRows a)`` ``1ᵀ a``, shape ``(1, n)``               ``reduce_sum(x, 0, keepdims=True)``
``(SumCols a)`` ``a 1``, shape ``(m, 1)``                ``reduce_sum(x, 1, keepdims=True)``
``(Bcast n c)`` ``c 1ᵀ``: a column repeated ``n`` times  ``broadcast(R(m, 1), m, n)``
``(Softmax a)`` softmax along the last axis              ``softmax(x, -1)``
==============  =======================================  ==========================

``MM`` and ``Tr`` also act on arrays with the same leading *batch* axes, one
product per batch entry: an einsum whose labels are ``k`` shared leading batch
labels then a matrix product (``"bhsd,bhtd->bhst"``), and a transpose of the last
two axes. ``Add``, ``Scale``, ``Mul`` and ``Exp`` take any shape; the other
operations are 2-D only. A law declared with ``batch=True`` holds with batch
axes (``LINEAR_ALGEBRA["mm-assoc"].batch``), and only such laws can match a
batched term. Every other box is an opaque constant. The cartesian structure (copy, discard,
pairs, projections, ``curry``/``ev``) is not in the term language: reading a
diagram as a term *is* the structural theory that ``topos.equal`` decides, so
common subexpressions are shared (naturality of copy, ``f ; Δ = Δ ; f * f``)
and dead code disappears (naturality of discard, ``f ; ! = !``).

The theory is data: each law has a name, two sides, the shapes of its
variables, says whether it changes floating-point rounding, and declares its
*side condition* in IEEE arithmetic: where the two sides may differ beyond
rounding. Most laws hold for finite entries only (``FINITE``): with an inf or
NaN entry, or past an overflow, the two sides may put NaN and inf in different
places, and a zero result may change sign. A law with no side condition (``""``:
transposes, commutativity) holds for every float, inf, NaN and ``-0.0``
included. Numbers in ``Scale`` are a side condition of their own, enforced
rather than assumed: only finite, non-zero numbers normal in the array's dtype
(``scalar_ok``) are read as ``Scale`` and accepted in a rewrite, since scaling
by inf, NaN or zero does not commute with sums and products, and a product of
two numbers that under- or overflows is not their composite:

>>> law = LINEAR_ALGEBRA["mm-assoc"]
>>> print(law)
mm-assoc: (MM (MM a b) c) = (MM a (MM b c))
>>> law.shapes["b"], law.rounding, law.batch
(('k', 'l'), True, True)
>>> LINEAR_ALGEBRA["softmax-shift"].batch
False
>>> LINEAR_ALGEBRA["tr-involution"].rounding, LINEAR_ALGEBRA["tr-involution"].side
(False, '')
>>> LINEAR_ALGEBRA["mm-assoc"].side == FINITE
True
>>> scalar_ok(2.0, "float32"), scalar_ok(float("inf"), "float32"), scalar_ok(1e-60, "float32")
(True, False, False)
>>> sorted(LINEAR_ALGEBRA.names())[:3]
['add-assoc', 'add-comm', 'copy-natural']
>>> parse("(MM a (Tr b))")
('MM', 'a', ('Tr', 'b'))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeAlias, TypeGuard

__all__ = [
    "FINITE",
    "LINEAR_ALGEBRA",
    "OPS",
    "Law",
    "Pattern",
    "Theory",
    "parse",
    "scalar_ok",
    "show",
]

#: A pattern: a variable name, a number, or ``(op, *args)``.
Pattern: TypeAlias = "str | float | tuple[Pattern, ...]"

#: The operations of the term language and their arities (a number counts as an argument).
OPS: dict[str, int] = {
    "MM": 2,
    "Tr": 1,
    "Add": 2,
    "Scale": 2,
    "Mul": 2,
    "Exp": 1,
    "SumRows": 1,
    "SumCols": 1,
    "Bcast": 2,
    "Softmax": 1,
    "*": 2,  # the product of two numbers, in scalar positions only
}


#: The side condition of a law that holds in floating point for finite values only.
FINITE = (
    "finite entries, nothing overflows or underflows (with inf or NaN entries the sides"
    " may put NaN and inf in different places, and a zero may change sign)"
)

#: The least normal and the largest finite magnitude of each float dtype.
_NORMAL: dict[str, tuple[float, float]] = {
    "float16": (2.0**-14, 65504.0),
    "bfloat16": (2.0**-126, 3.3895313892515355e38),
    "float32": (2.0**-126, 3.4028234663852886e38),
    "float64": (2.0**-1022, 1.7976931348623157e308),
}


def scalar_ok(x: object, dtype: str) -> TypeGuard[float]:
    """Whether ``x`` may be the number of a ``Scale`` on arrays of ``dtype``.

    A real number (not a bool), finite, non-zero, and normal in ``dtype``: the
    numbers for which the laws over ``Scale`` hold (up to rounding) on finite
    entries. Scaling by inf or NaN turns zeros into NaN on one side of
    ``scale-mm-left`` and not the other; by zero, the sign of zero and the NaN of
    ``0 · inf`` move; a number below the normal range of ``dtype`` is zero there.

    >>> scalar_ok(0.5, "float16"), scalar_ok(-0.0, "float64"), scalar_ok(True, "float32")
    (True, False, False)
    """
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    low, high = _NORMAL.get(dtype, _NORMAL["float16"])  # an unknown dtype: the narrowest
    return low <= abs(x) <= high


def parse(text: str) -> Pattern:
    """The pattern written as an s-expression.

    >>> parse("(Scale (* x y) a)")
    ('Scale', ('*', 'x', 'y'), 'a')
    """
    tokens = text.replace("(", " ( ").replace(")", " ) ").split()
    stack: list[list[Pattern]] = [[]]
    for tok in tokens:
        if tok == "(":
            stack.append([])
        elif tok == ")":
            done = tuple(stack.pop())
            if not done or done[0] not in OPS or len(done) != OPS[str(done[0])] + 1:
                raise ValueError(f"parse: bad application {show(done)} in {text!r}")
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError(f"parse: unbalanced pattern {text!r}")
    return stack[0][0]


def show(p: Pattern) -> str:
    """The s-expression of a pattern (the inverse of ``parse``)."""
    if isinstance(p, tuple):
        return "(" + " ".join(show(x) for x in p) + ")"
    return str(p)


@dataclass(frozen=True)
class Law:
    """An equation ``lhs = rhs`` over the term language, with the shapes of its variables.

    ``shapes`` gives each array variable its axes as symbolic sizes; a variable
    absent from ``shapes`` is a number. ``rounding`` is ``True`` when the two
    sides are equal as real functions but may round differently in floating
    point (a reassociated sum, say). ``saturate`` says in which directions
    ``optimize`` runs the law: ``"both"``, ``"forward"`` (left to right),
    ``"backward"`` (right to left: the factoring direction of a distributive
    law, which shrinks terms; expanding ones would blow the e-graph up) or
    ``"none"`` (declared, used by the normal forms, not saturated). ``batch`` says
    that the law also holds when every array variable carries the same leading
    *batch* axes, ``MM`` and ``Tr`` acting on the last two (the reading of an
    einsum with batch labels, ``"bhsd,bhtd->bhst"``); a law over the 2-D-only
    operations (``SumRows``, ``SumCols``, ``Bcast``, ``Softmax``) is not. Laws outside
    the tensor term language (``kind="structural"``) are decided by
    ``topos.equal`` and hold by construction of the terms; ``kind="fold"``
    (``softmax-fold``) rewrites boxes of ``topos.nn.self_attention`` into a fold
    over key blocks, certified by ``topos.rewrite.fold.certify`` (its sides are
    notation, not parsed patterns). ``side`` is the
    condition under which the two sides agree in IEEE floating point (up to
    rounding when ``rounding``): ``""`` for every input, inf, NaN and signed
    zeros included; by default ``FINITE`` for a law that changes rounding and
    ``""`` for one that does not.
    """

    name: str
    lhs: str
    rhs: str
    shapes: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    rounding: bool = True
    saturate: str = "both"
    kind: str = "tensor"
    doc: str = ""
    batch: bool = False
    side: str | None = None

    def __post_init__(self) -> None:
        if self.side is None:
            object.__setattr__(self, "side", FINITE if self.rounding else "")

    def __str__(self) -> str:
        return f"{self.name}: {self.lhs} = {self.rhs}"

    @property
    def sides(self) -> tuple[Pattern, Pattern]:
        """Both sides, parsed."""
        return parse(self.lhs), parse(self.rhs)


@dataclass(frozen=True)
class Theory:
    """A named set of laws; ``theory[name]`` is one law.

    >>> len(LINEAR_ALGEBRA) > 15
    True
    """

    name: str
    laws: tuple[Law, ...]

    def __getitem__(self, name: str) -> Law:
        for law in self.laws:
            if law.name == name:
                return law
        raise KeyError(f"{self.name}: no law named {name!r}")

    def __iter__(self) -> Iterator[Law]:
        return iter(self.laws)

    def __len__(self) -> int:
        return len(self.laws)

    def names(self) -> list[str]:
        """The names of the laws, in declaration order."""
        return [law.name for law in self.laws]

    def tensor_laws(self) -> list[Law]:
        """The laws over the tensor term language (the ones ``optimize`` may run)."""
        return [law for law in self.laws if law.kind == "tensor"]


_MK, _KL, _LN = ("m", "k"), ("k", "l"), ("l", "n")
_M = ("m", "n")

LINEAR_ALGEBRA = Theory(
    "linear algebra",
    (
        # -- matrix products: associativity (contraction order), transposes ----
        Law(
            "mm-assoc",
            "(MM (MM a b) c)",
            "(MM a (MM b c))",
            {"a": _MK, "b": _KL, "c": _LN},
            doc="matrix products associate: the contraction order is free",
            batch=True,
        ),
        Law(
            "tr-involution",
            "(Tr (Tr a))",
            "a",
            {"a": _M},
            rounding=False,
            saturate="forward",
            batch=True,
        ),
        Law(
            "tr-mm",
            "(Tr (MM a b))",
            "(MM (Tr b) (Tr a))",
            {"a": _MK, "b": ("k", "n")},
            rounding=False,
            batch=True,
        ),
        Law(
            "tr-add",
            "(Tr (Add a b))",
            "(Add (Tr a) (Tr b))",
            {"a": _M, "b": _M},
            rounding=False,
            saturate="backward",
            batch=True,
        ),
        Law(
            "tr-scale",
            "(Tr (Scale x a))",
            "(Scale x (Tr a))",
            {"a": _M},
            rounding=False,
            batch=True,
        ),
        # -- distributivity of products over sums ------------------------------
        Law(
            "mm-add-left",
            "(MM (Add a b) c)",
            "(Add (MM a c) (MM b c))",
            {"a": _MK, "b": _MK, "c": ("k", "n")},
            saturate="backward",
            batch=True,
        ),
        Law(
            "mm-add-right",
            "(MM a (Add b c))",
            "(Add (MM a b) (MM a c))",
            {"a": _MK, "b": ("k", "n"), "c": ("k", "n")},
            saturate="backward",
            batch=True,
        ),
        # -- scalars commute with everything linear ----------------------------
        Law(
            "scale-mm-left",
            "(Scale x (MM a b))",
            "(MM (Scale x a) b)",
            {"a": _MK, "b": ("k", "n")},
            batch=True,
        ),
        Law(
            "scale-mm-right",
            "(Scale x (MM a b))",
            "(MM a (Scale x b))",
            {"a": _MK, "b": ("k", "n")},
            batch=True,
        ),
        Law(
            "scale-scale",
            "(Scale x (Scale y a))",
            "(Scale (* x y) a)",
            {"a": _M},
            saturate="forward",
            batch=True,
        ),
        Law(
            "scale-add",
            "(Scale x (Add a b))",
            "(Add (Scale x a) (Scale x b))",
            {"a": _M, "b": _M},
            saturate="backward",
            batch=True,
        ),
        Law(
            "scale-mul",
            "(Scale x (Mul a b))",
            "(Mul (Scale x a) b)",
            {"a": _M, "b": _M},
            batch=True,
        ),
        # -- sums and elementwise products --------------------------------------
        Law("add-comm", "(Add a b)", "(Add b a)", {"a": _M, "b": _M}, rounding=False, batch=True),
        Law(
            "add-assoc",
            "(Add (Add a b) c)",
            "(Add a (Add b c))",
            {"a": _M, "b": _M, "c": _M},
            saturate="none",
            doc="declared and decided by normal forms; saturating it with add-comm is exponential",
            batch=True,
        ),
        Law("mul-comm", "(Mul a b)", "(Mul b a)", {"a": _M, "b": _M}, rounding=False, batch=True),
        # -- reductions and broadcasts move across products ---------------------
        Law(
            "sumrows-mm",
            "(SumRows (MM a b))",
            "(MM (SumRows a) b)",
            {"a": _MK, "b": ("k", "n")},
            doc="summing the rows of a product: sum first, then multiply one row",
        ),
        Law("sumcols-mm", "(SumCols (MM a b))", "(MM a (SumCols b))", {"a": _MK, "b": ("k", "n")}),
        Law(
            "sumrows-add",
            "(SumRows (Add a b))",
            "(Add (SumRows a) (SumRows b))",
            {"a": _M, "b": _M},
            saturate="backward",
        ),
        Law("sumrows-scale", "(SumRows (Scale x a))", "(Scale x (SumRows a))", {"a": _M}),
        Law(
            "mm-bcast",
            "(MM a (Bcast n c))",
            "(Bcast n (MM a c))",
            {"a": _MK, "c": ("k", "one")},
            doc="a product with a repeated column is the repeated product",
        ),
        # -- exp and softmax ----------------------------------------------------
        Law(
            "exp-add",
            "(Exp (Add a b))",
            "(Mul (Exp a) (Exp b))",
            {"a": _M, "b": _M},
            saturate="none",
            doc="e^(a+b) = e^a e^b (no log primitive yet: exp only)",
            batch=True,
        ),
        Law(
            "softmax-shift",
            "(Softmax (Add a (Bcast n c)))",
            "(Softmax a)",
            {"a": _M, "c": ("m", "one")},
            saturate="forward",
            doc="softmax is invariant under adding a constant to each row",
        ),
        # -- attention as a fold (topos.rewrite.fold) ----------------------------
        Law(
            "softmax-fold",
            "(Mix (Softmax (Mask (Scale c (Scores q k)))) v)",
            "(Fold c q k v)",
            kind="fold",
            saturate="none",
            doc="softmax(mask(c q kᵀ)) v is the fold over key blocks of the online-softmax"
            " monoid (running max, normaliser, weighted values); certified by"
            " topos.rewrite.fold.certify (associativity, unit) and applied by"
            " optimize(f, memory_budget=...) where the scores exceed the budget",
        ),
        # -- the structural laws, decided by topos.equal ------------------------
        Law(
            "copy-natural",
            "f ; copy",
            "copy ; f * f",
            kind="structural",
            rounding=False,
            saturate="none",
            doc="common subexpressions are computed once",
        ),
        Law(
            "discard-natural",
            "f ; discard",
            "discard",
            kind="structural",
            rounding=False,
            saturate="none",
            doc="what nothing reads is not computed",
        ),
    ),
)
