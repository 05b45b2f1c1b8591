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

import functools
import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding

from backends.jax.core import sharding
from backends.jax.core.compile import CONSTANTS, interpret, unbound
from backends.jax.core.limits import check_program, check_total_size
from backends.jax.core.sharding import Rules
from backends.jax.core.values import (
    KIND,
    check,
    checked_ids,
    describe,
    dtype_of,
    has_tracer,
    is_unstacked,
    kind_ok,
    on_several_devices,
    run_checked,
    shape_of,
)
from topos.arrows import Arrow, Const, fold
from topos.dims import bind, dims, specialise
from topos.normal import deep
from topos.objects import Fin, Ob, Product, R, factors
from topos.para import Frozen, Para

__all__ = [
    "apply",
    "at_lengths",
    "batched",
    "cartesian",
    "check_para",
    "init",
    "init_array",
    "initialiser",
    "param_ob",
    "param_value",
    "path_key",
    "stack_depth",
]


def _stable_hash(path: str) -> int:
    return int.from_bytes(hashlib.blake2s(path.encode(), digest_size=4).digest(), "little")


def path_key(key: jax.Array, path: str) -> jax.Array:
    """The key a parameter path draws from: ``key`` folded with a stable hash of ``path``.

    Stable across processes and Python versions (not Python's ``hash``).

    >>> import jax
    >>> k = jax.random.key(0)
    >>> bool((jax.random.key_data(path_key(k, "a")) != jax.random.key_data(path_key(k, "b"))).any())
    True
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

    >>> import jax, jax.numpy as jnp
    >>> from topos.para import constant
    >>> init_array(constant(0.5), (2,), jnp.float32, jax.random.key(0))
    Array([0.5, 0.5], dtype=float32)
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


def stack_depth(param: Any) -> int:
    """How many leading axes of a parameter are layer axes added by ``repeat``."""
    depth = getattr(param, "stacked", 0)
    return depth if isinstance(depth, int) and not isinstance(depth, bool) else 0


def param_ob(path: str, param: Any) -> Ob:
    ob = getattr(param, "ob", None)
    if not isinstance(ob, (R, Fin)):
        raise TypeError(f"parameter {path!r}: expected an R or Fin object, got {ob!r}")
    return ob


def _draw(path: str, param: Any, key: jax.Array) -> jax.Array:
    ob = param_ob(path, param)
    shape, dtype, depth = shape_of(ob), dtype_of(ob), stack_depth(param)
    if depth == 0:
        return init_array(param.init, shape, dtype, key)
    lead, inner = shape[:depth], shape[depth:]
    keys = jax.random.split(key, math.prod(lead))
    draws = jax.vmap(lambda k: init_array(param.init, inner, dtype, k))(keys)
    return draws.reshape(shape)


def check_key(op: str, key: object) -> None:
    """Refuse a ``key`` that is not one JAX random key (typed, or a legacy raw ``uint32`` one)."""
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key) and shape == ():
        return
    if dtype == jnp.uint32 and shape in ((2,), (4,)):  # legacy PRNGKey (threefry, rbg)
        return
    if isinstance(key, int) and not isinstance(key, bool):
        raise TypeError(
            f"{op}: key must be a JAX random key, got int {key}; pass jax.random.key({key})"
        )
    what = type(key).__name__ if shape is None else f"{type(key).__name__} {dtype}{list(shape)}"
    raise TypeError(f"{op}: key must be a JAX random key (jax.random.key(seed)), got {what}")


def init(
    p: Para,
    key: jax.Array,
    *,
    max_bytes: int | None = None,
    mesh: Mesh | None = None,
    rules: Rules | None = None,
) -> dict[str, jax.Array]:
    """The initial parameters of the Para ``p``: ``{path: array}``, per declared ``Init``.

    Each path draws from ``path_key(key, path)``; a stacked leaf (``repeat``) is
    drawn slice by slice. Frozen parameters without a value (``p.freeze(path)``)
    are drawn too, so freezing a layer keeps the values it would have had.
    Before anything is allocated the total size is checked against ``max_bytes``
    (default: the device's memory, ``backends.jax.core.limits``), and then the
    peak of the compiled drawing program (the arrays and XLA's scratch, per
    device); over it, a ``MemoryError`` names the largest array.
    With a device ``mesh``, each array is created already sharded as the sharding
    ``rules`` say (``backends.jax.sharding``): one jitted program with
    ``out_shardings``, so each device draws its own shards, the full model is never
    on one device or the host, and the values equal the single-device ones bit for bit.

    >>> import jax
    >>> from topos import R, Box
    >>> from topos.para import Para, normal, zeros
    >>> layer = Para(R(3, 2) * R(2), Box("affine", (R(3, 2) * R(2)) * R(3), R(2)),
    ...              params={"w": normal(0.02), "b": zeros})
    >>> params = init(layer, jax.random.key(0))
    >>> {k: v.shape for k, v in params.items()}, bool((params["b"] == 0).all())
    ({'w': (3, 2), 'b': (2,)}, True)
    >>> bool((init(layer.named("l1"), jax.random.key(0))["l1.b"] == 0).all())
    True
    >>> mesh = sharding.make_mesh("1x1")
    >>> init(layer, jax.random.key(0), mesh=mesh)["w"].sharding.mesh == mesh
    True

    ``key`` is a JAX key, not an int seed, as in JAX, Equinox and the rest of this
    backend (``Model(p, key)``, ``sample``): one convention, and the caller
    splits keys explicitly, so two draws never share randomness by accident
    (Flax NNX's int seeds suit its stateful ``Rngs``, which this functional API
    does not have). An int is refused, naming the key to pass instead.

    >>> init(layer, 0)
    Traceback (most recent call last):
    ...
    TypeError: init: key must be a JAX random key, got int 0; pass jax.random.key(0)

    Args:
        p: the Para whose parameters to draw.
        key: a JAX random key (``jax.random.key(seed)``; a legacy
            ``jax.random.PRNGKey(seed)`` works too).
        max_bytes: the most the arrays may take together (default: the device's memory).
        mesh: a device mesh to create the arrays sharded on (default: one device).
        rules: the sharding rules with ``mesh`` (default ``sharding.MEGATRON``).
    """
    check_key("init", key)
    check_para("init", p)
    if mesh is not None:
        sharding.check_mesh("init", mesh)
    wanted = {**p.parameters(), **_unvalued_constants(p)}
    check_total_size("init", wanted, max_bytes)
    paths, program = _program(p, mesh, rules)
    if has_tracer(key):  # under vmap or jit: drawn inside the caller's program
        drawn = program(key)
    else:
        compiled = _compiled(p, mesh, rules, key)
        check_program("init", compiled, wanted, max_bytes)  # drawing takes scratch besides
        drawn = compiled(key)
    return {path: drawn[path] for path in paths}  # in parameter order (jit sorts dict keys)


@functools.lru_cache(maxsize=64)
def _program(
    p: Para, mesh: Mesh | None, rules: Rules | None
) -> tuple[list[str], jax.stages.Wrapped]:
    """The drawing program of ``p``, with the shardings of ``mesh`` on its outputs."""
    paths, draw_all = initialiser(p)
    if mesh is None:
        return paths, draw_all
    shardings = sharding.param_shardings(p, mesh, rules)
    out = {path: shardings[path] for path in paths}
    return paths, jax.jit(draw_all, out_shardings=out)


_COMPILED: dict[Any, jax.stages.Compiled] = {}


def _compiled(p: Para, mesh: Mesh | None, rules: Rules | None, key: Any) -> jax.stages.Compiled:
    """The drawing program lowered and compiled for keys like ``key``: once per (Para, mesh,
    rules, key type and placement), so that a second ``init`` of the same model neither
    traces nor lowers again. XLA's peak memory is read from it. (Lowered with the key
    itself: an uncommitted key gives uncommitted parameters, as an ``init`` without
    the cache did, which a jitted step then takes without compiling twice.)"""
    where = getattr(key, "sharding", None)
    kind = (p, mesh, rules, jax.typeof(key), where, getattr(key, "committed", None))
    found = _COMPILED.get(kind)
    if found is None:
        if len(_COMPILED) >= 64:  # the oldest goes first
            del _COMPILED[next(iter(_COMPILED))]
        found = _COMPILED[kind] = _program(p, mesh, rules)[1].lower(key).compile()
    return found


@functools.lru_cache(maxsize=64)
def initialiser(p: Para) -> tuple[list[str], jax.stages.Wrapped]:
    """One jitted function drawing every parameter (one compilation, not one per leaf)."""
    wanted = {**p.parameters(), **_unvalued_constants(p)}

    def draw_all(key: jax.Array) -> dict[str, jax.Array]:
        return {path: _draw(path, param, path_key(key, path)) for path, param in wanted.items()}

    return list(wanted), jax.jit(draw_all)


def check_para(op: str, p: object) -> None:
    if not (hasattr(p, "parameters") and hasattr(p, "arrow") and hasattr(p, "P")):
        raise TypeError(f"{op}: expected a topos.para.Para, got {type(p).__name__} {p!r}")


def _unvalued_constants(p: Para) -> dict[str, Any]:
    """The frozen parameters of ``p`` whose value is read from the params dict by path."""
    valued = {path for path, has_value in _const_boxes(p.arrow) if has_value}
    return {k: v for k, v in p.constants().items() if k not in valued}


@functools.lru_cache(maxsize=256)
def _const_boxes(arrow: Arrow) -> tuple[tuple[str, bool], ...]:
    Consts = tuple[tuple[str, bool], ...]

    def step(node: Arrow, kids: list[Consts]) -> Consts:
        if isinstance(node, Const) and isinstance(node.value, Frozen):
            return ((node.value.path, node.value.value is not None),)
        return tuple(c for kid in kids for c in kid)

    found: Consts = fold(arrow, step)
    return tuple(dict.fromkeys(found))


def _check_params(p: Para, params: Mapping[str, Any]) -> None:
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected a dict path -> array, got {describe(params)}")
    declared, frozen = p.parameters(), p.constants()
    required = {**declared, **_unvalued_constants(p)}
    missing = [k for k in required if k not in params]
    extra = [k for k in params if k not in declared and k not in frozen]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(f"{k!r} ({required[k].ob!r})" for k in missing))
        if extra:
            parts.append("unexpected " + ", ".join(repr(k) for k in extra))
        raise ValueError(f"params: {'; '.join(parts)}")
    for path, param in {**declared, **frozen}.items():
        if path in params:
            _check_leaf(path, param_ob(path, param), params[path])


def _check_leaf(path: str, ob: Ob, value: Any) -> None:
    if is_unstacked(value):  # the layer layout (backends.jax.core.layout)
        shape = shape_of(ob)
        if not isinstance(ob, R) or not shape or len(value) != shape[0]:
            raise ValueError(
                f"params[{path!r}]: got Unstacked of {len(value)} arrays for {ob!r}, which is"
                " not a stack of as many layers"
            )
        inner = R(*shape[1:], dtype=ob.dtype)
        for i, x in enumerate(value):
            _check_leaf(f"{path}[{i}]", inner, x)
        return
    want = KIND[type(ob)]
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(f"params[{path!r}]: expected an array for {ob!r}, got {describe(value)}")
    if not kind_ok(want, value.dtype):
        raise TypeError(
            f"params[{path!r}]: expected a {want} array for {ob!r}, got {describe(value)}"
        )
    if tuple(value.shape) != shape_of(ob):
        raise ValueError(
            f"params[{path!r}]: expected shape {shape_of(ob)} for {ob!r},"
            f" got shape {tuple(value.shape)}"
        )
    if isinstance(ob, R):
        _check_dtype(path, ob, value)


def _check_dtype(path: str, ob: R, value: Any) -> None:
    """The dtype is part of the type: an array JAX holds at another dtype is refused.

    Compared after JAX's canonicalisation, so a float64 NumPy array for a float32
    parameter passes when float64 is off (JAX makes it float32), and is refused
    under ``JAX_ENABLE_X64`` (the model would silently compute in mixed precision).
    """
    got, want = jax.dtypes.canonicalize_dtype(value.dtype), jnp.dtype(ob.dtype)
    if got == want:
        return
    if want != jax.dtypes.canonicalize_dtype(want):  # float64 with JAX's float64 off
        hint = "float64 is off in JAX: enable it (jax.config.update('jax_enable_x64', True))"
    else:
        hint = f"build the model at {got} (topos.with_dtype(p, {str(got)!r})) or cast the array"
    held = "" if got == value.dtype else f" ({got} in JAX)"
    raise TypeError(
        f"params[{path!r}]: {ob!r} is declared {want}, got {describe(value)}{held}; the dtype"
        f" is part of the type: {hint}"
    )


def param_value(p: Para, params: Mapping[str, Any]) -> Any:
    """The value of ``p.P`` built from the path-keyed ``params`` (checked first).

    >>> import jax.numpy as jnp
    >>> from topos import R, Box
    >>> from topos.para import Para
    >>> p = Para(R(2) * R(3), Box("f", (R(2) * R(3)) * R(1), R(1)), ["a", "b"])
    >>> a, b = param_value(p, {"a": jnp.zeros(2), "b": jnp.ones(3)})
    >>> a.shape, b.shape
    ((2,), (3,))
    """
    _check_params(p, params)
    return p.unflatten(params)


def _input(dom: Ob, xs: tuple[Any, ...]) -> Any:
    """One input, or several standing for a bracketing of ``dom`` into ``len(xs)`` factors.

    ``dom = X1 * ... * Xk`` however nested: the inputs are its factors in order,
    at any depth (``A * (B * C)`` takes ``a, (b, c)``, ``(a, b), c`` or ``a, b, c``).
    Where several bracketings have ``len(xs)`` factors, the left-nested one comes
    first and the first that the inputs fit is taken.
    """
    if len(xs) == 1:
        return xs[0]
    if not xs:
        raise TypeError(f"apply: no input given; expected a value of {dom!r}")
    if len(xs) > len(factors(dom)):
        raise TypeError(
            f"apply: got {len(xs)} inputs, but the domain {dom!r} is not a product of"
            f" {len(xs)} factors"
        )
    first = None
    for count, shape in enumerate(_bracketings(dom, len(xs))):
        value = _assemble(shape, iter(xs))
        if first is None:
            first = value
        try:
            check(dom, value)
        except (TypeError, ValueError):
            if count >= _MAX_BRACKETINGS:
                break
            continue
        return value
    return first  # none fits: ``check`` names the mismatch of the left-nested reading


#: How many bracketings ``apply`` tries before it reports the first one's mismatch.
_MAX_BRACKETINGS = 256


def _bracketings(x: Ob, k: int) -> Any:
    """The ways to read ``x`` as ``k`` factors in order: trees of ``None`` (one input)
    and pairs; the ones giving the left factor more inputs first."""
    if k == 1:
        yield None
        return
    if not isinstance(x, Product):
        return
    n_left = len(factors(x.left))
    for i in range(min(k - 1, n_left), 0, -1):
        if k - i > len(factors(x.right)):
            break
        for left in _bracketings(x.left, i):
            for right in _bracketings(x.right, k - i):
                yield (left, right)


def _assemble(shape: Any, it: Any) -> Any:
    if shape is None:
        return next(it)
    left = _assemble(shape[0], it)
    return (left, _assemble(shape[1], it))


def cartesian(p: Para) -> Para:
    """``p`` over the cartesian actegory (``Global(E)`` Para then take ``(e, x)`` inputs).

    >>> from topos import R, Box
    >>> from topos.para import Global, Para
    >>> g = Para(R(2), Box("f", R(2, 2) * (R(2) * R(2)), R(2)), ["w"], actegory=Global(R(2, 2)))
    >>> cartesian(g).dom
    R(2, 2) * R(2)
    """
    if getattr(p, "actegory", None) is None or getattr(p.actegory, "name", "") == "cartesian":
        return p
    as_cartesian = getattr(p, "as_cartesian", None)
    if as_cartesian is None:
        raise NotImplementedError(
            f"the JAX backend runs Para over the cartesian actegory; {p.actegory!r} has no"
            " as_cartesian()"
        )
    out: Para = as_cartesian()
    return out


def _run(p: Para, params: Mapping[str, Any], pv: Any, x: Any) -> Any:
    token = CONSTANTS.set(params)
    try:  # interpreting and running recurse along the nesting: deep diagrams, deep stack
        traced = has_tracer((pv, x))
        return deep(lambda: interpret(p.arrow).fn((pv, x)), p.arrow, here=traced)
    finally:
        CONSTANTS.reset(token)


def apply(p: Para, params: Mapping[str, Any], *xs: Any, check_ids: bool = True) -> Any:
    """Run the Para ``p`` with ``params`` on one example (``jax.vmap`` for batches).

    ``params`` maps every path of ``p.parameters()`` to an array (and the paths of
    frozen parameters without a value, see ``init``); it is checked first, naming
    the path of any mismatch, then the input against ``p.dom``. The input of a
    product domain is a tuple structure mirroring it (``(a, (b, c))`` for
    ``A * (B * C)``), or its factors given apart at any bracketing:
    ``apply(p, params, a, b, c)``, ``apply(p, params, a, (b, c))``. A Para over
    ``Global(E)`` takes ``(e, x)``: it runs as ``p.as_cartesian()``.

    Token ids (``Fin(n)``) outside ``0..n-1`` are refused, never clamped: a
    concrete input at once (``ValueError``), a traced one (under ``jax.jit``,
    ``jax.vmap``, ``jax.grad``) at run time, by a test the call embeds
    (``backends.jax.core.values.checked_ids``; the error is JAX's runtime error
    with the message inside). Where the input or the parameters lie on several
    devices, a raising test would stall the others, so there the example's
    floating outputs are NaN instead (``values.run_checked``; ``fit`` then
    stops on the NaN loss). ``check_ids=False`` leaves the test out, for ids
    known to be in range; an id outside then reads another row (JAX indexing
    wraps negative ids and clamps the others).

    >>> import jax, jax.numpy as jnp
    >>> from topos import R, Box
    >>> from topos.para import Para, ones
    >>> from backends.jax.core.registry import register
    >>> register("doc.scale_by", lambda box, v: v[0] * v[1], cls="polynomial")
    >>> p = Para(R(3), Box("doc.scale_by", R(3) * R(3), R(3)), params={"w": ones})
    >>> apply(p, init(p, jax.random.key(0)), jnp.arange(3.0))
    Array([0., 1., 2.], dtype=float32)
    >>> apply(p, {"w": jnp.ones(4)}, jnp.arange(3.0))
    Traceback (most recent call last):
    ...
    ValueError: params['w']: expected shape (3,) for R(3), got shape (4,)
    """
    check_para("apply", p)
    q = cartesian(p)
    x = _input(q.dom, xs)
    pv = param_value(q, params)
    q = at_lengths(q, x)
    check(q.dom, x)
    if not check_ids:
        return _run(q, params, pv, x)
    return run_checked(q.dom, x, q.cod, lambda v: _run(q, params, pv, v), "input", params)


def at_lengths(p: Para, x: Any, batch: int = 0) -> Para:
    """``p`` specialised to the lengths of its dims in the input ``x`` (cached per binding).

    A diagram with dimension variables (``topos.dims``) runs at any lengths within
    their bounds: each dim takes the length of the axis it labels in ``x`` (after
    ``batch`` leading batch axes), and the specialised diagram is built once per
    binding. Concrete diagrams are returned as they are.

    >>> from topos import R
    >>> from topos.dims import Dim
    >>> from topos.nn import primitives as P
    >>> from topos.para import Para
    >>> p = Para.lift(P.relu(R(Dim("t", 8), 2)))
    >>> at_lengths(p, jnp.zeros((3, 2))).dom
    R(3, 2)
    """
    known = _dims_of(p)
    if not known:
        return p
    shapes = jax.tree.map(lambda v: tuple(jnp.shape(v))[batch:], x)
    binding = bind(p.dom, shapes)
    out = _specialised(p, tuple(sorted(binding.items())))
    if _dims_of(out):
        raise ValueError(unbound(out))
    return out


@functools.lru_cache(maxsize=256)
def _dims_of(p: Para) -> tuple[Any, ...]:
    return dims(p)


@functools.lru_cache(maxsize=256)
def _specialised(p: Para, binding: tuple[tuple[str, int], ...]) -> Para:
    out: Para = specialise(p, **dict(binding))
    return out


def batched(
    p: Para, mesh: Mesh | None = None, rules: Rules | None = None, *, check_ids: bool = True
) -> Callable[[Mapping[str, Any], Any], Any]:
    """``(params, xs) -> ys``: ``p`` over the leading axis of ``xs``, by ``jax.vmap``.

    The parameters are shared across the batch (not mapped); each example is
    checked against ``p.dom`` (at trace time), and its token ids at run time as
    ``apply`` says (``check_ids=False`` leaves that out): on one device by one test
    of the whole batch before the ``vmap`` (the error names ``input (the batch)``),
    on several by NaN outputs for each example with a bad id. With a device ``mesh``,
    the batch is constrained to the batch's mesh axis in and out (``data``), and an
    output's last axis takes the ``vocab`` rule (``model`` on the logits, so the
    loss reads them where they were made).

    >>> import jax, jax.numpy as jnp
    >>> from topos import R, Box
    >>> from topos.para import Para, ones
    >>> p = Para(R(3), Box("doc.scale_by", R(3) * R(3), R(3)), params={"w": ones})
    >>> batched(p)(init(p, jax.random.key(0)), jnp.ones((5, 3))).shape
    (5, 3)
    >>> mesh = sharding.make_mesh("1x1")
    >>> ys = batched(p, mesh)(init(p, jax.random.key(0), mesh=mesh), jnp.ones((2, 3)))
    >>> ys.sharding.spec
    P(None, None)

    Args:
        p: the Para to run.
        mesh: a device mesh to place the batch on (default: no constraint).
        rules: the sharding rules with ``mesh`` (default ``sharding.MEGATRON``).
        check_ids: whether out-of-range token ids raise at run time (default) or are
            read as JAX indexing reads them.
    """
    check_para("batched", p)
    q = cartesian(p)

    def one(params: Mapping[str, Any], pv: Any, x: Any, checked: bool) -> Any:
        r = at_lengths(q, x)
        where = "input (one example of the batch)"
        check(r.dom, x, where)
        if not checked:
            return _run(r, params, pv, x)
        return run_checked(r.dom, x, r.cod, lambda v: _run(r, params, pv, v), where, params)

    def many(params: Mapping[str, Any], xs: Any) -> Any:
        pv = param_value(q, params)
        if check_ids and not has_tracer(xs):  # a concrete batch: refused now, by index
            checked_ids(q.dom, xs, "input (the batch)")
        per_example = check_ids and has_tracer(xs) and on_several_devices(xs, params)
        if check_ids and has_tracer(xs) and not per_example:
            # one device: one run-time test of the whole batch, outside the vmap (a test
            # per example under the vmap costs a batched conditional in every step)
            xs = checked_ids(at_lengths(q, xs, 1).dom, xs, "input (the batch)")
        run = functools.partial(one, checked=per_example)
        return jax.vmap(run, in_axes=(None, None, 0))(params, pv, xs)

    if mesh is None:
        return many
    sharding.check_mesh("batched", mesh)
    rules_ = sharding.MEGATRON if rules is None else rules

    def constrain(x: Any, last: str | None) -> Any:
        axes = (rules_.batch,) + (None,) * (x.ndim - 2) + ((last,) if x.ndim > 1 else ())
        placed = NamedSharding(mesh, sharding.spec(axes[: x.ndim], x.shape, mesh, rules_))
        return jax.lax.with_sharding_constraint(x, placed)  # type: ignore[no-untyped-call]

    def sharded(params: Mapping[str, Any], xs: Any) -> Any:
        xs = jax.tree.map(lambda x: constrain(x, None), xs)
        return jax.tree.map(lambda y: constrain(y, "vocab"), many(params, xs))

    return sharded
