"""Any JAX function or module as a diagram: ``from_jax`` reads its jaxpr.

``from_jax(fn, *example_args)`` traces ``fn`` with ``jax.make_jaxpr`` and reads
the program into an arrow of the free category; a module (Equinox, Flax NNX), or
a function ``fn(params, *xs)`` given ``params=``, becomes a ``Para`` whose
parameters are the module's array leaves, named by their pytree paths
(``imported_params`` gives their values). It is a functor from jaxprs into the
free category: each equation becomes a box, the wiring of the variables becomes
pairs, projections and copies, literals and captured arrays become constants.

- Operations the vocabulary has a box for become that box (``dot_general`` an
  ``einsum``, ``max(x, 0)`` a ``relu``, ``add``, ``exp``, ``reduce_sum`` over one
  axis, ``reshape``, ``transpose``, NumPy-style ``broadcast_in_dim``, ``logistic``
  the ``sigmoid`` ...), so ``analyze``, ``regions``/``explain`` and ``optimize``
  read an imported model as they read a native one.
- Every other operation becomes a ``foreign`` box (``topos.nn.primitives``) that
  carries the primitive and its parameters and runs by calling it back with
  ``bind``: its class is the one known for it (``broadcast_in_dim`` linear,
  ``select_n`` piecewise linear, ``integer_pow`` polynomial of its degree), or
  ``"unknown"``, which ``analyze`` counts as smooth and names in a witness.
- ``jit`` (pjit), ``closed_call``, ``remat``, ``custom_jvp_call`` and
  ``custom_vjp_call`` are inlined (the custom derivative rule is dropped: the
  derivative of the inlined body is used, which differs only where the rule
  chose a subgradient, as ``relu``'s at 0 — and ``relu`` itself is the
  vocabulary's, with JAX's rule). ``scan``, ``while`` and ``cond`` stay whole,
  as ``foreign`` boxes of class ``"unknown"``.
- What cannot be a box says so, naming the primitive: a side effect
  (``jax.debug.print``, callbacks), an array of a dtype no object holds
  (complex, PRNG keys), a shape that is not concrete.

Arrays are objects by dtype: floating ``R(*shape, dtype)``, integer ``Fin(2**31,
*shape)`` (``2**bits`` labels for unsigned, ``2**(bits-1)`` for signed),
boolean ``Fin(2, *shape)``. Several inputs or outputs (pytree leaves, in
``jax.tree.leaves`` order) form left-nested products ``((a * b) * c)``.

Round trip: ``compile(from_jax(f, x))`` computes ``f`` — the same primitives, so
bit for bit where the vocabulary box is the same JAX operation:

>>> import jax, jax.numpy as jnp
>>> from backends.jax import compile
>>> def f(x, w):
...     return jax.nn.relu(x @ w + 1.0).sum(axis=-1)
>>> x, w = jnp.ones((4, 3)), jnp.full((3, 5), 0.5)
>>> arrow = from_jax(f, x, w)
>>> arrow.dom, arrow.cod
(R(4, 3) * R(3, 5), R(4))
>>> bool((jax.jit(compile(arrow))((x, w)) == f(x, w)).all())
True
>>> sorted({b.name for b in boxes(arrow)})
['add', 'einsum', 'reduce_sum', 'relu']

An operation nothing is known about stays itself, and says so:

>>> from topos.analysis import analyze
>>> report = analyze(from_jax(lambda x: jnp.cumprod(x), jnp.ones(3)))
>>> report.cls, report.witnesses[0].reason
('smooth', 'unknown box foreign cumprod (counted smooth)')
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np
from jax._src import source_info_util
from jax.extend.core import ClosedJaxpr, Jaxpr, Literal, Var

from backends.jax.core.compile import constant
from backends.jax.core.foreign import Bind, Value
from topos.arrows import (
    Arrow,
    Box,
    Const,
    Id,
    Repeat,
    compose,
    discard,
    fst,
    group,
    pair,
    snd,
    stacked,
)
from topos.errors import TypeMismatch
from topos.nn import primitives as P
from topos.objects import DTYPES, Fin, Ob, One, Product, R
from topos.para import Para
from topos.para.init import DEFAULT_INIT

__all__ = ["FromJaxError", "boxes", "from_jax", "imported_params"]


class FromJaxError(TypeError):
    """A construct of the jaxpr cannot be a diagram; the message names it and what is needed.

    >>> issubclass(FromJaxError, TypeError)
    True
    """


#: Primitives inlined: their body is read in place (their parameter holding it).
INLINED = {
    "pjit": "jaxpr",
    "jit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "remat": "jaxpr",
    "remat2": "jaxpr",
    "checkpoint": "jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "custom_vjp_call_jaxpr": "fun_jaxpr",
    "custom_lin": "",  # never in a forward program
}

_LINEAR = (
    "broadcast_in_dim reshape squeeze expand_dims transpose concatenate slice dynamic_slice"
    " dynamic_update_slice gather scatter-add scatter_add pad rev iota convert_element_type copy"
    " copy_p stop_gradient reduce_sum cumsum neg sharding_constraint mesh_cast split"
).split()
# piecewise linear: a finite case split on the input, affine on each piece (comparisons and
# rounding are piecewise constant); bit manipulations of integers are left unknown
_PL = (
    "max min abs sign select_n reduce_max reduce_min argmax argmin lt le gt ge eq ne floor ceil"
    " round clamp and or not xor sort cummax cummin reduce_and reduce_or rem reduce_precision"
).split()
_SMOOTH = (
    "exp exp2 log log1p expm1 tanh logistic erf erfc erf_inv sin cos tan asin acos atan atan2"
    " sinh cosh asinh acosh atanh sqrt rsqrt cbrt pow lgamma digamma div"
).split()
#: The class known for each JAX primitive kept whole (others are ``"unknown"``).
KNOWN_CLASSES: dict[str, str] = {
    **dict.fromkeys(_LINEAR, "linear"),
    **dict.fromkeys(_PL, "pl"),
    **dict.fromkeys(_SMOOTH, "smooth"),
    "integer_pow": "polynomial",
    "conv_general_dilated": "bilinear",
    "reduce_window_max": "pl",
    "reduce_window_min": "pl",
    "reduce_window_sum": "linear",
    "cumlogsumexp": "smooth",
    "square": "polynomial",
    "mul": "bilinear",
    "dot_general": "bilinear",
}

_UNARY: dict[str, Callable[[Ob], Box]] = {
    "exp": P.exp,
    "log": P.log,
    "tanh": P.tanh,
    "logistic": P.sigmoid,
    "erf": P.erf,
    "sin": P.sin,
    "cos": P.cos,
    "sqrt": P.sqrt,
    "rsqrt": P.rsqrt,
}
_BINARY: dict[str, Callable[[Ob, Ob], Box]] = {
    "add": P.add,
    "sub": P.sub,
    "mul": P.mul,
    "div": P.div,
}


# -- objects -------------------------------------------------------------------------------


def _ob(aval: Any, where: str) -> Ob:
    """The object of a jaxpr variable's abstract value."""
    shape = getattr(aval, "shape", None)
    dtype = getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        raise FromJaxError(f"{where}: a value of type {aval} is not an array; only arrays import")
    if not all(isinstance(k, int) for k in shape):
        raise FromJaxError(
            f"{where}: the shape {shape} is not concrete; trace with concrete shapes"
        )
    dt = np.dtype(dtype) if not str(dtype).startswith("key") else None
    if dt is not None and dt.name in DTYPES:
        return R(*shape, dtype=dt.name)
    if dt is not None and dt == np.bool_:
        return Fin(2, *shape)
    if dt is not None and np.issubdtype(dt, np.integer):
        bits = dt.itemsize * 8
        return Fin(2 ** (bits if np.issubdtype(dt, np.unsignedinteger) else bits - 1), *shape)
    raise FromJaxError(
        f"{where}: arrays of dtype {dtype} have no object (R holds {', '.join(DTYPES)}; Fin holds"
        " integers and booleans); convert them, or keep this part outside the imported function"
    )


