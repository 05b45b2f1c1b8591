"""Para morphisms as models: initialise parameters, apply, batch.

A ``Para`` ``p`` (``topos.para``) is a parameter object ``p.P`` and an arrow
``p.arrow: P * A -> B`` (cartesian actegory). Its parameters are the leaves of
``P``, each with a path and an initialiser (``p.parameters()``). Here they are a
flat ``dict[str, Array]`` keyed by path; ``init`` draws them, ``apply`` checks
them against ``P`` (naming the path of any mismatch), rebuilds the value of
``P`` (``p.unflatten``) and runs ``compile(p.arrow)`` on ``(P_value, x)``.

Every path draws from its own key, ``fold_in(key, stable_hash(path))``, so
adding a layer never changes the initial values of the others; a stacked leaf
(from ``topos.para.repeat``) is drawn slice by slice, each slice as its
unstacked initialiser says.

>>> import jax, jax.numpy as jnp
>>> path_key(jax.random.key(0), "block0.w") == path_key(jax.random.key(0), "block0.w")
Array(True, dtype=bool)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from backends.jax.compile import interpret
from backends.jax.values import _KIND, _kind_ok, _shape_of, check, describe, dtype_of
from topos.objects import Fin, Ob, Product, R, factors

__all__ = ["apply", "batched", "init", "init_array", "param_value", "path_key"]


def _stable_hash(path: str) -> int:
    return int.from_bytes(hashlib.blake2s(path.encode(), digest_size=4).digest(), "little")


def path_key(key: jax.Array, path: str) -> jax.Array:
    """The key a parameter path draws from: ``key`` folded with a stable hash of ``path``.

    Stable across processes and Python versions (not Python's ``hash``).
    """
    return jax.random.fold_in(key, _stable_hash(path))


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _init_kind(init: Any) -> tuple[str, tuple[Any, ...]]:
    kind = getattr(init, "kind", None)
    args = getattr(init, "args", ())
    if not isinstance(kind, str):
        raise TypeError(f"init: expected a topos.para.Init, got {init!r}")
    return kind, tuple(args)


def init_array(init: Any, shape: tuple[int, ...], dtype: Any, key: jax.Array) -> jax.Array:
    """One array drawn as the initialiser ``init`` says.

    ``normal(std)``: N(0, std²); ``uniform(scale)``: U(-scale, scale);
    ``glorot_uniform``: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (fans from
    the last two axes, times the receptive field); ``zeros``; ``ones``;
    ``constant(value)``.
    """
    kind, args = _init_kind(init)
    if kind == "normal":
        std = args[0] if args else 1.0
        return std * jax.random.normal(key, shape, dtype)
    if kind == "uniform":
        scale = args[0] if args else 1.0
        return jax.random.uniform(key, shape, dtype, -scale, scale)
    if kind == "glorot_uniform":
        fan_in, fan_out = _fans(shape)
        limit = math.sqrt(6.0 / max(1, fan_in + fan_out))
        return jax.random.uniform(key, shape, dtype, -limit, limit)
    if kind == "zeros":
        return jnp.zeros(shape, dtype)
    if kind == "ones":
        return jnp.ones(shape, dtype)
    if kind == "constant":
        return jnp.full(shape, args[0], dtype)
    raise ValueError(f"init: unknown initialiser kind {kind!r} in {init!r}")


def _stack_depth(param: Any) -> int:
    """How many leading axes of a parameter are layer axes added by ``repeat``."""
    for owner in (param, getattr(param, "init", None)):
        depth = getattr(owner, "stacked", None)
        if isinstance(depth, int) and not isinstance(depth, bool):
            return depth
        if isinstance(depth, tuple):
            return len(depth)
    return 0


def _param_ob(path: str, param: Any) -> Ob:
    ob = getattr(param, "ob", None)
    if not isinstance(ob, (R, Fin)):
        raise TypeError(f"parameter {path!r}: expected an R or Fin object, got {ob!r}")
    return ob


def _draw(path: str, param: Any, key: jax.Array) -> jax.Array:
    ob = _param_ob(path, param)
    shape, dtype, depth = _shape_of(ob), dtype_of(ob), _stack_depth(param)
    if depth == 0:
        return init_array(param.init, shape, dtype, key)
    lead, inner = shape[:depth], shape[depth:]
    keys = jax.random.split(key, math.prod(lead))
    draws = jax.vmap(lambda k: init_array(param.init, inner, dtype, k))(keys)
    return draws.reshape(shape)


def init(p: Any, key: jax.Array) -> dict[str, jax.Array]:
    """The initial parameters of the Para ``p``: ``{path: array}``, per declared ``Init``."""
    if not hasattr(p, "parameters"):
        raise TypeError(f"init: expected a topos.para.Para, got {type(p).__name__} {p!r}")
    return {path: _draw(path, param, path_key(key, path)) for path, param in p.parameters().items()}


def _check_params(p: Any, params: Mapping[str, Any]) -> None:
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected a dict path -> array, got {describe(params)}")
    declared = p.parameters()
    missing = [k for k in declared if k not in params]
    extra = [k for k in params if k not in declared]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(f"{k!r} ({declared[k].ob!r})" for k in missing))
        if extra:
            parts.append("unexpected " + ", ".join(repr(k) for k in extra))
        raise ValueError(f"params: {'; '.join(parts)}")
    for path, param in declared.items():
        ob = _param_ob(path, param)
        value = params[path]
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):
            raise TypeError(
                f"params[{path!r}]: expected an array for {ob!r}, got {describe(value)}"
            )
        if not _kind_ok(_KIND[type(ob)], value.dtype):
            raise TypeError(
                f"params[{path!r}]: expected a {_KIND[type(ob)]} array for {ob!r},"
                f" got {describe(value)}"
            )
        if tuple(value.shape) != _shape_of(ob):
            raise ValueError(
                f"params[{path!r}]: expected shape {_shape_of(ob)} for {ob!r},"
                f" got shape {tuple(value.shape)}"
            )


def param_value(p: Any, params: Mapping[str, Any]) -> Any:
    """The value of ``p.P`` built from the path-keyed ``params`` (checked first)."""
    _check_params(p, params)
    return p.unflatten(params)


def _input(p: Any, xs: tuple[Any, ...]) -> Any:
    if len(xs) == 1:
        return xs[0]
    leaves = factors(p.dom)
    if len(xs) != len(leaves):
        raise TypeError(
            f"apply: got {len(xs)} inputs, but the domain {p.dom!r} has {len(leaves)} factors"
        )
    it = iter(xs)
    return _rebuild(p.dom, it)


def _rebuild(x: Ob, it: Any) -> Any:
    if isinstance(x, Product):
        left = _rebuild(x.left, it)
        return (left, _rebuild(x.right, it))
    return next(it)


def _runner(p: Any) -> Callable[[Any, Any], Any]:
    """``(P_value, x) -> y`` for the actegory of ``p``."""
    actegory = getattr(p, "actegory", None)
    fn = interpret(p.arrow).fn
    act = getattr(actegory, "act", None)
    if act is None or act(p.P, p.dom) == p.P * p.dom:
        return lambda pv, x: fn((pv, x))
    raise NotImplementedError(
        f"apply: the JAX backend runs Para over the cartesian actegory (P • A = P * A);"
        f" {actegory!r} acts as {act(p.P, p.dom)!r}"
    )


def apply(p: Any, params: Mapping[str, Any], *xs: Any) -> Any:
    """Run the Para ``p`` with ``params`` on one example ``x`` (``jax.vmap`` for batches).

    Several inputs ``apply(p, params, a, b, c)`` stand for the factors of
    ``p.dom`` (a product), rebuilt as nested pairs.
    """
    x = _input(p, xs)
    pv = param_value(p, params)
    check(p.dom, x)
    return _runner(p)(pv, x)


def batched(p: Any) -> Callable[[Mapping[str, Any], Any], Any]:
    """``(params, xs) -> ys`` running ``p`` over the leading axis of ``xs`` (by ``jax.vmap``).

    The parameters are shared across the batch (not mapped).
    """
    run = _runner(p)
    dom = p.dom

    def one(pv: Any, x: Any) -> Any:
        check(dom, x, "input (one example of the batch)")
        return run(pv, x)

    def many(params: Mapping[str, Any], xs: Any) -> Any:
        pv = param_value(p, params)
        return jax.vmap(one, in_axes=(None, 0))(pv, xs)

    return many
