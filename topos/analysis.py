"""Which category does a morphism live in? The paper's theorem, executable.

``analyze(f)`` runs the diagram on *abstract values* that record, for every wire,
whether it depends on the input (parameters of a ``Para`` count as external, not as
input) and, while the map is polynomial, its degree in the input. From that it
reports:

- **order**: ``"higher"`` when some ``ev`` applies a function that depends on the
  input (a function *chosen* by the input, as in self-attention), ``"first"``
  otherwise (a function fixed by the parameters, as in a feed-forward net);
- **class**: the join, over the generating boxes that touch input-dependent values,
  of their classes in the chain ``linear < pl < polynomial < smooth``. A box of class
  ``"bilinear"`` (a product ``X * Y -> Z`` linear in each factor, e.g. a matrix
  product) is linear when at most one factor depends on the input and polynomial (of
  the summed degree) when both do. ``pl`` joined with ``polynomial`` reports
  ``polynomial`` (read: piecewise polynomial);
- **lives in**: ``"PL pretopos"`` when first order and at most PL; ``"topos
  completion"`` when higher order (exponentials are needed: PL is not cartesian
  closed); ``"smooth maps"`` when first order with polynomial or smooth generators;
- **witnesses**: the sub-diagrams that force the verdict, each with its path (see
  ``locate``).

A box's class comes from its ``cls`` attribute, else from ``declare(name, cls)``
(backends declare their primitives), else it is unknown and counted as smooth, with
a witness saying so. Groups (``topos.arrows.Group``) are analysed through their
body, a ``Repeat`` by iterating its body to a fixpoint, and constants are constant.

>>> from topos import R, Box, pair, curry, ev, copy, Id
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
from topos.objects import Coproduct, Exp, Ob, Product, Unit

__all__ = ["CLASSES", "Analysis", "Witness", "analyze", "declare", "declared", "locate"]

#: The classes of maps, least first; ``bilinear`` is resolved per use (see module doc).
CLASSES = ("linear", "pl", "polynomial", "smooth")
_KINDS = (*CLASSES, "bilinear")
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


@dataclass(frozen=True)
class Witness:
    """A sub-diagram that forces part of the verdict, and where it sits."""

    kind: str  # "order" or "class"
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


@dataclass(frozen=True)
class _Base:
    dep: bool
    deg: int | None  # degree in the input while polynomial; 0 for constants


@dataclass(frozen=True)
class _Closure:
    body: Arrow  # m: X * A -> B of a curry
    env: Any
    path: Path


@dataclass(frozen=True)
class _Opaque:
    dep: bool


@dataclass(frozen=True)
class _Tagged:
    tag: _Base
    left: Any
    right: Any


_CONST = _Base(False, 0)


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
        else:
            yield x


def _depends(v: Any) -> bool:
    return any(leaf.dep for leaf in _leaves(v))


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
        return _Tagged(leaf, _fill(ob.left, leaf), _fill(ob.right, leaf))
    if isinstance(ob, Exp):
        return _Opaque(leaf.dep)
    return leaf


def _join(a: Any, b: Any) -> Any:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return tuple(_join(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, _Tagged) and isinstance(b, _Tagged):
        return _Tagged(_join(a.tag, b.tag), _join(a.left, b.left), _join(a.right, b.right))
    if isinstance(a, _Base) and isinstance(b, _Base):
        deg = None if a.deg is None or b.deg is None else max(a.deg, b.deg)
        return _Base(a.dep or b.dep, deg)
    if a == b:
        return a
    return _Opaque(_depends(a) or _depends(b))


# -- the abstract interpreter -------------------------------------------------------------


class _Run:
    def __init__(self) -> None:
        self.cls = "linear"
        self.class_witness: Witness | None = None
        self.order_witnesses: list[Witness] = []
        self.unknown: list[Witness] = []

    def see(self, cls: str, box: Arrow, path: Path, reason: str) -> None:
        if CLASSES.index(cls) > CLASSES.index(self.cls):
            self.cls = cls
            self.class_witness = Witness("class", reason, box, path)

    def run(self, f: Arrow, x: Any, path: Path) -> Any:
        if isinstance(f, ar_.Compose):
            for i, g in enumerate(f.children):
                x = self.run(g, x, (*path, i))
            return x
        method = getattr(self, "_" + type(f).__name__.lower(), None)
        if method is None:
            raise TypeError(f"analyze: unknown arrow constructor {type(f).__name__}")
        return method(f, x, path)

    # structure
    def _id(self, f: Arrow, x: Any, path: Path) -> Any:
        return x

    def _fst(self, f: Arrow, x: Any, path: Path) -> Any:
        return x[0]

    def _snd(self, f: Arrow, x: Any, path: Path) -> Any:
        return x[1]

    def _copy(self, f: Arrow, x: Any, path: Path) -> Any:
        return (x, x)

    def _discard(self, f: Arrow, x: Any, path: Path) -> Any:
        return ()

    def _swap(self, f: Arrow, x: Any, path: Path) -> Any:
        return (x[1], x[0])

    def _pair(self, f: ar_.Pair, x: Any, path: Path) -> Any:
        return (self.run(f.left, x, (*path, 0)), self.run(f.right, x, (*path, 1)))

    def _tensor(self, f: ar_.Tensor, x: Any, path: Path) -> Any:
        return (self.run(f.left, x[0], (*path, 0)), self.run(f.right, x[1], (*path, 1)))

    def _inl(self, f: Arrow, x: Any, path: Path) -> Any:
        assert isinstance(f.cod, Coproduct)
        return _Tagged(_CONST, x, _fill(f.cod.right, _CONST))

    def _inr(self, f: Arrow, x: Any, path: Path) -> Any:
        assert isinstance(f.cod, Coproduct)
        return _Tagged(_CONST, _fill(f.cod.left, _CONST), x)

    def _absurd(self, f: Arrow, x: Any, path: Path) -> Any:
        return _fill(f.cod, _CONST)

    def _copair(self, f: ar_.Copair, x: Any, path: Path) -> Any:
        out = _join(self.run(f.left, x.left, (*path, 0)), self.run(f.right, x.right, (*path, 1)))
        return _join(out, _fill(f.cod, _Base(x.tag.dep, 0 if not x.tag.dep else None)))

    def _sum(self, f: ar_.Sum, x: Any, path: Path) -> Any:
        left = self.run(f.left, x.left, (*path, 0))
        right = self.run(f.right, x.right, (*path, 1))
        return _Tagged(x.tag, left, right)

    def _logic(self, f: Arrow, x: Any, path: Path) -> Any:
        return _fill(f.cod, _Base(_depends(x), None if _depends(x) else 0))

    # closed structure
    def _curry(self, f: ar_.Curry, x: Any, path: Path) -> Any:
        return _Closure(f.arrow, x, (*path, 0))

    def _ev(self, f: Arrow, x: Any, path: Path) -> Any:
        fn, arg = x
        if isinstance(fn, _Closure):
            if _depends(fn.env):
                self.order_witnesses.append(
                    Witness("order", "ev applies a function that depends on the input", f, path)
                )
            return self.run(fn.body, (fn.env, arg), fn.path)
        if fn.dep:
            self.order_witnesses.append(
                Witness("order", "ev applies a function given as input", f, path)
            )
        dep = fn.dep or _depends(arg)
        if dep:
            self.see("smooth", f, path, "ev of an opaque function")
        return _fill(f.cod, _Base(dep, None if dep else 0))

    # named sub-diagrams, stacks of layers, constants
    def _group(self, f: ar_.Group, x: Any, path: Path) -> Any:
        return self.run(f.body, x, (*path, f.name))

    def _layer(self, f: ar_.Layer, x: Any, path: Path) -> Any:
        if _depends(x):
            self.see("linear", f, path, "slice of a stack")
        return _fill(f.cod, _Base(_depends(x), _degree(x)))

    def _const(self, f: ar_.Const, x: Any, path: Path) -> Any:
        return _fill(f.cod, _CONST)

    # generators
    def _box(self, f: Box, x: Any, path: Path) -> Any:
        attrs = f.attrs
        if not _depends(x):
            return _fill(f.cod, _CONST)
        cls = attrs.get("cls") or declared(f.name)
        if cls is None:
            self.unknown.append(
                Witness("class", f"undeclared box {f.name} (counted smooth)", f, path)
            )
            cls = "smooth"
        if cls == "bilinear":
            return self._bilinear(f, x, path)
        self.see(cls, f, path, f"{cls} box {f.name}")
        deg = (
            _degree(x)
            if cls == "linear"
            else (attrs.get("degree") if cls == "polynomial" else None)
        )
        if cls == "polynomial" and isinstance(deg, int):
            inner = _degree(x)
            deg = None if inner is None else deg * inner
        return _fill(f.cod, _Base(True, deg if isinstance(deg, int) else None))

    def _bilinear(self, f: Box, x: Any, path: Path) -> Any:
        if not isinstance(f.dom, Product):
            raise TypeError(
                f"analyze: bilinear box {f.name} must have a product domain, got {f.dom}"
            )
        a, b = x
        da, db = _depends(a), _depends(b)
        ga, gb = _degree(a), _degree(b)
        if da and db:
            self.see(
                "polynomial", f, path, f"bilinear box {f.name} with both factors input-dependent"
            )
            deg = None if ga is None or gb is None else ga + gb
        else:
            deg = ga if da else gb
        return _fill(f.cod, _Base(True, deg))

    def _repeat(self, f: ar_.Repeat, x: Any, path: Path) -> Any:
        params, state = x
        layer = _fill(f.params, _Base(_depends(params), _degree(params)))
        for _ in range(min(f.n, 4)):  # dependence is monotone: a few rounds reach the fixpoint
            new = self.run(f.body, (layer, state), (*path, "body"))
            if new == state:
                break
            state = _join(state, new) if f.n > 1 else new
        return state


def _input_value(f: Any) -> tuple[Arrow, Any]:
    """The arrow to analyse and its abstract input: parameters external, the rest input."""
    if isinstance(f, Arrow):
        return f, _fill(f.dom, _Base(True, 1))
    arrow, params = getattr(f, "arrow", None), getattr(f, "P", None)
    if not isinstance(arrow, Arrow) or not isinstance(params, Ob):
        raise TypeError(f"analyze: expected an arrow or a Para, got {type(f).__name__} {f!r}")
    dom = arrow.dom
    if isinstance(dom, Product) and dom.left == params:
        return arrow, (_fill(params, _CONST), _fill(dom.right, _Base(True, 1)))
    glob = getattr(getattr(f, "actegory", None), "E", None)  # Global(E): E * (P * A)
    rest = dom.right if isinstance(dom, Product) and dom.left == glob else None
    if isinstance(rest, Product) and rest.left == params:  # E is a global parameter
        assert isinstance(glob, Ob)
        inner = (_fill(params, _CONST), _fill(rest.right, _Base(True, 1)))
        return arrow, (_fill(glob, _CONST), inner)
    return arrow, _fill(dom, _Base(True, 1))  # another actegory: everything counts as input


def analyze(f: Any) -> Analysis:
    """Analyse an arrow or a Para: order, class of maps, where it lives, witnesses.

    See the module docstring for the rules and examples.
    """
    run = _Run()

    def go() -> Any:
        arrow, x = _input_value(f)
        return run.run(arrow, x, ())

    # The interpreter recurses along the nesting of pairs, tensors and products (an
    # unrolled Para nests one level per layer): deep diagrams get a deep enough stack.
    top = f if isinstance(f, Arrow) else getattr(f, "arrow", None)
    out = deep(go, top) if isinstance(top, Arrow) else go()
    order = "higher" if run.order_witnesses else "first"
    cls = run.cls
    if order == "higher":
        lives = "topos completion"
    elif CLASSES.index(cls) <= CLASSES.index("pl"):
        lives = "PL pretopos"
    else:
        lives = "smooth maps"
    degree = _degree(out) if cls in ("linear", "polynomial") else None
    witnesses = list(run.order_witnesses[:1])
    if run.class_witness is not None:
        witnesses.append(run.class_witness)
    witnesses += run.unknown
    return Analysis(order, cls, lives, degree, tuple(witnesses))


def locate(f: Arrow, path: Path) -> Arrow:
    """The sub-diagram of ``f`` at ``path`` (as reported by a witness).

    Integer steps index ``children`` (a composite's flattened chain); a string step
    enters the body of a group (its name) or of a ``Repeat`` (``"body"``).

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
        else:
            raise KeyError(f"locate: {short(node)} has no body to enter at step {step!r}")
    return node
