"""JSON for objects and arrows: a versioned schema with a node table.

A document is ``{"topos": 2, "nodes": [...], "root": k}``. Each node is a JSON
object with a ``"kind"``; the fields that refer to other objects or arrows hold
the index of an *earlier* node, so the table is in dependency order, shared
sub-diagrams are stored once, and loading is one forward pass (no recursion,
no cycles). ``root`` is the index of the value the document stands for.

Node kinds (version 2), by the public constructor they stand for:

==============  =====================================================================
kind            fields
==============  =====================================================================
``R``           ``shape`` (list of ints or dims), ``dtype`` (str)
``Fin``         ``n`` (int), ``shape`` (list of ints or dims)
``One``,        (none)
``Zero``,
``Omega``
``product``     ``left``, ``right`` (object nodes): ``left * right``
``coproduct``   ``left``, ``right`` (object nodes): ``left + right``
``exp``         ``base``, ``exponent`` (object nodes): ``base ** exponent``
``box``         ``name`` (str), ``dom``, ``cod`` (object nodes), ``attrs`` (object of values)
``id``,         ``obs``: list of object nodes, the arguments of the constructor
``fst`` ...     (``id copy discard absurd`` take one; ``fst snd swap inl inr ev`` two)
``logic``       ``op``: one of ``true false conj disj implies neg``
``compose``     ``arrows``: list of at least two arrow nodes, the flattened chain
``tensor``,     ``left``, ``right`` (arrow nodes)
``sum``,
``pair``,
``copair``
``curry``       ``arrow`` (an arrow node out of a product)
``group``       ``name`` (str), ``body`` (arrow node), ``attrs``: ``Group(name, body, **attrs)``
``repeat``      ``body`` (arrow node), ``n`` (int): ``Repeat(body, n)``
``layer``       ``ob`` (object node), ``n``, ``index`` (ints): ``Layer(ob, n, index)``
``recur``       ``cell`` (arrow node), ``n`` (int or dim), ``reverse`` (bool):
                ``Recur(cell, n, reverse)``
``stack``       ``ob`` (object node), ``n`` (int): ``Stack(ob, n)``
``const``       ``cod`` (object node), ``name`` (str), ``value``: ``Const(cod, value, name)``
``para``        ``P`` (object node), ``arrow`` (arrow node), ``actegory``
                (``{"kind": "cartesian"}`` or ``{"kind": "global", "E": i}``),
                ``params``: list of ``{"path", "ob", "init": {"kind", "args"}, "stacked"}``
==============  =====================================================================

A box attribute value is JSON: ``null``, booleans, ints, finite floats and
strings as themselves, a tuple as a list, an object or arrow as ``{"node": i}``
and a non-finite float as ``{"float": "nan" | "inf" | "-inf"}``. A dimension
variable ``Dim(name, max)`` (in a shape or an attribute) is ``{"dim": name, "max": max}``:

>>> from topos.objects import Dim
>>> seq = Dim("seq", 8)
>>> h = Box("slice", R(8, 2), R(seq, 2), start=0, stop=seq, axis=0)
>>> loads(dumps(h)) == h
True
>>> dumps(R(seq))
'{"topos":2,"nodes":[{"kind":"R","shape":[{"dim":"seq","max":8}],"dtype":"float32"}],"root":0}'

A constant's
value may also be ``{"array": {"shape", "dtype", "base64"}}`` (``ArrayData``) or
``{"frozen": {"path", "init", "stacked", "value"}}`` (a frozen parameter).

Version 1 documents (before groups, repeats and constants were constructors)
still load: their ``Box(name, .., body=g)``, ``Box("repeat", .., body=g, n=k)``
and ``Box("const", .., path=.., init=..)`` nodes become ``Group``, ``Repeat`` and
``Const``.

Every object and arrow round-trips, equal to itself:

>>> from topos import Box, R, Fin, One, Omega, pair, curry, fst, snd, Id, compose
>>> A, B = R(3), Fin(5, 2)
>>> f = Box("f", A, B, scale=0.5, axes=(0, 1))
>>> g = pair(f, Box("g", A, Omega)) >> fst(B, Omega)
>>> loads(dumps(g)) == g and loads(dumps(A * B + Omega)) == A * B + Omega
True
>>> from topos.arrows import Repeat, group
>>> m = curry(Repeat(group("blk", snd(R(2), A) >> Box("h", A, A)), 3))
>>> loads(dumps(m)) == m
True

The document of a small object reads as the schema says:

>>> dumps(R(3) * One)
'{"topos":2,"nodes":[{"kind":"R","shape":[3],"dtype":"float32"},{"kind":"One"},\
{"kind":"product","left":0,"right":1}],"root":2}'

A long chain is one ``compose`` node; shared parts are stored once:

>>> h = Box("h", A, A)
>>> doc = to_json(compose(*[h] * 10_000))
>>> len(doc["nodes"]), len(doc["nodes"][-1]["arrows"])
(3, 10000)

Loading never evaluates code; malformed or ill-typed documents raise a
``ValueError`` naming the node and the field:

>>> loads('{"topos": 2, "nodes": [{"kind": "R", "shape": [3], "dtype": "float32"},'
...       ' {"kind": "box", "name": "f", "dom": 0, "cod": 2, "attrs": {}}], "root": 1}')
Traceback (most recent call last):
...
ValueError: node 1 (box): field 'cod': expected the index of an earlier node (0 to 0), got 2

Nodes are shared, so a few kilobytes can describe a value whose tree is
astronomically large (60 product nodes, each ``x * x`` of the one before, make
an object of 2**60 parts). Printing and normalisation walk that tree, so
``loads`` refuses a document where an object unfolds to more than
``MAX_OBJECT_PARTS`` parts or an arrow (not counting its objects) to more than
``MAX_ARROW_PARTS``, and names the limit:

>>> doubling = [{"kind": "product", "left": i, "right": i} for i in range(60)]
>>> loads(json.dumps({"topos": 1, "nodes": [{"kind": "One"}, *doubling], "root": 60}))
Traceback (most recent call last):
...
ValueError: node 19 (product): unfolds to more than 1000000 parts (MAX_OBJECT_PARTS, ...
"""