def _nested(obs: Sequence[Ob]) -> Ob:
    """The left-nested product ``((a * b) * c)`` of ``obs``; ``One`` when empty."""
    if not obs:
        return One
    out = obs[0]
    for x in obs[1:]:
        out = out * x
    return out


def _way(n: int, i: int) -> tuple[bool, ...]:
    """The way to factor ``i`` of a left-nested product of ``n`` (False = left)."""
    way: list[bool] = []
    while n > 1:
        if i == n - 1:
            way.append(True)
            break
        way.append(False)
        n -= 1
    return tuple(way)


def _project(x: Ob, way: Sequence[bool]) -> Arrow:
    steps: list[Arrow] = [Id(x)]
    for right in way:
        assert isinstance(x, Product)
        steps.append(snd(x.left, x.right) if right else fst(x.left, x.right))
        x = x.right if right else x.left
    return compose(*steps)


_Placed = list[tuple[tuple[bool, ...], list[Any]]]


def _prune(x: Ob, trie: dict[Any, Any]) -> tuple[Arrow, Ob, _Placed]:
    """``x -> x'``: the part of ``x`` the trie's ways reach, and where each wire lands.

    A node wanted whole (a wire ends there) is kept whole; a product with one side
    wanted collapses to that side, so the result has only branching products.
    """
    if None in trie:
        return Id(x), x, [((), trie[None])]
    assert isinstance(x, Product)
    sides = []
    for right in (False, True):
        if right in trie:
            part = x.right if right else x.left
            proj = snd(x.left, x.right) if right else fst(x.left, x.right)
            arrow, ob, placed = _prune(part, trie[right])
            sides.append((proj >> arrow, ob, placed))
    if len(sides) == 1:
        return sides[0]
    (fa, oa, pa), (fb, ob_, pb) = sides
    placed = [((False, *w), ws) for w, ws in pa] + [((True, *w), ws) for w, ws in pb]
    return pair(fa, fb), oa * ob_, placed


