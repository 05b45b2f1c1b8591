"""The architecture zoo: the paper's examples, built from ``topos.nn``, with their verdicts.

Each entry is a ``Para`` built only from the vocabulary (primitives, layers and the
categorical structure). ``table()`` runs ``analyze`` on every entry; the claims of
"The Topos of Transformer Networks" become rows you can check:

- ReLU / max networks (MLP, CNN, RNN unrolled, GCN with the adjacency global) are
  first-order piecewise-linear maps: they live in the PL pretopos;
- their GELU / tanh versions are first order but smooth: outside PL;
- the transformer and the hypernetwork are higher order: an ``ev`` applies a function
  chosen by the input, so they need exponentials (the topos completion);
- linear attention is higher order too, and polynomial of degree 3;
- the soft-gated mixture of experts is first order and smooth (the gate multiplies
  input-dependent expert outputs).

>>> rows = {row.name: row for row in table(small=True)}
>>> rows["mlp (relu)"].lives_in, rows["transformer"].lives_in
('PL pretopos', 'topos completion')
>>> rows["linear attention"].cls, rows["linear attention"].degree
('polynomial', 3)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from topos.analysis import Analysis, analyze
from topos.arrows import Id, copy, curry, ev
from topos.nn import primitives as P
from topos.nn.layers import conv, gcn, linear, max_pool, mlp, relu, rnn, softmax
from topos.nn.layers import gelu as gelu_layer
from topos.nn.layers import tanh as tanh_layer
from topos.nn.transformer import attention, transformer
from topos.objects import R
from topos.para import Para

__all__ = [
    "ARCHITECTURES",
    "Row",
    "cnn",
    "hypernetwork",
    "mixture_of_experts",
    "table",
]


def _act(kind: str, *shape: int) -> Para:
    return {"relu": relu, "gelu": gelu_layer, "tanh": tanh_layer}[kind](*shape)


def cnn(side: int = 8, channels: int = 8, classes: int = 10, activation: str = "relu") -> Para:
    """conv 3x3 -> activation -> 2x2 max-pool -> flatten -> linear, on ``R(side, side, 1)``.

    >>> cnn().dom, cnn().cod
    (R(8, 8, 1), R(10))
    """
    c = conv((side, side, 1), channels, (3, 3), name="conv1")
    pooled = max_pool((side, side, channels), (2, 2))
    flat = pooled.cod
    assert isinstance(flat, R)
    size = flat.size
    return (
        c
        >> _act(activation, side, side, channels)
        >> pooled
        >> P.reshape(flat, size)
        >> linear(size, classes, name="head")
    )


def hypernetwork(d: int = 4, hidden: int = 16, activation: str = "relu") -> Para:
    """A network whose weight matrix is *produced from the input* by another network.

    ``x ↦ W(x) x`` with ``W = reshape ∘ mlp``: the input chooses the linear map
    (``curry`` of the matrix-vector product) and ``ev`` applies it.

    >>> hypernetwork().dom, hypernetwork().cod
    (R(4), R(4))
    """
    x, w = R(d), R(d, d)
    hyper = mlp([d, hidden, d * d], activation=activation, name="hyper")
    make_w = hyper >> P.reshape(R(d * d), d, d)
    apply_w = curry(P.einsum("ij,j->i", w, x))
    return copy(x) >> ((make_w >> apply_w) * Id(x)) >> ev(x, x)


def mixture_of_experts(d: int = 4, out: int = 3, experts: int = 2, hidden: int = 8) -> Para:
    """Soft-gated experts: ``Σ_k softmax(g(x))_k e_k(x)`` (Jacobs et al. 1991).

    >>> mixture_of_experts().dom, mixture_of_experts().cod
    (R(4), R(3))
    """
    x = R(d)
    stacked: Para | None = None
    for k in range(experts):
        e = mlp([d, hidden, out], name=f"expert{k}") >> P.reshape(R(out), 1, out)
        if stacked is None:
            stacked = e
        else:
            rows = stacked.cod
            assert isinstance(rows, R)
            stacked = (copy(x) >> (stacked * e)) >> P.concat(rows, R(1, out), axis=0)
    assert stacked is not None
    gate = linear(d, experts, name="gate") >> softmax(experts)
    mixed = P.einsum("k,ko->o", R(experts), R(experts, out))
    return copy(x) >> (gate * stacked) >> mixed


def _linear_attention() -> Para:
    return attention(8, 4, 4, softmax=False, bias=False)


def _gcn(activation: str) -> Para:
    first = gcn(5, 3, 8, activation=activation, name="g1")
    return first >> gcn(5, 8, 2, activation=None, name="g2")


#: name -> builder; ``small=True`` asks for the quick-to-analyse size.
ARCHITECTURES: dict[str, Callable[[bool], Para]] = {
    "mlp (relu)": lambda s: mlp([4, 8, 2] if s else [64, 128, 10]),
    "mlp (tanh)": lambda s: mlp([4, 8, 2] if s else [64, 128, 10], activation="tanh"),
    "cnn (relu)": lambda s: cnn(),
    "cnn (gelu)": lambda s: cnn(activation="gelu"),
    "rnn (relu)": lambda s: rnn(3, 8, 5, activation="relu"),
    "rnn (tanh)": lambda s: rnn(3, 8, 5, activation="tanh"),
    "gcn (relu)": lambda s: _gcn("relu"),
    "gcn (tanh)": lambda s: _gcn("tanh"),
    "transformer": lambda s: transformer(vocab=65, seq=16 if s else 64, d=32, heads=4, layers=2),
    "linear attention": lambda s: _linear_attention(),
    "hypernetwork": lambda s: hypernetwork(),
    "mixture of experts": lambda s: mixture_of_experts(),
}


@dataclass(frozen=True)
class Row:
    """One line of the zoo table."""

    name: str
    model: Para
    parameters: int
    report: Analysis

    @property
    def cls(self) -> str:
        return self.report.cls

    @property
    def order(self) -> str:
        return self.report.order

    @property
    def lives_in(self) -> str:
        return self.report.lives_in

    @property
    def degree(self) -> int | None:
        return self.report.degree

    @property
    def witness(self) -> str:
        if not self.report.witnesses:
            return ""
        w = self.report.witnesses[0]
        return f"{w.kind}: {w.arrow} in {w.where or 'the top level'}"


def _count(p: Para) -> int:
    return sum(q.ob.size for q in p.parameters().values() if isinstance(q.ob, R))


def table(small: bool = False) -> list[Row]:
    """Build and analyse every architecture of the zoo."""
    rows = []
    for name, build in ARCHITECTURES.items():
        model = build(small)
        rows.append(Row(name, model, _count(model), analyze(model)))
    return rows
