"""Functors out of the free structure: give the generators, the target does the rest.

A ``Category`` is a semantics: it says what products, coproducts, exponentials,
``Omega`` and each structural arrow *are* in it. A ``Functor`` maps generating
objects (``R``, ``Fin``) and boxes, and lets its target category interpret the
structure, so a new semantics is one class (``topos.finite.Sets``,
``backends.jax`` ...). Being a functor is then automatic:

    F(f >> g) == cod.compose([F(f), F(g)])      F(Id(A)) == cod.id(F(A))
    F(pair(f, g)) == cod.pair(F(f), F(g))       F(curry(m)) == cod.curry(F(m), ...)

The free structure is itself a ``Category`` (``Free``); a functor into it is a
substitution of boxes by diagrams:

>>> from topos import R, Box, Id
>>> A, B = R(2), R(3)
>>> f, g = Box("f", A, B), Box("g", B, A)
>>> F = Functor(ob=lambda x: x, ar={f: f >> g >> f, g: g}, cod=Free())
>>> print(F(f >> g))
f >> g >> f >> g
>>> print(F(f * Id(A)))
(f >> g >> f) * id

Interpretation walks the diagram bottom-up without recursion, visiting shared
sub-diagrams once; compositions reach the target as whole chains
(``cod.compose(list)``), so a target can run a chain of 100,000 arrows in a loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from topos import arrows as ar_
from topos.arrows import Arrow, Box, fold
from topos.objects import Coproduct, Empty, Exp, Fin, Ob, Omega, One, Product, R, Truth, Unit, Zero

__all__ = ["Category", "Free", "FreeObjects", "Functor"]

ObT = TypeVar("ObT")
ArT = TypeVar("ArT")


class Category(Generic[ObT, ArT]):
    """The structure a semantics must provide, with derived structure given defaults.

    Objects and arrows of the target are of any Python type (``ObT`` and ``ArT``).
    Methods receive *interpreted* objects and arrows. Required: everything that
    raises ``NotImplementedError`` here and is reachable from the diagrams you
    interpret (a category without coproducts can leave them out). Derived maps
    (``tensor``, ``sum``, ``copy``, ``swap``) have defaults via the universal
    properties; override them where the target has something faster.
    """

    # -- objects ----------------------------------------------------------------
    def one(self) -> ObT:
        raise NotImplementedError(f"{type(self).__name__} has no terminal object")

    def zero(self) -> ObT:
        raise NotImplementedError(f"{type(self).__name__} has no initial object")

    def product(self, a: ObT, b: ObT) -> ObT:
        raise NotImplementedError(f"{type(self).__name__} has no products")

    def coproduct(self, a: ObT, b: ObT) -> ObT:
        raise NotImplementedError(f"{type(self).__name__} has no coproducts")

    def exp(self, base: ObT, exponent: ObT) -> ObT:
        raise NotImplementedError(f"{type(self).__name__} has no exponentials")

    def omega(self) -> ObT:
        raise NotImplementedError(f"{type(self).__name__} has no subobject classifier")

    # -- category ---------------------------------------------------------------
    def id(self, a: ObT) -> ArT:
        raise NotImplementedError

    def compose(self, fs: Sequence[ArT]) -> ArT:
        """The composite of ``fs`` in diagrammatic order (at least two arrows)."""
        raise NotImplementedError

    # -- cartesian --------------------------------------------------------------
    def pair(self, f: ArT, g: ArT) -> ArT:
        raise NotImplementedError(f"{type(self).__name__} has no pairing")

    def fst(self, a: ObT, b: ObT) -> ArT:
        raise NotImplementedError(f"{type(self).__name__} has no projections")

    def snd(self, a: ObT, b: ObT) -> ArT:
        raise NotImplementedError(f"{type(self).__name__} has no projections")

    def discard(self, a: ObT) -> ArT:
        raise NotImplementedError(f"{type(self).__name__} has no terminal object")

    def tensor(self, f: ArT, g: ArT, a: ObT, b: ObT) -> ArT:
        """``f * g`` for ``f`` out of ``a`` and ``g`` out of ``b``: ⟨π₁ ; f, π₂ ; g⟩."""
        return self.pair(self.compose([self.fst(a, b), f]), self.compose([self.snd(a, b), g]))

    def copy(self, a: ObT) -> ArT:
        return self.pair(self.id(a), self.id(a))

    def swap(self, a: ObT, b: ObT) -> ArT:
        return self.pair(self.snd(a, b), self.fst(a, b))

    # -- cocartesian ------------------------------------------------------------
    def copair(self, f: ArT, g: ArT) -> ArT:
        raise NotImplementedError(f"{type(self).__name__} has no copairing")

    def inl(self, a: ObT, b: ObT) -> ArT:
        raise NotImplementedError(f"{type(self).__name__} has no injections")

    def inr(self, a: ObT, b: ObT) -> ArT:
        raise NotImplementedError(f"{type(self).__name__} has no injections")

    def absurd(self, a: ObT) -> ArT:
        raise NotImplementedError(f"{type(self).__name__} has no initial object")

    def sum(self, f: ArT, g: ArT, c: ObT, d: ObT) -> ArT:
        """``f + g`` for ``f`` into ``c`` and ``g`` into ``d``: [f ; ι₁, g ; ι₂]."""
        return self.copair(self.compose([f, self.inl(c, d)]), self.compose([g, self.inr(c, d)]))

    # -- closed -----------------------------------------------------------------
    def curry(self, m: ArT, x: ObT, a: ObT, b: ObT) -> ArT:
        """Λm: x -> b ** a for ``m: x * a -> b``."""
        raise NotImplementedError(f"{type(self).__name__} has no exponentials")

    def ev(self, b: ObT, a: ObT) -> ArT:
        raise NotImplementedError(f"{type(self).__name__} has no exponentials")

    # -- subobject classifier ---------------------------------------------------
    def logic(self, op: str) -> ArT:
        """The map of ``Omega`` named ``op``: true, false, conj, disj, implies, neg."""
        raise NotImplementedError(f"{type(self).__name__} has no subobject classifier")

    # -- structure as constructors (topos.arrows.Group, Repeat, Layer, Recur, Stack, Const)
    def group(self, body: ArT, name: str, attrs: Mapping[str, Any]) -> ArT:
        """A named sub-diagram: by default, its body."""
        return body

    def repeat(self, body: ArT, n: int, p: ObT, a: ObT) -> ArT:
        """``Repeat(body, n)`` with ``body: p * a -> a``.

        Return ``NotImplemented`` (the default) and the functor interprets the
        unrolling ``Repeat.unroll()`` instead, slices through ``layer``.
        """
        return NotImplemented  # type: ignore[no-any-return]

    def layer(self, p: ObT, n: int, index: int) -> ArT:
        """Slice ``index`` of ``n`` stacked copies of the parameter object ``p``."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot slice stacked parameters (layer {index} of {n}):"
            " give Layer arrows an image in the functor's ar map, or define"
            f" {type(self).__name__}.layer"
        )

    def recur(self, cell: ArT, node: ar_.Recur, p: ObT, s: ObT, x: ObT, y: ObT) -> ArT:
        """``Recur(cell, n, reverse)`` with ``cell: p * (s * x) -> s * y`` (``node`` holds
        ``n`` and ``reverse``).

        Return ``NotImplemented`` (the default) and the functor interprets the
        unrolling ``Recur.unroll()`` instead: slices through ``layer``, outputs
        gathered through ``stack``.
        """
        return NotImplemented  # type: ignore[no-any-return]

    def stack(self, x: ObT, n: int) -> ArT:
        """``n`` items of ``x`` (a left-nested product) gathered into one sequence."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot gather a sequence ({n} items): give Stack arrows an"
            f" image in the functor's ar map, or define {type(self).__name__}.stack"
        )

    def const(self, node: ar_.Const, cod: ObT) -> ArT:
        """The constant ``node: One -> cod`` (its ``value`` is an opaque handle)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no meaning for the constant {node!r}: give it an image"
            f" in the functor's ar map, or define {type(self).__name__}.const"
        )


