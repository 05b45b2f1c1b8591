"""A piecewise-linear network with its pattern made explicit: record it, or fix it.

``PLNet(p, params)`` takes any diagram that ``analyze`` classes as PL (ReLU/max
MLPs, CNNs with max-pool, unrolled ReLU RNNs, GCNs) and interprets it with a
functor of its own. At each ``relu``, ``reduce_max`` or ``max_pool`` box that
functor either *records* which branch is taken (``z > 0``, the index of the
maximum) or *applies* a branch given in advance. With the branches fixed the
network is an affine map of its input, and so is every branch condition, so one
``jax.jacfwd`` of the pattern-fixed map gives, exactly, the local map ``(J, c)``
and the inequalities ``G x + g >= 0`` of the activation region. Everything runs
in float64 (inside ``jax.enable_x64``).

>>> import jax
>>> from topos.nn import mlp
>>> from backends.jax import init
>>> p = mlp([2, 4, 1])
>>> net = PLNet(p, init(p, jax.random.key(0)))
>>> net.n, net.n_out, net.n_constraints
(2, 1, 4)

A smooth network is refused, naming the verdict and its witness:

>>> PLNet(mlp([2, 4, 1], activation="tanh"), {})
Traceback (most recent call last):
...
backends.jax.logic.pl.NotPiecewiseLinear: the network is not piecewise linear: analyze() says ...
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax.core.compile import CONSTANTS, Fn, JaxCategory
from backends.jax.core.params import cartesian, param_value
from backends.jax.core.registry import lookup
from topos.analysis import analyze
from topos.arrows import Arrow, Box, Recur
from topos.functor import Functor
from topos.objects import Ob, Product, R
from topos.para import Para

__all__ = ["NotPiecewiseLinear", "PLNet", "Unrolled"]


class NotPiecewiseLinear(TypeError):
    """The diagram is not a PL map (``analyze`` says so): regions do not exist.

    >>> issubclass(NotPiecewiseLinear, TypeError)
    True
    """


class _Tape:
    """What one run of the functor records (or is told) at the PL boxes."""

    def __init__(self, fixed: Sequence[Any] | None = None) -> None:
        self.fixed = fixed
        self.decisions: list[Any] = []
        self.rows: list[Any] = []
        self.sites: list[tuple[str, int]] = []  # (box name, number of rows)

    def decide(self, made: Any) -> Any:
        if self.fixed is None:
            self.decisions.append(made)
            return made
        given = self.fixed[len(self.decisions)]
        self.decisions.append(given)
        return given

    def row(self, name: str, values: Any) -> None:
        flat = jnp.ravel(values)
        self.rows.append(flat)
        self.sites.append((name, int(flat.shape[0])))


_TAPE: contextvars.ContextVar[_Tape] = contextvars.ContextVar("topos_pl_tape")


def _relu(box: Box, z: Any) -> Any:
    tape = _TAPE.get()
    on = tape.decide(z > 0)
    tape.row(box.name, jnp.where(on, z, -z))  # >= 0 on the region
    return jnp.where(on, z, jnp.zeros_like(z))


def _max_last(name: str, z: Any) -> Any:
    """Max over the last axis with the argmax on the tape; rows ``max - z_j >= 0``."""
    tape = _TAPE.get()
    idx = tape.decide(jnp.argmax(z, axis=-1))
    top = jnp.take_along_axis(z, idx[..., None], axis=-1)
    tape.row(name, top - z)
    return top[..., 0]


def _reduce_max(box: Box, z: Any) -> Any:
    axis, keep = box.attrs["axis"], box.attrs["keepdims"]
    axes = tuple(a % z.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    rest = [a for a in range(z.ndim) if a not in axes]
    moved = jnp.transpose(z, (*rest, *axes))
    out = _max_last(box.name, moved.reshape(*moved.shape[: len(rest)], -1))
    if keep:
        out = jnp.expand_dims(out, axes)
    return out


def _max_pool(box: Box, z: Any) -> Any:
    window, stride = tuple(box.attrs["window"]), tuple(box.attrs["stride"])
    spatial, channels = z.shape[:-1], z.shape[-1]
    outs = tuple((s - w) // t + 1 for s, w, t in zip(spatial, window, stride, strict=True))
    grid = np.indices(outs).reshape(len(outs), -1) * np.array(stride)[:, None]
    offsets = np.indices(window).reshape(len(window), -1)
    pos = grid[:, :, None] + offsets[:, None, :]  # (ndim, n_out, k)
    flat = np.ravel_multi_index(tuple(pos), spatial)
    patches = z.reshape(-1, channels)[flat]  # (n_out, k, C)
    out = _max_last(box.name, jnp.swapaxes(patches, 1, 2))  # (n_out, C)
    return out.reshape(*outs, channels)


_PL_BOXES: dict[str, Callable[[Box, Any], Any]] = {
    "relu": _relu,
    "reduce_max": _reduce_max,
    "max_pool": _max_pool,
}


class Unrolled(JaxCategory):
    """The JAX category with repeats unrolled: every layer's branches reach the tape.

    ``JaxCategory`` runs a repeat as one ``lax.scan`` over stacked layers; a
    functor into this category unrolls it instead (``repeat`` declines), so each
    layer's PL boxes are met one by one.

    >>> Unrolled().repeat(None, 3, None, None) is NotImplemented
    True
    """

    def repeat(self, body: Fn, n: int, p: Ob, a: Ob) -> Fn:
        return NotImplemented  # type: ignore[no-any-return]

    def recur(self, cell: Fn, node: Recur, p: Ob, s: Ob, x: Ob, y: Ob) -> Fn:
        return NotImplemented  # type: ignore[no-any-return]  # each step's branches on the tape


def _foreign_max(box: Box, x: Any) -> Any:
    """An imported ``max(a, b)`` as ``b + relu(a - b)`` (``min``: ``a - relu(a - b)``)."""
    a, b = x
    up = _relu(box, a - b)
    return b + up if box.attrs["op"] == "max" else a - up


def _foreign(box: Box) -> Callable[[Box, Any], Any] | None:
    """The rule of an imported primitive (``backends.jax.from_jax``), or None for a linear one.

    A primitive that splits into cases the tape cannot record would make the
    regions silently wrong: it is refused, naming it.
    """
    op, cls = box.attrs.get("op"), box.attrs.get("cls")
    dom = box.dom
    if op in ("max", "min") and isinstance(dom, Product) and dom.left == dom.right == box.cod:
        return _foreign_max
    if cls == "linear":
        return None
    raise NotPiecewiseLinear(
        f"the imported primitive {op!r} (class {cls}) has no rule here for recording which"
        " piece an input is on; regions need the pieces spelled with relu, max, reduce_max"
        " or max_pool"
    )


def _box(box: Box) -> Fn:
    if not isinstance(box, Box):  # constants and slices: the category interprets them
        raise KeyError(box)
    rule = _PL_BOXES.get(box.name) or (_foreign(box) if box.name == "foreign" else None)
    fn = rule if rule is not None else lookup(box).fn
    return Fn(lambda x: fn(box, x), box.dom, box.cod)


_FUNCTOR: Functor[Ob, Fn] = Functor(ob=lambda x: x, ar=_box, cod=Unrolled())


@functools.lru_cache(maxsize=256)
def _interpret(f: Arrow) -> Fn:
    return _FUNCTOR(f)  # type: ignore[no-any-return]


def _to64(tree: Any) -> Any:
    def cast(a: Any) -> Any:
        a = jnp.asarray(a)
        return a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(cast, tree)


def _pad(a: np.ndarray) -> np.ndarray:
    """Repeat the last row up to 64 or the next power of 2: few shapes, few compilations."""
    k = len(a)
    size = max(64, 1 << max(0, (k - 1).bit_length()))
    return a if size == k else np.concatenate([a, np.repeat(a[-1:], size - k, axis=0)])


class PLNet:
    """A PL network, ready for exact region computations (float64 throughout).

    ``p`` is a ``Para`` (with ``params``, its parameter dict) or an ``Arrow`` (no
    parameters); its input must be one ``R(...)`` (flattened to ``n`` coordinates)
    and so must its output (``n_out`` coordinates). A Para over ``Global(E)`` (a
    GCN) takes the global value as ``given``, held fixed.

    >>> import jax
    >>> from topos.nn import mlp
    >>> from backends.jax import init
    >>> p = mlp([3, 5, 2])
    >>> net = PLNet(p, init(p, jax.random.key(1)))
    >>> net([1.0, 0.0, -1.0]).shape
    (2,)

    Args:
        p: the network, a Para or an Arrow that ``analyze`` classes as PL.
        params: the parameter dict of ``p`` (as from ``init`` or training).
        given: the value of the global object for a Para over ``Global(E)``.

    Raises:
        NotPiecewiseLinear: when ``analyze(p)`` does not place ``p`` in the PL pretopos.
    """

    def __init__(
        self, p: Para | Arrow, params: Mapping[str, Any] | None = None, *, given: Any = None
    ) -> None:
        report = analyze(p)
        if report.lives_in != "PL pretopos":
            witness = report.witnesses[0] if report.witnesses else "none"
            raise NotPiecewiseLinear(
                f"the network is not piecewise linear: analyze() says {report.order} order,"
                f" class {report.cls!r}, lives in {report.lives_in!r}; witness: {witness}"
            )
        self.p = p
        if isinstance(p, Arrow):
            arrow, pv, dom = p, None, p.dom
        else:
            q = cartesian(p)
            arrow, dom = q.arrow, q.dom
            with jax.enable_x64(True):
                pv = _to64(param_value(q, dict(params or {})))
        self._params = dict(params or {})
        if given is not None:
            if not isinstance(dom, Product):
                raise TypeError(f"PLNet: given= needs a Global Para, but the input is {dom!r}")
            dom = dom.right
            with jax.enable_x64(True):
                given = _to64(given)
        if not isinstance(dom, R) or not isinstance(arrow.cod, R):
            raise TypeError(
                f"PLNet: the input and output must each be one R(...), got {dom!r} -> {arrow.cod!r}"
            )
        self.dom, self.cod = dom, arrow.cod
        self.n, self.n_out = int(np.prod(dom.shape)), int(np.prod(arrow.cod.shape))
        fn = _interpret(arrow).fn
        shape = tuple(dom.shape)
        self._sites: tuple[tuple[str, int], ...] = ()

        def run(x: Any, fixed: Sequence[Any] | None) -> tuple[Any, Any, Any]:
            xv: Any = jnp.reshape(x, shape)
            xv = xv if given is None else (given, xv)
            tape = _Tape(fixed)
            token, consts = _TAPE.set(tape), CONSTANTS.set(self._params)
            try:
                out = fn(xv if pv is None else (pv, xv))
            finally:
                _TAPE.reset(token)
                CONSTANTS.reset(consts)
            self._sites = tuple(tape.sites)
            rows = jnp.concatenate(tape.rows) if tape.rows else jnp.zeros(0)
            return jnp.ravel(out), rows, tuple(tape.decisions)

        def record(x: Any) -> tuple[Any, Any, Any]:
            return run(x, None)

        def affine(decisions: Any) -> tuple[Any, Any, Any, Any]:
            def h(x: Any) -> tuple[Any, Any]:
                out, rows, _ = run(x, decisions)
                return out, rows

            zero = jnp.zeros(self.n)
            (c, g), (jac, gjac) = h(zero), jax.jacfwd(h)(zero)
            return jac, c, gjac, g

        self._record = jax.jit(record)
        self._affine = jax.jit(affine)
        self._record_many = jax.jit(jax.vmap(record))
        self._affine_many = jax.jit(jax.vmap(affine))
        with jax.enable_x64(True):
            _, rows, _ = self._record(jnp.zeros(self.n))
        self.n_constraints = int(rows.shape[0])

    def __call__(self, x: Any) -> np.ndarray:
        """The network's output at ``x`` (flattened, float64)."""
        return self.record(x)[0]

    def record(self, x: Any) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """``(output, branch values, decisions)`` at ``x``: all rows are ``>= 0`` there."""
        with jax.enable_x64(True):
            out, rows, dec = self._record(jnp.asarray(np.ravel(x), jnp.float64))
        return np.asarray(out), np.asarray(rows), tuple(np.asarray(d) for d in dec)

    def affine(
        self, decisions: Sequence[Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(J, c, G, g)`` for a pattern: output ``J x + c``, region ``G x + g >= 0``."""
        with jax.enable_x64(True):
            jac, c, gjac, g = self._affine(tuple(jnp.asarray(d) for d in decisions))
        return np.asarray(jac), np.asarray(c), np.asarray(gjac), np.asarray(g)

    def record_many(self, xs: Any) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """``record`` on each row of ``xs`` (one batched call; padded to a power of 2)."""
        xs = np.asarray(xs, np.float64).reshape(-1, self.n)
        k = len(xs)
        with jax.enable_x64(True):
            out, rows, dec = self._record_many(jnp.asarray(_pad(xs)))
        return np.asarray(out)[:k], np.asarray(rows)[:k], tuple(np.asarray(d)[:k] for d in dec)

    def affine_many(
        self, decisions: Sequence[Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``affine`` for a batch of patterns (each decision array has a leading batch axis)."""
        k = len(decisions[0])
        with jax.enable_x64(True):
            res = self._affine_many(tuple(jnp.asarray(_pad(np.asarray(d))) for d in decisions))
        jac, c, gjac, g = (np.asarray(a)[:k] for a in res)
        return jac, c, gjac, g

    @property
    def sites(self) -> tuple[tuple[str, int], ...]:
        """The PL boxes met, in order: ``(name, number of branch conditions)``."""
        return self._sites

    def row_names(self) -> list[str]:
        """A name for each branch condition: ``relu1[37]`` is unit 37 of the 1st relu."""
        names: list[str] = []
        count: dict[str, int] = {}
        for name, k in self._sites:
            count[name] = count.get(name, 0) + 1
            names += [f"{name}{count[name]}[{i}]" for i in range(k)]
        return names