def _balanced_pair(parts: Sequence[Arrow]) -> Arrow:
    if len(parts) == 1:
        return parts[0]
    half = (len(parts) + 1) // 2
    return pair(_balanced_pair(parts[:half]), _balanced_pair(parts[half:]))


def _balanced_way(n: int, i: int) -> tuple[bool, ...]:
    """The way to leaf ``i`` of ``_balanced_pair`` over ``n`` leaves."""
    way: list[bool] = []
    while n > 1:
        half = (n + 1) // 2
        if i < half:
            way.append(False)
            n = half
        else:
            way.append(True)
            i, n = i - half, n - half
    return tuple(way)


# -- values while reading: a wire of the environment, or a constant ---------------------------


class _Wire:
    """A value held in the environment ``Γ``, found by its way down the product."""

    __slots__ = ("ob", "way", "gen")

    def __init__(self, ob: Ob, way: tuple[bool, ...], gen: int = 0) -> None:
        # ``way`` as it was at step ``gen``; each later step puts Γ on the left of a pair
        self.ob, self.way, self.gen = ob, way, gen


class _Constant:
    """A literal or a captured array: made from nothing where it is used."""

    __slots__ = ("ob", "arrow", "value")

    def __init__(self, ob: Ob, arrow: Arrow, value: Any) -> None:
        self.ob, self.arrow, self.value = ob, arrow, value


_Handle = _Wire | _Constant


def _constant(value: Any, aval: Any, where: str) -> _Constant:
    ob = _ob(aval, where)
    arr = np.asarray(value, dtype=np.dtype(aval.dtype))
    if isinstance(ob, R) and arr.shape == ():
        return _Constant(ob, Const(ob, float(arr)), arr)
    if isinstance(ob, R):
        return _Constant(ob, constant(arr, name="const", dtype=ob.dtype), arr)
    return _Constant(ob, P.foreign("constant", One, ob, cls="linear", call=Value(arr)), arr)


# -- the reader ------------------------------------------------------------------------------