class FreeObjects(Category[Ob, ArT]):
    """A category whose objects are the objects of the free structure themselves.

    For semantics where an object already says how its values look (the free
    structure, the JAX backend): structure on objects is the objects' own.

    >>> from topos import R
    >>> FreeObjects().product(R(2), R(3)), FreeObjects().exp(R(2), R(3))
    (R(2) * R(3), R(2) ** R(3))
    """

    def one(self) -> Ob:
        return One

    def zero(self) -> Ob:
        return Zero

    def product(self, a: Ob, b: Ob) -> Ob:
        return a * b

    def coproduct(self, a: Ob, b: Ob) -> Ob:
        return a + b

    def exp(self, base: Ob, exponent: Ob) -> Ob:
        return base**exponent

    def omega(self) -> Ob:
        return Omega


class Free(FreeObjects[Arrow]):
    """The free structure itself, as a target: functors into it substitute boxes."""

    def id(self, a: Ob) -> Arrow:
        return ar_.Id(a)

    def compose(self, fs: Sequence[Arrow]) -> Arrow:
        return ar_.compose(*fs)

    def pair(self, f: Arrow, g: Arrow) -> Arrow:
        return ar_.pair(f, g)

    def fst(self, a: Ob, b: Ob) -> Arrow:
        return ar_.fst(a, b)

    def snd(self, a: Ob, b: Ob) -> Arrow:
        return ar_.snd(a, b)

    def discard(self, a: Ob) -> Arrow:
        return ar_.discard(a)

    def tensor(self, f: Arrow, g: Arrow, a: Ob, b: Ob) -> Arrow:
        return f * g

    def copy(self, a: Ob) -> Arrow:
        return ar_.copy(a)

    def swap(self, a: Ob, b: Ob) -> Arrow:
        return ar_.swap(a, b)

    def copair(self, f: Arrow, g: Arrow) -> Arrow:
        return ar_.copair(f, g)

    def inl(self, a: Ob, b: Ob) -> Arrow:
        return ar_.inl(a, b)

    def inr(self, a: Ob, b: Ob) -> Arrow:
        return ar_.inr(a, b)

    def absurd(self, a: Ob) -> Arrow:
        return ar_.absurd(a)

    def sum(self, f: Arrow, g: Arrow, c: Ob, d: Ob) -> Arrow:
        return f + g

    def curry(self, m: Arrow, x: Ob, a: Ob, b: Ob) -> Arrow:
        return ar_.curry(m)

    def ev(self, b: Ob, a: Ob) -> Arrow:
        return ar_.ev(b, a)

    def logic(self, op: str) -> Arrow:
        return ar_.Logic(op)

    def group(self, body: Arrow, name: str, attrs: Mapping[str, Any]) -> Arrow:
        return ar_.Group(name, body, **attrs)

    def repeat(self, body: Arrow, n: int, p: Ob, a: Ob) -> Arrow:
        return ar_.Repeat(body, n)

    def layer(self, p: Ob, n: int, index: int) -> Arrow:
        return ar_.Layer(p, n, index)

    def recur(self, cell: Arrow, node: ar_.Recur, p: Ob, s: Ob, x: Ob, y: Ob) -> Arrow:
        return ar_.Recur(cell, node.n, node.reverse)

    def stack(self, x: Ob, n: int) -> Arrow:
        return ar_.Stack(x, n)

    def const(self, node: ar_.Const, cod: Ob) -> Arrow:
        return ar_.Const(cod, node.value, node.name)


