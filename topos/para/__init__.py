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

from topos.para.actegory import CARTESIAN, Actegory, Cartesian, Global
from topos.para.core import Frozen, Para, fanout
from topos.para.init import (
    DEFAULT_INIT,
    Init,
    Param,
    constant,
    glorot_uniform,
    normal,
    ones,
    uniform,
    zeros,
)
from topos.para.iso import canonical_iso, equal_up_to, isomorphic
from topos.para.leaves import parameter_leaves
from topos.para.repetition import repeat, unroll

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
    "fanout",
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