class _Reader:
    """Reads equations into a chain of steps ``Γ -> Γ * Y`` over a growing environment."""

    def __init__(self, gamma: Ob, sources: bool) -> None:
        self.gamma = gamma
        self.steps: list[Arrow] = []
        self.sources = sources
        self.levels: list[dict[Any, _Handle]] = []  # live variables, per inlined jaxpr
        self.growth = 0  # steps since the last compaction
        self.gen = 0  # steps so far (a wire's way is relative to the step it was placed at)

    # -- wiring
    def _operands(self, handles: Sequence[_Handle]) -> Arrow:
        """``Γ -> X``: the left-nested tuple of the operands."""
        parts = [
            _project(self.gamma, self.way(h))
            if isinstance(h, _Wire)
            else discard(self.gamma) >> h.arrow
            for h in handles
        ]
        if not parts:
            return discard(self.gamma)
        out = parts[0]
        for part in parts[1:]:
            out = pair(out, part)
        return out

    def emit(
        self, handles: Sequence[_Handle], arrow: Arrow, outs: Sequence[Ob], split: int = 0
    ) -> list[_Wire]:
        """Add the step ``⟨id, operands ; arrow⟩: Γ -> Γ * Y``; the wires of ``Y``'s parts.

        With ``split`` the operands are the pair of the first ``split`` and the rest.
        """
        ops = (
            pair(self._operands(handles[:split]), self._operands(handles[split:]))
            if split
            else self._operands(handles)
        )
        step = pair(Id(self.gamma), ops >> arrow)
        self.steps.append(step)
        self.gamma = step.cod
        self.gen += 1  # every older wire is now one step further left (see ``way``)
        self.growth += 1
        return [_Wire(ob, (True, *_way(len(outs), i)), self.gen) for i, ob in enumerate(outs)]

    def way(self, w: _Wire) -> tuple[bool, ...]:
        """The way down the current ``Γ`` to the wire ``w``."""
        return (False,) * (self.gen - w.gen) + w.way

    def compact(self, force: bool = False) -> None:
        """Keep only the live wires: ``Γ`` pruned to them, rebalanced when it gets deep.

        Pruning shares the ways' prefixes, so it costs the size of the pruned tree;
        a rebalancing (when the tree is deeper than twice a balanced one) costs the
        wires times that depth. Between compactions a step adds one level.
        """
        wires = self._live()
        if not force and self.growth <= 8 + len(wires).bit_length():
            return
        trie: dict[Any, Any] = {}
        for w in wires:
            node = trie
            for right in self.way(w):
                node = node.setdefault(right, {})
            node.setdefault(None, []).append(w)
        arrow, ob, placed = _prune(self.gamma, trie)
        self.steps.append(arrow)
        self.gamma = ob
        self.gen += 1
        depth = max((len(way) for way, _ in placed), default=0)
        if depth > 2 * max(1, len(placed)).bit_length() + 4:
            ways = [way for way, _ in placed]
            self.steps.append(self._tuple(ways, balanced=True))
            self.gamma = self.steps[-1].cod
            self.gen += 1
            placed = [(_balanced_way(len(ways), i), ws) for i, (_, ws) in enumerate(placed)]
        for way, ws in placed:
            for w in ws:
                w.way, w.gen = way, self.gen
        self.growth = 0

    def _live(self) -> list[_Wire]:
        """The live wires, each once (an inlined call's inputs sit in two levels)."""
        live: dict[int, _Wire] = {}
        for level in self.levels:
            for h in level.values():
                if isinstance(h, _Wire):
                    live.setdefault(id(h), h)
        return list(live.values())

    def _tuple(self, ways: Sequence[tuple[bool, ...]], balanced: bool = False) -> Arrow:
        if not ways:
            return discard(self.gamma)
        parts = [_project(self.gamma, way) for way in ways]
        if balanced:
            return _balanced_pair(parts)
        out = parts[0]
        for part in parts[1:]:
            out = pair(out, part)
        return out

    # -- jaxprs
    def read(self, jaxpr: Jaxpr, consts: Sequence[Any], inputs: Sequence[_Handle]) -> list[_Handle]:
        """Read ``jaxpr`` with its invars bound to ``inputs``; the handles of its outvars."""
        env: dict[Var, _Handle] = {}
        for v, c in zip(jaxpr.constvars, consts, strict=True):
            env[v] = _constant(c, v.aval, f"a constant of {_name(jaxpr)}")
        for v, h in zip(jaxpr.invars, inputs, strict=True):
            env[v] = h
        last: dict[Var, int] = {}
        for i, eqn in enumerate(jaxpr.eqns):
            for u in eqn.invars:
                if isinstance(u, Var):
                    last[u] = i
        for u in jaxpr.outvars:
            if isinstance(u, Var):
                last[u] = len(jaxpr.eqns)
        for v in list(env):
            if v not in last:
                del env[v]
        self.levels.append(env)
        try:
            for i, eqn in enumerate(jaxpr.eqns):
                operands = [self._atom(env, v) for v in eqn.invars]
                results = self.equation(eqn, operands)
                for out, h in zip(eqn.outvars, results, strict=True):
                    if isinstance(out, Var) and out in last:
                        env[out] = h
                for u in eqn.invars:
                    if isinstance(u, Var) and last.get(u) == i:
                        env.pop(u, None)
                self.compact()
            return [self._atom(env, v) for v in jaxpr.outvars]
        finally:
            self.levels.pop()

    def _atom(self, env: dict[Var, _Handle], v: Any) -> _Handle:
        if isinstance(v, Literal):
            return _constant(v.val, v.aval, "a literal")
        return env[v]

    def equation(self, eqn: Any, operands: list[_Handle]) -> list[_Handle]:
        name = eqn.primitive.name
        if eqn.effects:
            effects = ", ".join(map(str, eqn.effects))
            raise FromJaxError(
                f"from_jax: the primitive {name!r} has side effects ({effects});"
                " a box of a diagram is a pure map: remove it (jax.debug.print, callbacks) from"
                " the imported function"
            )
        if name in INLINED:
            return self._inline(eqn, operands)
        if name == "scan":
            layers = self._scan(eqn, operands)
            if layers is not None:
                return layers
        outs = [_ob(v.aval, f"from_jax: the output of {name!r}") for v in eqn.outvars]
        ins = [h.ob for h in operands]
        used, arrow = _lower(eqn, operands, ins, outs)
        if self.sources and isinstance(arrow, Box):
            arrow = group(_source(eqn), arrow)
        if isinstance(arrow, Id) and len(used) == 1:
            return [operands[used[0]]]
        return list(self.emit([operands[k] for k in used], arrow, outs))

    def _scan(self, eqn: Any, operands: list[_Handle]) -> list[_Handle] | None:
        """A ``scan`` over stacked weights (no outputs per step) as a ``Repeat``; else None.

        The scanned arrays are the layers' parameters ``stacked(P, n)``; the loop's
        constants travel in the state beside the carry, unchanged by each layer.
        """
        p = eqn.params
        nc, nk, n = p["num_consts"], p["num_carry"], p["length"]
        if p["reverse"] or len(eqn.outvars) != nk or n < 1 or len(operands) == nc + nk:
            return None
        body: ClosedJaxpr = p["jaxpr"]
        slices = [_ob(v.aval, "from_jax: a scanned slice") for v in body.jaxpr.invars[nc + nk :]]
        state = [h.ob for h in operands[: nc + nk]]
        if not all(isinstance(x, R) for x in slices):
            return None  # stacked parameters are real arrays
        p_ob, a_ob = _nested(slices), _nested(state)
        inner = _Reader(p_ob * a_ob, self.sources)
        keep = [_Wire(x, (True, *_way(len(state), i))) for i, x in enumerate(state)]
        xs = [_Wire(x, (False, *_way(len(slices), i))) for i, x in enumerate(slices)]
        inner.levels.append(dict(enumerate(keep[:nc])))  # the constants pass through
        outs = inner.read(body.jaxpr, body.consts, keep + xs)
        layer = compose(Id(p_ob * a_ob), *inner.steps, inner._operands(keep[:nc] + outs))
        if layer.cod != a_ob or stacked(p_ob, n) != _nested([h.ob for h in operands[nc + nk :]]):
            return None
        wires = self.emit(
            operands[nc + nk :] + operands[: nc + nk], Repeat(layer, n), [a_ob], len(slices)
        )
        (whole,) = wires
        return [
            _Wire(x, (*whole.way, *_way(len(state), nc + j)), whole.gen)
            for j, x in enumerate(state[nc:])
        ]

    def _inline(self, eqn: Any, operands: list[_Handle]) -> list[_Handle]:
        name = eqn.primitive.name
        body = eqn.params.get(INLINED[name]) if INLINED[name] else None
        if isinstance(body, ClosedJaxpr):
            return self.read(body.jaxpr, body.consts, operands)
        if isinstance(body, Jaxpr):
            return self.read(body, [], operands)
        raise FromJaxError(
            f"from_jax: the primitive {name!r} holds no jaxpr to inline (params:"
            f" {sorted(eqn.params)}); import the function before transforming it"
        )