ObMap = Mapping[Ob, Any] | Callable[[Ob], Any]
ArMap = Mapping[Any, Any] | Callable[[Any], Any]


class Functor(Generic[ObT, ArT]):
    """ArT structure-preserving map out of the free structure into ``cod``.

    ``ob`` maps generating objects (``R``, ``Fin``) and ``ar`` maps boxes; each is a
    mapping or a function. Structural objects and arrows are interpreted by ``cod``.
    A box without an image raises a ``KeyError`` naming it. Constants (``Const``)
    and slices of stacked parameters (``Layer``) are taken from ``ar`` when it has
    an image for them (a mapping containing them, a function not raising
    ``KeyError``), else from ``cod``. Groups are their bodies and repeats their
    unrollings unless ``cod`` says otherwise:

    >>> from topos import R, Box
    >>> from topos.arrows import Repeat, group
    >>> f = Box("f", R(2) * R(3), R(3))
    >>> F = Functor(ob=lambda x: x, ar=lambda b: b, cod=Free())
    >>> F(group("blk", f)) == group("blk", f), F(Repeat(f, 2)) == Repeat(f, 2)
    (True, True)
    """

    def __init__(self, ob: ObMap, ar: ArMap, cod: Category[ObT, ArT]) -> None:
        if not isinstance(cod, Category):
            raise TypeError(f"Functor: cod must be a topos.functor.Category, got {cod!r}")
        self.ob_map, self.ar_map, self.cod = ob, ar, cod
        self._obs: dict[Ob, Any] = {}

    def __repr__(self) -> str:
        return f"Functor(ob={self.ob_map!r}, ar={self.ar_map!r}, cod={self.cod!r})"

    def __call__(self, x: Any) -> Any:
        if isinstance(x, Ob):
            return self.on_object(x)
        if isinstance(x, Arrow):
            return self.on_arrow(x)
        on = getattr(x, "__functor__", None)  # e.g. Para morphisms map through their arrow
        if on is not None:
            return on(self)
        raise TypeError(f"Functor: expected an object or an arrow, got {type(x).__name__} {x!r}")

    def _generator(self, table: Any, key: Any, what: str) -> Any:
        try:
            return table[key] if isinstance(table, Mapping) else table(key)
        except KeyError:
            raise KeyError(f"Functor: no image for the {what} {key!r}") from None

    def on_object(self, x: Ob) -> Any:
        """The image of an object: generators through ``ob``, structure through ``cod``."""
        if x in self._obs:
            return self._obs[x]
        c = self.cod
        out: Any
        if isinstance(x, (R, Fin)):
            out = self._generator(self.ob_map, x, "object")
        elif isinstance(x, Unit):
            out = c.one()
        elif isinstance(x, Empty):
            out = c.zero()
        elif isinstance(x, Truth):
            out = c.omega()
        elif isinstance(x, Product):
            out = c.product(self.on_object(x.left), self.on_object(x.right))
        elif isinstance(x, Coproduct):
            out = c.coproduct(self.on_object(x.left), self.on_object(x.right))
        elif isinstance(x, Exp):
            out = c.exp(self.on_object(x.base), self.on_object(x.exponent))
        else:
            out = self._generator(self.ob_map, x, "object")
        self._obs[x] = out
        return out

    def on_arrow(self, f: Arrow) -> Any:
        """The image of an arrow, computed bottom-up over the diagram."""
        return fold(f, self._step)

    def _image(self, node: Arrow) -> Any:
        """The ``ar`` map's image of a constant or a slice, or ``_NONE``."""
        table = self.ar_map
        if isinstance(table, Mapping):
            return table.get(node, _NONE)
        try:
            return table(node)
        except KeyError:
            return _NONE

    def _loop(self, node: ar_.Repeat | ar_.Recur, body: Any) -> Any:
        """A repeat or a fold: the target's own, else its unrolling."""
        c, ob = self.cod, self.on_object
        if isinstance(node, ar_.Repeat):
            out = c.repeat(body, node.n, ob(node.params), ob(node.cod))
        else:
            parts = (node.params, node.state, node.item, node.out)
            out = c.recur(body, node, *(ob(x) for x in parts))
        return self.on_arrow(node.unroll()) if out is NotImplemented else out

    def _named_leaf(self, node: ar_.Layer | ar_.Stack | ar_.Const) -> Any:
        """A slice, a stacking or a constant the ``ar`` map gives no image: the target's."""
        c, ob = self.cod, self.on_object
        if isinstance(node, ar_.Stack):
            return c.stack(ob(node.ob), node.n)
        if isinstance(node, ar_.Layer):
            return c.layer(ob(node.ob), node.n, node.index)
        return c.const(node, ob(node.cod))

    def _step(self, node: Arrow, kids: list[Any]) -> Any:
        c, ob = self.cod, self.on_object
        if isinstance(node, Box):
            return self._generator(self.ar_map, node, "box")
        if isinstance(node, ar_.Group):
            return c.group(kids[0], node.name, node.attrs)
        if isinstance(node, (ar_.Repeat, ar_.Recur)):
            return self._loop(node, kids[0])
        if isinstance(node, (ar_.Layer, ar_.Stack, ar_.Const)):
            image = self._image(node)
            return self._named_leaf(node) if image is _NONE else image
        if isinstance(node, ar_.Compose):
            return c.compose(kids)
        if isinstance(node, ar_.Logic):
            return c.logic(node.op)
        if isinstance(node, ar_.Curry):
            dom = node.arrow.dom
            assert isinstance(dom, Product)
            return c.curry(kids[0], ob(dom.left), ob(dom.right), ob(node.arrow.cod))
        if isinstance(node, ar_.Tensor):
            return c.tensor(kids[0], kids[1], ob(node.left.dom), ob(node.right.dom))
        if isinstance(node, ar_.Sum):
            return c.sum(kids[0], kids[1], ob(node.left.cod), ob(node.right.cod))
        if isinstance(node, ar_.Pair):
            return c.pair(kids[0], kids[1])
        if isinstance(node, ar_.Copair):
            return c.copair(kids[0], kids[1])
        structural = _STRUCTURAL.get(type(node))
        if structural is None:
            raise TypeError(f"Functor: unknown arrow constructor {type(node).__name__}")
        assert isinstance(node, ar_._Structural)
        return getattr(c, structural)(*(ob(x) for x in node.obs))


_NONE = object()  # no image in the ar map

_STRUCTURAL: dict[type, str] = {
    ar_.Id: "id",
    ar_.Fst: "fst",
    ar_.Snd: "snd",
    ar_.Copy: "copy",
    ar_.Discard: "discard",
    ar_.Swap: "swap",
    ar_.Inl: "inl",
    ar_.Inr: "inr",
    ar_.Absurd: "absurd",
    ar_.Ev: "ev",
}
