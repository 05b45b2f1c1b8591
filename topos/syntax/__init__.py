"""Diagrams written as Python functions: ``@diagram(dom=...)`` traces a function into an arrow.

The function runs once on *symbolic values*, one per entry of ``dom``; each
operation records a box of the vocabulary (``topos.nn.primitives``) and its
types are inferred from the operands, so only the domain is ever written. The
result is an ordinary ``Arrow`` of the free category, or a ``Para`` when the
function declares weights (``param``) or calls layers: the tracer derives the
projections and pairs that route values between the boxes (no ``assoc``,
``unassoc`` or ``swap`` by hand).

>>> from topos import R, Box, Id, equal, pair, copy, fst
>>> from topos.syntax import diagram, trace, param, relu, softmax
>>> A, B, C = R(3), R(4), R(5)
>>> f, g, h = Box("f", A, B), Box("g", B, C), Box("h", A, C)

The laws. Tracing the identity is ``Id``; a call chain is the composite; a
tuple of results is the pairing; unused inputs are discarded:

>>> trace(lambda x: x, A) == Id(A)
True
>>> trace(lambda x: g(f(x)), A) == f >> g
True
>>> equal(trace(lambda x: (g(f(x)), h(x)), A), pair(f >> g, h))
True
>>> equal(trace(lambda x, y: x, (A, B)), fst(A, B))
True
>>> equal(trace(lambda x: (x, x), A), copy(A))
True

A worked example: a one-hidden-layer network with weights declared inline.
Types follow from the domain (``x @ w1`` is ``R(4, 16)``); the result is a
Para whose parameters are listed in the order they are first used:

>>> @diagram(dom=R(4, 8))
... def net(x):
...     h = relu(x @ param("w1", R(8, 16)) + param("b1", R(16)))
...     return softmax(h @ param("w2", R(16, 3)))
>>> net.dom, net.cod, list(net.parameters())
(R(4, 8), R(4, 3), ['w1', 'b1', 'w2'])

Errors point at the user's line and name both types:

>>> trace(lambda x: x @ param("w", R(5, 2)), R(3, 4))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
topos.syntax.values.TraceError: <doctest ...>:1: @ of R(3, 4) and R(5, 2): einsum ...
"""

from topos.syntax.layers import embedding, layer_norm, linear, mlp
from topos.syntax.ops import (
    call,
    causal_mask,
    concatenate,
    cos,
    einsum,
    erf,
    exp,
    full,
    gelu,
    log,
    matmul,
    max,
    mean,
    one_hot,
    ones,
    param,
    relu,
    reshape,
    rsqrt,
    sigmoid,
    silu,
    sin,
    softmax,
    sqrt,
    sum,
    tanh,
    transpose,
    where,
    zeros,
)
from topos.syntax.trace import diagram, trace
from topos.syntax.values import TraceError, Value

__all__ = [
    "TraceError",
    "Value",
    "call",
    "causal_mask",
    "concatenate",
    "cos",
    "diagram",
    "einsum",
    "embedding",
    "erf",
    "exp",
    "full",
    "gelu",
    "layer_norm",
    "linear",
    "log",
    "matmul",
    "max",
    "mean",
    "mlp",
    "one_hot",
    "ones",
    "param",
    "relu",
    "reshape",
    "rsqrt",
    "sigmoid",
    "silu",
    "sin",
    "softmax",
    "sqrt",
    "sum",
    "tanh",
    "trace",
    "transpose",
    "where",
    "zeros",
]