def _name(jaxpr: Jaxpr) -> str:
    info = getattr(jaxpr, "debug_info", None)
    return str(getattr(info, "func_name", None) or "the jaxpr")


def _source(eqn: Any) -> str:
    """The qualified name of the innermost user function that emitted ``eqn``."""
    tb = eqn.source_info.traceback
    if tb is None:
        return str(eqn.primitive.name)
    codes, _ = tb.raw_frames()
    for code in codes:
        if source_info_util.is_user_filename(code.co_filename):
            return str(getattr(code, "co_qualname", code.co_name))
    return str(eqn.primitive.name)


# -- lowering one equation to the vocabulary -------------------------------------------------


def _floats(*obs: Ob) -> bool:
    return all(isinstance(x, R) for x in obs)


def _is_zero(h: _Handle) -> bool:
    return isinstance(h, _Constant) and bool(np.all(h.value == 0))


def _lower(
    eqn: Any, operands: list[_Handle], ins: list[Ob], outs: list[Ob]
) -> tuple[list[int], Arrow]:
    """The operands used and the arrow ``X -> Y`` of one equation."""
    box = _vocabulary(eqn, operands, ins, outs) if len(outs) == 1 and _floats(*ins, *outs) else None
    if box is not None:
        return box
    name = eqn.primitive.name
    if name in ("convert_element_type", "copy", "copy_p") and ins == outs:
        return [0], Id(ins[0])
    cls = KNOWN_CLASSES.get(name, "unknown")
    if name == "convert_element_type" and not _floats(*outs):
        cls = "pl"  # a float rounded to an integer or a boolean: piecewise constant
    extra: dict[str, Any] = {}
    if name == "integer_pow":
        extra["degree"] = int(eqn.params["y"])
        cls = "polynomial" if extra["degree"] >= 0 else "smooth"
    elif name == "square":
        extra["degree"] = 2
    if cls == "bilinear" and len(ins) != 2:
        cls = "polynomial"
    dtypes = tuple(str(np.dtype(v.aval.dtype)) for v in eqn.invars)
    call = Bind(eqn.primitive, eqn.params, dtypes)
    return list(range(len(ins))), P.foreign(
        name, _nested(ins), _nested(outs), cls=cls, call=call, **extra
    )


