"""topos: neural architectures as morphisms of a cartesian closed category.

The pure core: objects, arrows, normal forms, functors, Para, analysis. It
imports nothing outside the standard library (``topos.testing`` also uses
hypothesis); the JAX interpretation lives in ``backends.jax``.

>>> from topos import R, Box, curry, ev, Id, equal
>>> A, B = R(3), R(4)
>>> m = Box("m", R(2) * A, B)
>>> equal(curry(m) * Id(A) >> ev(B, A), m)
True
"""

from topos.arrows import (
    Arrow,
    Box,
    Const,
    Group,
    Id,
    Recur,
    Repeat,
    absurd,
    assoc,
    compose,
    conj,
    copair,
    copy,
    curry,
    discard,
    disj,
    ev,
    false,
    fst,
    group,
    implies,
    inl,
    inr,
    neg,
    pair,
    recur,
    snd,
    swap,
    true,
    unassoc,
    uncurry,
)
from topos.dims import specialise
from topos.dtypes import with_dtype
from topos.errors import TypeMismatch
from topos.normal import equal
from topos.objects import Dim, Fin, Ob, Omega, One, R, Zero
from topos.reverse import reverse
from topos.syntax import diagram, param, trace

__all__ = [
    "Arrow",
    "Box",
    "Const",
    "Dim",
    "Fin",
    "Group",
    "Id",
    "Ob",
    "Omega",
    "One",
    "R",
    "Recur",
    "Repeat",
    "TypeMismatch",
    "Zero",
    "absurd",
    "assoc",
    "compose",
    "conj",
    "copair",
    "copy",
    "curry",
    "diagram",
    "discard",
    "disj",
    "equal",
    "ev",
    "false",
    "fst",
    "group",
    "implies",
    "inl",
    "inr",
    "neg",
    "pair",
    "param",
    "recur",
    "reverse",
    "snd",
    "specialise",
    "swap",
    "trace",
    "true",
    "unassoc",
    "uncurry",
    "with_dtype",
]