from __future__ import annotations

import base64
import importlib
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

from topos import arrows as ar_
from topos.arrows import Arrow, Box, Compose, Curry, Logic
from topos.errors import unfolds_too_far
from topos.objects import Coproduct, Dim, Empty, Exp, Fin, Ob, Product, R, Truth, Unit

__all__ = [
    "MAX_ARROW_PARTS",
    "MAX_OBJECT_PARTS",
    "VERSION",
    "dumps",
    "from_json",
    "loads",
    "to_json",
]

#: The schema version written by ``to_json``; ``from_json`` reads it and version 1.
VERSION = 2
_READABLE = (1, 2)

#: The most parts an object of a document may unfold to (its tree, shared nodes repeated).
MAX_OBJECT_PARTS = 1_000_000

#: The most arrow nodes an arrow of a document may unfold to (its objects not counted;
#: a chain counts its length).
MAX_ARROW_PARTS = 10_000_000

_STRUCTURAL: dict[str, tuple[type[ar_._Structural], int]] = {
    "id": (ar_.Id, 1),
    "fst": (ar_.Fst, 2),
    "snd": (ar_.Snd, 2),
    "copy": (ar_.Copy, 1),
    "discard": (ar_.Discard, 1),
    "swap": (ar_.Swap, 2),
    "inl": (ar_.Inl, 2),
    "inr": (ar_.Inr, 2),
    "absurd": (ar_.Absurd, 1),
    "ev": (ar_.Ev, 2),
}
_BINARY: dict[str, Callable[[Arrow, Arrow], Arrow]] = {
    "tensor": ar_.Tensor,
    "sum": ar_.Sum,
    "pair": ar_.Pair,
    "copair": ar_.Copair,
}
_KIND_OF: dict[type, str] = {
    **{cls: kind for kind, (cls, _) in _STRUCTURAL.items()},
    ar_.Tensor: "tensor",
    ar_.Sum: "sum",
    ar_.Pair: "pair",
    ar_.Copair: "copair",
    Compose: "compose",
    Curry: "curry",
    Logic: "logic",
    Box: "box",
    ar_.Group: "group",
    ar_.Repeat: "repeat",
    ar_.Layer: "layer",
    ar_.Recur: "recur",
    ar_.Stack: "stack",
    ar_.Const: "const",
    R: "R",
    Fin: "Fin",
    Unit: "One",
    Empty: "Zero",
    Truth: "Omega",
    Product: "product",
    Coproduct: "coproduct",
    Exp: "exp",
}
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
# Box attributes nest tuples; deeper than this is certainly not a diagram's attribute.
_MAX_VALUE_DEPTH = 100


def dumps(x: object, indent: int | None = None) -> str:
    """The JSON text of an object or arrow (compact unless ``indent`` is given).

    >>> from topos import R, Box
    >>> loads(dumps(Box("f", R(2), R(3), kind="linear"))).attrs
    {'kind': 'linear'}
    """
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(to_json(x), indent=indent, separators=separators, allow_nan=False)