def _vocabulary(
    eqn: Any, operands: list[_Handle], ins: list[Ob], outs: list[Ob]
) -> tuple[list[int], Arrow] | None:
    """The vocabulary's box for the equation, where one computes exactly it."""
    name, params, out = eqn.primitive.name, eqn.params, outs[0]
    try:
        plain = all(v is None for v in params.values())
        if name in _UNARY and plain:
            return [0], _UNARY[name](ins[0])
        if name in _BINARY and plain:
            return [0, 1], _BINARY[name](ins[0], ins[1])
        if name == "max" and ins[0] == out and _is_zero(operands[1]):
            return [0], P.relu(out)
        if name == "max" and ins[1] == out and _is_zero(operands[0]):
            return [1], P.relu(out)
        if name == "neg":
            return [0], P.scale(ins[0], -1.0)
        if name == "dot_general":
            return _dot_general(params, ins, out)
        if (
            name in ("reduce_sum", "reduce_max")
            and len(params["axes"]) == 1
            and not _sharded(params)
        ):
            op = P.reduce_sum if name == "reduce_sum" else P.reduce_max
            return [0], op(ins[0], params["axes"][0])
        whole = name == "squeeze" or (name == "reshape" and params.get("dimensions") is None)
        if whole and not _sharded(params):
            return [0], P.reshape(ins[0], *getattr(out, "shape", ()))
        if name == "transpose":
            return [0], P.transpose(ins[0], tuple(params["permutation"]))
        if name == "broadcast_in_dim" and not _sharded(params):
            return _broadcast(params, ins[0], out)
        if name == "concatenate" and len(ins) == 2:
            return [0, 1], P.concat(ins[0], ins[1], params["dimension"])
        if name == "slice":
            return _slice(params, ins[0])
    except TypeMismatch:
        return None  # the vocabulary's box does not fit: keep the primitive itself
    return None


def _sharded(params: dict[str, Any]) -> bool:
    return any(params.get(k) is not None for k in ("sharding", "out_sharding"))


