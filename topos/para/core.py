"""The ``Para`` class: a parameter object ``P`` and an arrow ``f: P • A -> B``."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from topos.arrows import (  # Box: the doctests use the module's names
    Arrow,
    Box,  # noqa: F401
    Const,
    Id,
    copy,
    discard,
    fold,
    pair,
)
from topos.errors import TypeMismatch, not_a, short
from topos.objects import Fin, Ob, One, Product, R, Unit, is_symbolic, shared_repr
from topos.para.actegory import CARTESIAN, Actegory, Global, _tensor  # noqa: F401  (Global: the doctests)
from topos.para.init import (
    DEFAULT_INIT,
    Init,
    Param,
    glorot_uniform,  # noqa: F401  (the doctests use it)
    normal,  # noqa: F401
    zeros,  # noqa: F401
)
from topos.para.leaves import (
    _param_leaves,
    _path_to,
    _project,
    _remove,
    _way_after_removal,
)

# ---------------------------------------------------------------------------------
# Para

V = TypeVar("V")


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
        for q in own:
            if isinstance(q.ob, (R, Fin)) and is_symbolic(q.ob.shape):
                raise TypeMismatch(
                    f"Para: the parameter {q.path!r} has the symbolic shape {q.ob!r}; parameters"
                    " need concrete shapes (give the bound and slice it, e.g. a position table)"
                )
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

    def __call__(self, *args: Any) -> Any:
        """Inside a traced function (``topos.syntax``): the layer applied to symbolic values."""
        from topos.syntax.ops import call

        return call(self, *args)

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

    def fanout(self, other: Para | Arrow) -> Para:
        """``self & other``: both on one input, ``copy ; (self * other)``; parameters ``P * Q``.

        The two must have the same domain; their parameter paths must differ
        (name them apart with ``.named``). An arrow takes part as its lift.

        >>> lin = Para(R(3, 3), Box("matmul", R(3, 3) * R(3), R(3)), ["w"])
        >>> both = lin.named("a") & lin.named("b")
        >>> both.dom, both.cod, list(both.parameters())
        (R(3), R(3) * R(3), ['a.w', 'b.w'])
        >>> (lin & Id(R(3))).cod
        R(3) * R(3)
        >>> lin & lin
        Traceback (most recent call last):
        ...
        ValueError: &: the parameter path 'w' occurs on both sides;
        name the layers apart with .named('...')
        """
        if isinstance(other, Arrow):
            other = Para.lift(other, self.actegory)
        if not isinstance(other, Para):
            raise not_a("&", "a Para or an arrow", other)
        self._same(other, "&")
        if self.dom != other.dom:
            raise TypeMismatch(
                f"{short(self)} & {short(other)}: a fan-out needs one domain, got"
                f" {self.dom!r} and {other.dom!r}"
            )
        try:
            both = self * other
        except ValueError as err:
            raise ValueError(str(err).replace("*: ", "&: ", 1)) from None
        return copy(self.dom) >> both

    def __and__(self, other: Para | Arrow) -> Para:
        return self.fanout(other)

    def __rand__(self, other: Arrow) -> Para:
        if not isinstance(other, Arrow):
            return NotImplemented
        return Para.lift(other, self.actegory).fanout(self)

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
        from topos.para.repetition import unroll

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
        def render() -> str:  # one sharing-aware repr: P's named parts recur in the arrow
            extra = "" if self.actegory == CARTESIAN else f", actegory={self.actegory!r}"
            return f"Para({self.P!r}, {self.arrow!r}, params={self.params!r}{extra})"

        return shared_repr(render)

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


def fanout(first: Para | Arrow, *rest: Para | Arrow) -> Para:
    """``copy ; (p1 * p2 * ... * pk)``: every Para on the same input, outputs in a product.

    Left-nested like ``p1 & p2 & ... & pk``; parameters merged, paths checked
    apart; arrows take part as their lifts.

    >>> lin = Para(R(3, 3), Box("matmul", R(3, 3) * R(3), R(3)), ["w"])
    >>> three = fanout(lin.named("a"), lin.named("b"), Id(R(3)))
    >>> three.cod, list(three.parameters())
    (R(3) * R(3) * R(3), ['a.w', 'b.w'])
    """
    out = first if isinstance(first, Para) else Para.lift(first)
    if not isinstance(out, Para):
        raise not_a("fanout", "a Para or an arrow", first)
    if not rest:
        raise TypeError("fanout: needs at least two Para (or arrows)")
    for r in rest:
        out = out.fanout(r)
    return out