def loads(s: str | bytes) -> Any:
    """The object or arrow of a JSON text written by ``dumps``.

    >>> from topos import R
    >>> loads(dumps(R(16, 64, dtype="bfloat16")))
    R(16, 64, dtype='bfloat16')
    >>> loads("[1, 2")
    Traceback (most recent call last):
    ...
    ValueError: loads: not JSON: Expecting ',' delimiter: line 1 column 6 (char 5)
    """
    if not isinstance(s, (str, bytes, bytearray)):
        raise TypeError(f"loads: expected a JSON string, got {type(s).__name__}")
    try:
        doc = json.loads(s)
    except RecursionError:
        raise ValueError("loads: not JSON: nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"loads: not JSON: {e}") from None
    return from_json(doc)


# ---------------------------------------------------------------------------------
# Writing


def to_json(x: object) -> dict[str, Any]:
    """The JSON document (plain dicts, lists, strings and numbers) of an object or arrow.

    >>> from topos import R
    >>> to_json(R(2))
    {'topos': 2, 'nodes': [{'kind': 'R', 'shape': [2], 'dtype': 'float32'}], 'root': 0}
    """
    writer = _Writer()
    root = writer.add(x)
    return {"topos": VERSION, "nodes": writer.nodes, "root": root}


class _Writer:
    """Appends nodes in dependency order, each distinct value once."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.index: dict[object, int] = {}

    def add(self, root: object) -> int:
        deps: dict[int, tuple[Any, ...]] = {}
        keep: list[object] = []  # keeps ids in ``deps`` valid while we work
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            x, ready = stack.pop()
            if x in self.index:
                continue
            if ready:
                self.index[x] = len(self.nodes)
                self.nodes.append(self._node(x, deps.pop(id(x))))
                continue
            kids = _deps(x)
            todo = [k for k in reversed(kids) if k not in self.index]
            if not todo:  # a leaf, or its parts are written already: write it now
                self.index[x] = len(self.nodes)
                self.nodes.append(self._node(x, kids))
                continue
            deps[id(x)] = kids
            keep.append(x)
            stack.append((x, True))
            stack.extend((k, False) for k in todo)
        return self.index[root]

    def _node(self, x: Any, kids: tuple[Any, ...]) -> dict[str, Any]:
        kind = _kind(x)
        ref = self.index.__getitem__
        if kind == "R":
            return {"kind": kind, "shape": [_size(k) for k in x.shape], "dtype": x.dtype}
        if kind == "Fin":
            return {"kind": kind, "n": x.n, "shape": [_size(k) for k in x.shape]}
        if kind in ("One", "Zero", "Omega", "logic"):
            return {"kind": kind, "op": x.op} if kind == "logic" else {"kind": kind}
        if kind in ("product", "coproduct"):
            return {"kind": kind, "left": ref(x.left), "right": ref(x.right)}
        if kind == "exp":
            return {"kind": kind, "base": ref(x.base), "exponent": ref(x.exponent)}
        if kind == "box":
            attrs = {k: self._value(v) for k, v in x._attrs}
            return {
                "kind": kind,
                "name": x.name,
                "dom": ref(x.dom),
                "cod": ref(x.cod),
                "attrs": attrs,
            }
        if kind in _STRUCTURAL:
            return {"kind": kind, "obs": [ref(o) for o in x.obs]}
        if kind == "compose":
            return {"kind": kind, "arrows": [ref(f) for f in kids]}
        if kind in _BINARY:
            return {"kind": kind, "left": ref(x.left), "right": ref(x.right)}
        if kind == "curry":
            return {"kind": kind, "arrow": ref(x.arrow)}
        if kind == "group":
            attrs = {k: self._value(v) for k, v in x._attrs}
            return {"kind": kind, "name": x.name, "body": ref(x.body), "attrs": attrs}
        if kind == "repeat":
            return {"kind": kind, "body": ref(x.body), "n": x.n}
        if kind in ("layer", "recur", "stack"):
            return _sequence_node(kind, x, ref)
        if kind == "const":
            return {"kind": kind, "cod": ref(x.cod), "name": x.name, "value": self._value(x.value)}
        return _para_node(x, ref, self._value)

    def _value(self, v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, Dim):
            return _size(v)
        if isinstance(v, float):
            return v if math.isfinite(v) else {"float": repr(v)}
        if isinstance(v, tuple):
            return [self._value(w) for w in v]
        if isinstance(v, ar_.ArrayData):
            data = base64.b64encode(v.data).decode("ascii")
            return {"array": {"shape": list(v.shape), "dtype": v.dtype, "base64": data}}
        if _is_frozen(v):
            init = {"kind": v.init.kind, "args": [self._value(a) for a in v.init.args]}
            ref = {
                "path": v.path,
                "init": init,
                "stacked": v.stacked,
                "value": self._value(v.value),
            }
            return {"frozen": ref}
        return {"node": self.index[v]}


def _sequence_node(kind: str, x: Any, ref: Callable[[Any], int]) -> dict[str, Any]:
    """The JSON of a slice, a fold over a sequence, or a stacking."""
    if kind == "layer":
        return {"kind": kind, "ob": ref(x.ob), "n": x.n, "index": x.index}
    if kind == "recur":
        return {"kind": kind, "cell": ref(x.cell), "n": _size(x.n), "reverse": x.reverse}
    return {"kind": kind, "ob": ref(x.ob), "n": x.n}


def _size(k: Any) -> Any:
    """A shape entry in JSON: an int, or ``{"dim": name, "max": max}`` for a ``Dim``."""
    return {"dim": k.name, "max": k.max} if isinstance(k, Dim) else k


def _kind(x: object) -> str:
    kind = _KIND_OF.get(type(x))
    if kind is None:
        if _is_para(x):
            return "para"
        raise TypeError(
            f"dumps: cannot serialise {type(x).__name__} {x!r}: expected an object or arrow"
        )
    return kind


def _deps(x: Any) -> tuple[Any, ...]:
    """The objects and arrows a node refers to, in the order it lists them."""
    kind = _kind(x)
    if kind in ("product", "coproduct", *_BINARY):
        return (x.left, x.right)
    if kind == "exp":
        return (x.base, x.exponent)
    if kind == "box":
        found: list[object] = [x.dom, x.cod]
        for key, v in x._attrs:
            _collect(v, found, f"box {x.name!r}: attribute {key}")
        return tuple(found)
    if kind in _STRUCTURAL:
        return tuple(x.obs)
    if kind == "compose":
        return x.children  # type: ignore[no-any-return]
    if kind == "curry":
        return (x.arrow,)
    if kind in ("group", "repeat"):
        found = [x.body]
        for key, v in getattr(x, "_attrs", ()):
            _collect(v, found, f"group {x.name!r}: attribute {key}")
        return tuple(found)
    if kind in ("layer", "stack"):
        return (x.ob,)
    if kind == "recur":
        return (x.cell,)
    if kind == "const":
        found = [x.cod]
        _collect(x.value, found, f"constant {x.name!r}: value")
        return tuple(found)
    if kind == "para":
        extra = [x.actegory.E] if hasattr(x.actegory, "E") else []
        return (x.P, x.arrow, *(p.ob for p in x.params), *extra)
    return ()


def _collect(v: object, found: list[object], where: str) -> None:
    """Append the objects and arrows inside an attribute value; reject what JSON can't hold."""
    if v is None or isinstance(v, (bool, int, float, str, Dim)):
        return
    if isinstance(v, (Ob, Arrow)):
        found.append(v)
        return
    if isinstance(v, tuple):
        for w in v:
            _collect(w, found, where)
        return
    if isinstance(v, ar_.ArrayData):
        return
    if _is_frozen(v):
        _collect(getattr(v, "value", None), found, where)
        return
    raise TypeError(
        f"dumps: {where} = {v!r} is a {type(v).__name__}; JSON holds None, bool, int,"
        " float, str, tuples of them, objects and arrows"
    )


# ---------------------------------------------------------------------------------
# Para (an addition to the schema: ``"kind": "para"``), if ``topos.para`` exists.


def _para_module() -> Any:
    return sys.modules.get("topos.para")


def _is_frozen(x: object) -> bool:
    mod = _para_module()
    return mod is not None and isinstance(x, mod.Frozen)


def _is_para(x: object) -> bool:
    # A Para can only exist if topos.para was imported, so no import is needed here.
    mod = _para_module()
    return mod is not None and isinstance(x, mod.Para)


def _para_node(x: Any, ref: Callable[[object], int], value: Callable[[Any], Any]) -> dict[str, Any]:
    mod = _para_module()
    act = x.actegory
    if act == mod.CARTESIAN:
        actegory: dict[str, Any] = {"kind": "cartesian"}
    elif isinstance(act, mod.Global):
        actegory = {"kind": "global", "E": ref(act.E)}
    else:
        raise TypeError(f"dumps: cannot serialise the actegory {act!r} (cartesian or Global(E))")
    params = [
        {
            "path": p.path,
            "ob": ref(p.ob),
            "init": {"kind": p.init.kind, "args": [value(a) for a in p.init.args]},
            "stacked": p.stacked,
        }
        for p in x.params
    ]
    return {
        "kind": "para",
        "P": ref(x.P),
        "arrow": ref(x.arrow),
        "actegory": actegory,
        "params": params,
    }


# ---------------------------------------------------------------------------------
# Reading


class _Bad(Exception):
    """A problem with one field of the node being read (prefixed with the node later)."""


def from_json(doc: Any) -> Any:
    """The object or arrow of a JSON document written by ``to_json``.

    >>> from topos import R, Box
    >>> from_json(to_json(Box("f", R(2), R(2)) >> Box("g", R(2), R(1))))
    Box('f', R(2), R(2)) >> Box('g', R(2), R(1))
    >>> from_json({"topos": 3, "nodes": [], "root": 0})
    Traceback (most recent call last):
    ...
    ValueError: field 'topos': this version of topos reads schema versions 1 and 2, got 3
    """
    if not isinstance(doc, Mapping):
        raise ValueError(f"document: expected a JSON object, got {type(doc).__name__}")
    extra = sorted(set(doc) - {"topos", "nodes", "root"})
    if extra:
        raise ValueError(f"document: unexpected field {extra[0]!r}")
    for name in ("topos", "nodes", "root"):
        if name not in doc:
            raise ValueError(f"document: missing field {name!r}")
    version = doc["topos"]
    if not _is_int(version) or version not in _READABLE:
        raise ValueError(
            f"field 'topos': this version of topos reads schema versions"
            f" {' and '.join(map(str, _READABLE))}, got {version!r}"
        )
    nodes = doc["nodes"]
    if not isinstance(nodes, list) or not nodes:
        raise ValueError(f"field 'nodes': expected a non-empty list, got {_show(nodes)}")
    values: list[Any] = []
    sizes: dict[int, int] = {}
    for i, node in enumerate(nodes):
        values.append(_read(i, node, values, version))
        _check_unfolded(i, node, values[-1], sizes)
    root = doc["root"]
    if not _is_int(root) or not 0 <= root < len(values):
        raise ValueError(
            f"field 'root': expected a node index 0 to {len(values) - 1}, got {root!r}"
        )
    return values[root]


def _check_unfolded(i: int, node: Mapping[str, Any], value: Any, sizes: dict[int, int]) -> None:
    """Record the unfolded size of node ``i`` and of its objects; refuse it past a limit.

    ``sizes`` maps the ``id`` of each object and arrow met so far to its size (the
    values stay alive in the caller's list, so the ids stay valid); each object is
    sized once, so this is linear in the document and the objects it builds.
    """
    try:
        if isinstance(value, Ob):
            _object_size(value, sizes)
            return
        _object_size(value.dom, sizes)  # built by the constructors: pair doubles its codomain
        _object_size(value.cod, sizes)
        _arrow_size(value, sizes)
    except _Bad as e:
        raise ValueError(f"node {i} ({node['kind']}): {e}") from None


def _object_size(x: Ob, sizes: dict[int, int]) -> int:
    stack = [x]
    while stack:
        y = stack[-1]
        if id(y) in sizes:
            stack.pop()
            continue
        parts = [z for z in y._fields() if isinstance(z, Ob)]
        todo = [z for z in parts if id(z) not in sizes]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        sizes[id(y)] = _total(parts, sizes, MAX_OBJECT_PARTS, "MAX_OBJECT_PARTS", "an object")
    return sizes[id(x)]


def _arrow_size(value: Any, sizes: dict[int, int]) -> None:
    arrow = value.arrow if _is_para(value) else value
    parts: list[Any] = [arrow] if arrow is not value else _links(arrow, sizes)
    if isinstance(arrow, Box):
        found: list[object] = []
        for key, v in arrow._attrs:
            _collect(v, found, key)
        parts += [x for x in found if isinstance(x, Arrow)]
    sizes[id(value)] = _total(parts, sizes, MAX_ARROW_PARTS, "MAX_ARROW_PARTS", "an arrow")


def _links(arrow: Arrow, sizes: dict[int, int]) -> list[Arrow]:
    """The children of ``arrow``; of a chain, the arrows already sized that it is built of
    (not ``Compose.children``, which unfolds shared sub-chains)."""
    if not isinstance(arrow, Compose):
        return [*arrow.children]
    out: list[Arrow] = []
    stack: list[Arrow] = [arrow.right, arrow.left]
    while stack:
        x = stack.pop()
        if isinstance(x, Compose) and id(x) not in sizes:
            stack += [x.right, x.left]
        else:
            out.append(x)
    return out


def _total(parts: list[Any], sizes: dict[int, int], limit: int, name: str, what: str) -> int:
    size = 1
    for part in parts:
        size = min(size + sizes.get(id(part), 1), limit + 1)
    if size > limit:
        raise _Bad(unfolds_too_far(limit, name, what))
    return size


def _read(i: int, node: Any, values: list[Any], version: int = VERSION) -> Any:
    if not isinstance(node, Mapping):
        raise ValueError(f"node {i}: expected a JSON object, got {_show(node)}")
    kind = node.get("kind")
    readers = _READERS if version == VERSION else _READERS_V1
    spec = readers.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise ValueError(
            f"node {i}: field 'kind': unknown kind {kind!r} in schema version {version},"
            f" expected one of {sorted(readers)}"
        )
    fields, build = spec
    try:
        if node.keys() != fields:
            missing = sorted(fields - node.keys())
            if missing:
                raise _Bad(f"missing field {missing[0]!r}")
            raise _Bad(f"unexpected field {sorted(node.keys() - fields)[0]!r}")
        return build(_Fields(node, values))
    except _Bad as e:
        raise ValueError(f"node {i} ({kind}): {e}") from None
    except (TypeError, ValueError) as e:  # the constructor's own type check
        raise ValueError(f"node {i} ({kind}): ill-typed: {e}") from None


class _Fields:
    """Typed access to the fields of one node; a bad field raises ``_Bad`` naming it."""

    def __init__(self, node: Mapping[str, Any], values: list[Any]) -> None:
        self.node, self.values = node, values

    def ref(self, name: str, cls: type | tuple[type, ...]) -> Any:
        return self.check_ref(name, self.node[name], cls)

    def check_ref(self, where: str, k: Any, cls: type | tuple[type, ...]) -> Any:
        n = len(self.values)
        if not _is_int(k) or not 0 <= k < n:
            span = f"0 to {n - 1}" if n else "none yet"
            raise _Bad(
                f"field {where!r}: expected the index of an earlier node ({span}), got {k!r}"
            )
        v = self.values[k]
        if not isinstance(v, cls):
            what = (
                "an object" if cls is Ob else "an arrow" if cls is Arrow else "an object or arrow"
            )
            raise _Bad(f"field {where!r}: node {k} is {_a(v)}, expected {what}")
        return v

    def ob(self, name: str) -> Ob:
        return self.ref(name, Ob)  # type: ignore[no-any-return]

    def arrow(self, name: str) -> Arrow:
        return self.ref(name, Arrow)  # type: ignore[no-any-return]

    def refs(self, name: str, cls: type, count: int | None = None) -> list[Any]:
        ks = self.node[name]
        if not isinstance(ks, list) or (count is not None and len(ks) != count):
            size = "a list" if count is None else f"a list of {count}"
            raise _Bad(f"field {name!r}: expected {size} node indices, got {_show(ks)}")
        return [self.check_ref(f"{name}[{j}]", k, cls) for j, k in enumerate(ks)]

    def integer(self, name: str) -> int:
        v = self.node[name]
        if not _is_int(v):
            raise _Bad(f"field {name!r}: expected an int, got {_show(v)}")
        return v  # type: ignore[no-any-return]

    def ints(self, name: str) -> list[int]:
        v = self.node[name]
        if not isinstance(v, list) or not all(_is_int(k) for k in v):
            raise _Bad(f"field {name!r}: expected a list of ints, got {_show(v)}")
        return v

    def sizes(self, name: str) -> list[Any]:
        """A shape: ints and ``{"dim", "max"}`` entries."""
        v = self.node[name]
        if not isinstance(v, list):
            raise _Bad(
                f"field {name!r}: expected a list of ints (or dims {{dim, max}}), got {_show(v)}"
            )
        return [k if _is_int(k) else self.dim(name, k) for k in v]

    def dim(self, where: str, v: Any) -> Dim:
        if not isinstance(v, Mapping) or set(v) != {"dim", "max"}:
            raise _Bad(
                f"field {where!r}: expected a list of ints (or dims {{dim, max}}), got {_show(v)}"
            )
        try:
            return Dim(v["dim"], v["max"])
        except TypeError as e:
            raise _Bad(f"field {where!r}: {e}") from None

    def string(self, name: str) -> str:
        v = self.node[name]
        if not isinstance(v, str):
            raise _Bad(f"field {name!r}: expected a string, got {_show(v)}")
        return v

    def attrs(self, name: str) -> dict[str, Any]:
        v = self.node[name]
        if not isinstance(v, Mapping):
            raise _Bad(f"field {name!r}: expected a JSON object, got {_show(v)}")
        return {k: self.value(f"{name}.{k}", w, 0) for k, w in v.items()}

    def value(self, where: str, v: Any, depth: int) -> Any:
        if depth > _MAX_VALUE_DEPTH:
            raise _Bad(f"field {where!r}: nested deeper than {_MAX_VALUE_DEPTH}")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return tuple(self.value(where, w, depth + 1) for w in v)
        if isinstance(v, Mapping) and set(v) == {"node"}:
            return self.check_ref(where, v["node"], (Ob, Arrow))
        if isinstance(v, Mapping) and set(v) == {"dim", "max"}:
            return self.dim(where, v)
        if isinstance(v, Mapping) and set(v) == {"float"} and v["float"] in _NON_FINITE:
            return _NON_FINITE[v["float"]]
        if isinstance(v, Mapping) and set(v) == {"array"}:
            return self.array(where, v["array"])
        if isinstance(v, Mapping) and set(v) == {"frozen"}:
            return self.frozen(where, v["frozen"], depth)
        raise _Bad(
            f"field {where!r}: expected null, a bool, number, string, list,"
            f' {{"node": i}} or {{"float": "nan" | "inf" | "-inf"}}, got {_show(v)}'
        )

    def array(self, where: str, v: Any) -> ar_.ArrayData:
        if not isinstance(v, Mapping) or v.keys() != {"shape", "dtype", "base64"}:
            raise _Bad(
                f"field {where!r}: expected an array {{shape, dtype, base64}}, got {_show(v)}"
            )
        shape, dtype, data = v["shape"], v["dtype"], v["base64"]
        if not isinstance(shape, list) or not all(_is_int(k) and k >= 0 for k in shape):
            raise _Bad(f"field '{where}.shape': expected a list of ints, got {_show(shape)}")
        if not isinstance(dtype, str) or not isinstance(data, str):
            raise _Bad(f"field {where!r}: dtype and base64 must be strings")
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise _Bad(f"field '{where}.base64': not base64") from None
        return ar_.ArrayData(tuple(shape), dtype, raw)

    def frozen(self, where: str, v: Any, depth: int) -> Any:
        mod = _para_module() or importlib.import_module("topos.para")
        keys = {"path", "init", "stacked", "value"}
        if not isinstance(v, Mapping) or v.keys() != keys:
            raise _Bad(
                f"field {where!r}: expected a frozen parameter {sorted(keys)}, got {_show(v)}"
            )
        init = _read_init(self, f"{where}.init", v["init"], mod)
        if not isinstance(v["path"], str) or not _is_int(v["stacked"]):
            raise _Bad(f"field {where!r}: path must be a string and stacked an int")
        value = self.value(f"{where}.value", v["value"], depth + 1)
        return mod.Frozen(v["path"], init, v["stacked"], value)


def _read_init(f: _Fields, where: str, init: Any, mod: Any) -> Any:
    if not isinstance(init, Mapping) or init.keys() != {"kind", "args"}:
        raise _Bad(f'field \'{where}\': expected {{"kind", "args"}}, got {_show(init)}')
    if not isinstance(init["kind"], str):
        raise _Bad(f"field '{where}.kind': expected a string, got {_show(init['kind'])}")
    if not isinstance(init["args"], list):
        raise _Bad(f"field '{where}.args': expected a list, got {_show(init['args'])}")
    return mod.Init(init["kind"], *f.value(f"{where}.args", init["args"], 0))


def _is_int(v: object) -> bool:
    return type(v) is int or (isinstance(v, int) and not isinstance(v, bool))


def _show(v: object) -> str:
    text = (
        json.dumps(v) if isinstance(v, (dict, list, str, int, float, bool, type(None))) else repr(v)
    )
    return text if len(text) <= 60 else text[:59] + "…"


def _a(v: object) -> str:
    return "an object" if isinstance(v, Ob) else "an arrow" if isinstance(v, Arrow) else "a Para"


def _read_structural(kind: str) -> Callable[[_Fields], Arrow]:
    cls, arity = _STRUCTURAL[kind]
    return lambda f: cls(*f.refs("obs", Ob, arity))


def _read_binary(kind: str) -> Callable[[_Fields], Arrow]:
    cls = _BINARY[kind]
    return lambda f: cls(f.arrow("left"), f.arrow("right"))


def _read_compose(f: _Fields) -> Arrow:
    chain = f.refs("arrows", Arrow)
    if len(chain) < 2:
        raise _Bad(f"field 'arrows': a composite lists at least 2 arrows, got {len(chain)}")
    out: Arrow = chain[0]
    for g in chain[1:]:
        # Compose itself (not >>) keeps identities, so the chain comes back as it was;
        # it checks the types too.
        out = Compose(out, g)
    return out


def _read_para(f: _Fields) -> Any:
    mod = _para_module() or importlib.import_module("topos.para")
    P, arrow = f.ob("P"), f.arrow("arrow")  # noqa: N806 (the mathematical name)
    act = f.node["actegory"]
    if act == {"kind": "cartesian"}:
        actegory = mod.CARTESIAN
    elif isinstance(act, Mapping) and act.keys() == {"kind", "E"} and act["kind"] == "global":
        actegory = mod.Global(f.check_ref("actegory.E", act["E"], Ob))
    else:
        raise _Bad(
            'field \'actegory\': expected {"kind": "cartesian"} or {"kind": "global", "E": i},'
            f" got {_show(act)}"
        )
    entries = f.node["params"]
    if not isinstance(entries, list):
        raise _Bad(f"field 'params': expected a list, got {_show(entries)}")
    params = [_read_param(f, f"params[{j}]", e, mod) for j, e in enumerate(entries)]
    return mod.Para(P, arrow, params, actegory)


def _read_param(f: _Fields, where: str, e: Any, mod: Any) -> Any:
    keys = {"path", "ob", "init", "stacked"}
    if not isinstance(e, Mapping) or e.keys() != keys:
        raise _Bad(
            f"field {where!r}: expected an object with fields {sorted(keys)}, got {_show(e)}"
        )
    if not isinstance(e["path"], str):
        raise _Bad(f"field '{where}.path': expected a string, got {_show(e['path'])}")
    init = _read_init(f, f"{where}.init", e["init"], mod)
    if not _is_int(e["stacked"]):
        raise _Bad(f"field '{where}.stacked': expected an int, got {_show(e['stacked'])}")
    ob = f.check_ref(f"{where}.ob", e["ob"], Ob)
    return mod.Param(e["path"], ob, init, e["stacked"])


_READERS_SPEC: dict[str, tuple[tuple[str, ...], Callable[[_Fields], Any]]] = {
    "R": (("shape", "dtype"), lambda f: R(*f.sizes("shape"), dtype=f.string("dtype"))),
    "Fin": (("n", "shape"), lambda f: Fin(f.integer("n"), *f.sizes("shape"))),
    "One": ((), lambda f: Unit()),
    "Zero": ((), lambda f: Empty()),
    "Omega": ((), lambda f: Truth()),
    "product": (("left", "right"), lambda f: Product(f.ob("left"), f.ob("right"))),
    "coproduct": (("left", "right"), lambda f: Coproduct(f.ob("left"), f.ob("right"))),
    "exp": (("base", "exponent"), lambda f: Exp(f.ob("base"), f.ob("exponent"))),
    "box": (
        ("name", "dom", "cod", "attrs"),
        lambda f: Box(f.string("name"), f.ob("dom"), f.ob("cod"), **f.attrs("attrs")),
    ),
    **{kind: (("obs",), _read_structural(kind)) for kind in _STRUCTURAL},
    "logic": (("op",), lambda f: Logic(f.string("op"))),
    "compose": (("arrows",), _read_compose),
    **{kind: (("left", "right"), _read_binary(kind)) for kind in _BINARY},
    "curry": (("arrow",), lambda f: Curry(f.arrow("arrow"))),
    "group": (
        ("name", "body", "attrs"),
        lambda f: ar_.Group(f.string("name"), f.arrow("body"), **f.attrs("attrs")),
    ),
    "repeat": (("body", "n"), lambda f: ar_.Repeat(f.arrow("body"), f.integer("n"))),
    "layer": (
        ("ob", "n", "index"),
        lambda f: ar_.Layer(f.ob("ob"), f.integer("n"), f.integer("index")),
    ),
    "recur": (("cell", "n", "reverse"), lambda f: _read_recur(f)),
    "stack": (("ob", "n"), lambda f: ar_.Stack(f.ob("ob"), f.integer("n"))),
    "const": (
        ("cod", "name", "value"),
        lambda f: ar_.Const(f.ob("cod"), f.value("value", f.node["value"], 0), f.string("name")),
    ),
    "para": (("P", "arrow", "actegory", "params"), _read_para),
}


def _read_recur(f: _Fields) -> Arrow:
    n = f.node["n"]
    length = n if _is_int(n) else f.dim("n", n)
    reverse = f.node["reverse"]
    if not isinstance(reverse, bool):
        raise _Bad(f"field 'reverse': expected a boolean, got {_show(reverse)}")
    return ar_.Recur(f.arrow("cell"), length, reverse)


def _read_box_v1(f: _Fields) -> Arrow:
    """A version-1 box: named sub-diagrams, repeats and constants were boxes then."""
    name, attrs = f.string("name"), f.attrs("attrs")
    dom, cod = f.ob("dom"), f.ob("cod")
    body = attrs.pop("body", None)
    if name == "repeat" and isinstance(body, Arrow):
        out: Arrow = ar_.Repeat(body, _repeat_count(attrs))
    elif isinstance(body, Arrow):
        out = ar_.Group(name, body, **attrs)
    elif name == "const" and isinstance(attrs.get("path"), str) and "init" in attrs:
        mod = _para_module() or importlib.import_module("topos.para")
        kind, *args = attrs["init"]
        ref = mod.Frozen(
            attrs["path"], mod.Init(kind, *args), attrs.get("stacked", 0), attrs.get("value")
        )
        out = ar_.Const(cod, ref, attrs["path"])
    else:
        return Box(name, dom, cod, **attrs)
    if (out.dom, out.cod) != (dom, cod):
        raise _Bad(
            f"box {name!r}: its body has type {out.dom!r} -> {out.cod!r}, not {dom!r} -> {cod!r}"
        )
    return out


def _repeat_count(attrs: Mapping[str, Any]) -> int:
    """The ``n`` of a version-1 repeat box: the number of layers."""
    if "n" not in attrs:
        raise _Bad("box 'repeat': attribute 'n' (the number of layers) is missing")
    n = attrs["n"]
    if not _is_int(n):
        raise _Bad(f"box 'repeat': attribute 'n' (the number of layers) must be an int, got {n!r}")
    return n  # type: ignore[no-any-return]


# Each kind's complete set of keys, "kind" included.
_READERS: dict[str, tuple[frozenset[str], Callable[[_Fields], Any]]] = {
    kind: (frozenset(("kind", *fields)), build) for kind, (fields, build) in _READERS_SPEC.items()
}
_V2_ONLY = ("group", "repeat", "layer", "const")
_READERS_V1 = {k: v for k, v in _READERS.items() if k not in _V2_ONLY}
_READERS_V1["box"] = (_READERS["box"][0], _read_box_v1)