def _dot_general(params: dict[str, Any], ins: list[Ob], out: Ob) -> tuple[list[int], Arrow] | None:
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    pref = params.get("preferred_element_type")
    a, b = ins
    assert isinstance(a, R) and isinstance(b, R) and isinstance(out, R)
    if params.get("precision") is not None or _sharded(params):
        return None
    if pref is not None and np.dtype(pref).name != out.dtype:
        return None
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    sa = [next(letters) for _ in a.shape]
    sb = [""] * len(b.shape)
    for i, j in zip(lc, rc, strict=True):
        sb[j] = sa[i]
    for i, j in zip(lb, rb, strict=True):
        sb[j] = sa[i]
    sb = [c or next(letters) for c in sb]
    free_a = [sa[i] for i in range(len(sa)) if i not in lc and i not in lb]
    free_b = [sb[j] for j in range(len(sb)) if j not in rc and j not in rb]
    spec = f"{''.join(sa)},{''.join(sb)}->{''.join([sa[i] for i in lb] + free_a + free_b)}"
    box = P.einsum(spec, a, b)
    return ([0, 1], box) if box.cod == out else None


def _broadcast(params: dict[str, Any], x: Ob, out: Ob) -> tuple[list[int], Arrow] | None:
    assert isinstance(x, R) and isinstance(out, R)
    n, m = len(x.shape), len(out.shape)
    if tuple(params["broadcast_dimensions"]) != tuple(range(m - n, m)):
        return None
    if x == out:
        return [0], Id(x)
    return [0], P.broadcast(x, *out.shape)


def _slice(params: dict[str, Any], x: Ob) -> tuple[list[int], Arrow] | None:
    assert isinstance(x, R)
    strides = params.get("strides")
    if strides is not None and any(s != 1 for s in strides):
        return None
    start, limit = params["start_indices"], params["limit_indices"]
    cut = [k for k, n in enumerate(x.shape) if (start[k], limit[k]) != (0, n)]
    if not cut:
        return [0], Id(x)
    if len(cut) > 1:
        return None
    k = cut[0]
    return [0], P.slice_axis(x, start[k], limit[k], axis=k)


# -- the entry points ------------------------------------------------------------------------


def _path(keys: Sequence[Any]) -> str:
    parts: list[str] = []
    for k in keys:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    if len(parts) > 1 and parts[-1] == "value":  # an NNX variable's payload
        parts.pop()
    return ".".join(parts) or "param"


def _module_split(module: Any) -> tuple[Callable[..., Any], Any] | None:
    """``(call, tree)`` with ``call(tree, *xs) == module(*xs)`` for a module; else None."""
    import equinox as eqx  # noqa: PLC0415 - imported with backends.jax anyway

    if isinstance(module, eqx.Module):
        tree, static = eqx.partition(module, eqx.is_inexact_array)

        def run_eqx(t: Any, *xs: Any) -> Any:
            return eqx.combine(t, static)(*xs)

        return run_eqx, tree
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(module, nnx.Module):
        graphdef, tree, rest = nnx.split(module, nnx.Param, ...)

        def run_nnx(t: Any, *xs: Any) -> Any:
            return nnx.merge(graphdef, t, rest)(*xs)

        return run_nnx, tree
    return None


def imported_params(module: Any) -> dict[str, Any]:
    """The parameter values of a module, by the paths ``from_jax`` gives them.

    >>> import jax, equinox as eqx
    >>> sorted(imported_params(eqx.nn.Linear(2, 3, key=jax.random.key(0))))
    ['bias', 'weight']
    """
    split = _module_split(module)
    if split is None:
        raise FromJaxError(
            f"imported_params: expected an Equinox or Flax NNX module, got {type(module).__name__}"
        )
    return _leaves_by_path(split[1])


def _leaves_by_path(tree: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for keys, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        path = _path(keys)
        if path in out:
            raise FromJaxError(f"from_jax: two parameters have the path {path!r}")
        out[path] = leaf
    return out


def from_jax(
    fn: Callable[..., Any],
    *example_args: Any,
    params: Any = None,
    sources: bool = False,
    labels: Sequence[int | None] | None = None,
) -> Arrow | Para:
    """The diagram of a JAX function or module, read from its jaxpr.

    ``fn`` is traced on ``example_args`` (arrays, or pytrees of arrays: their
    leaves are the inputs). A plain function gives an ``Arrow`` from the
    left-nested product of the input leaves to that of the output leaves. An
    Equinox module (its inexact array leaves) or a Flax NNX module (its
    ``nnx.Param`` state), or a function ``fn(params, *xs)`` with ``params=`` a
    pytree, gives a ``Para`` whose parameters are those leaves, named by their
    pytree paths (``"layers.0.kernel"``); ``imported_params(module)`` gives the
    values, so ``apply(p, imported_params(m), x)`` computes ``m(x)``, and
    ``init``, ``fit`` and ``generate`` take the imported model like any Para.
    ``sources=True`` puts each box in a group named after the Python function
    that emitted it (``Attention.__call__``), so witnesses and drawings say where.
    ``labels`` gives, per input leaf, the number of labels of an integer input
    (``Fin(V, ...)``: token ids below ``V``, checked by ``compile`` and ``apply``),
    or None to keep the dtype's bound.

    >>> import jax, jax.numpy as jnp, equinox as eqx
    >>> from backends.jax import apply
    >>> lin = eqx.nn.Linear(3, 2, key=jax.random.key(0))
    >>> p = from_jax(lin, jnp.ones(3))
    >>> print(p)
    Para(weight: R(2, 3), bias: R(2); R(3) -> R(2))
    >>> bool((apply(p, imported_params(lin), jnp.ones(3)) == lin(jnp.ones(3))).all())
    True
    """
    if params is None:
        split = _module_split(fn)
        if split is not None:
            call, tree = split
            return _read_para(call, tree, example_args, sources, labels)
        if not callable(fn):
            raise FromJaxError(f"from_jax: expected a function or a module, got {fn!r}")
        closed = jax.make_jaxpr(fn)(*example_args)
        ins = _inputs(closed.jaxpr.invars, labels)
        dom = _nested(ins)
        reader = _Reader(dom, sources)
        wires = [_Wire(x, _way(len(ins), i)) for i, x in enumerate(ins)]
        return _finish(reader, closed, wires)
    return _read_para(fn, params, example_args, sources, labels)


def _inputs(invars: Sequence[Any], labels: Sequence[int | None] | None) -> list[Ob]:
    """The objects of the input leaves, integer ones with the number of labels given."""
    obs = [_ob(v.aval, f"from_jax: input {i}") for i, v in enumerate(invars)]
    if labels is None:
        return obs
    if len(labels) != len(obs):
        raise FromJaxError(f"from_jax: labels gives {len(labels)} entries for {len(obs)} inputs")
    out: list[Ob] = []
    for i, (x, n) in enumerate(zip(obs, labels, strict=True)):
        if n is None:
            out.append(x)
        elif isinstance(x, Fin) and isinstance(n, int) and 1 <= n <= x.n:
            out.append(Fin(n, *x.shape))
        else:
            raise FromJaxError(
                f"from_jax: labels[{i}] = {n!r}, but input {i} is {x!r}: only an integer input"
                f" takes a number of labels, from 1 to {getattr(x, 'n', '?')}"
            )
    return out


def _read_para(
    call: Callable[..., Any],
    tree: Any,
    args: Sequence[Any],
    sources: bool,
    labels: Sequence[int | None] | None = None,
) -> Para:
    named = _leaves_by_path(tree)
    closed = jax.make_jaxpr(call)(tree, *args)
    invars = closed.jaxpr.invars
    k = len(named)
    pobs = [
        _ob(v.aval, f"from_jax: parameter {p!r}") for p, v in zip(named, invars[:k], strict=True)
    ]
    xobs = _inputs(invars[k:], labels)
    p_ob, a_ob = _nested(pobs), _nested(xobs)
    reader = _Reader(p_ob * a_ob, sources)
    wires = [_Wire(x, (False, *_way(k, i))) for i, x in enumerate(pobs)]
    wires += [_Wire(x, (True, *_way(len(xobs), i))) for i, x in enumerate(xobs)]
    arrow = _finish(reader, closed, wires)
    return Para(p_ob, arrow, params={path: DEFAULT_INIT for path in named})


def _finish(reader: _Reader, closed: ClosedJaxpr, wires: list[_Wire]) -> Arrow:
    start = reader.gamma
    outs = reader.read(closed.jaxpr, closed.consts, wires)
    return compose(Id(start), *reader.steps, reader._operands(outs))


def boxes(arrow: Arrow) -> Iterator[Box]:
    """The boxes of an arrow (groups and repeats opened), in diagram order, with repeats.

    >>> from topos import R, Box
    >>> [b.name for b in boxes(Box("f", R(1), R(1)) >> Box("g", R(1), R(1)))]
    ['f', 'g']
    """
    stack = [arrow]
    out: list[Box] = []
    while stack:
        f = stack.pop()
        if isinstance(f, Box):
            out.append(f)
        stack.extend(reversed(f.children))
    yield from out
