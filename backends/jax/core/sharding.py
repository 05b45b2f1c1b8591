"""Shardings from structure: mesh axes for parameters and batches, by readable rules.

A ``Rules`` value is two tables of data, in the style of Flax's logical axis rules:

- ``params``: ``(glob over the parameter path, logical axes of the leaf)``, first
  match wins: ``("*attn.q.w", ("embed", "heads"))`` says the query weight maps
  the residual stream (``embed``) to the heads. A leaf stacked by ``repeat`` gets
  one ``"layers"`` axis in front per stacking. A path no rule matches is replicated.
- ``mesh``: ``(logical axis, mesh axis)`` in priority order. Each array axis takes
  the first rule of its logical name whose mesh axis is still free for this array
  and divides the axis' size; otherwise it stays whole (replicated on that axis).

``MEGATRON`` puts the batch on ``data`` and heads, MLP hidden and vocabulary axes on
``model`` (the residual-stream axis ``embed`` takes ``model`` only where nothing else
did, e.g. a vocabulary of 97 that 8 does not divide). ``FSDP`` adds ``embed -> data``
and ``vocab -> data``: the other axis of each weight is split over the
data-parallel devices too.
JAX's SPMD partitioner does the rest (mesh axes are ``AxisType.Auto``). A mesh
with ``Explicit`` axes (``jax.make_mesh``'s default since jax 0.7) is refused
where a mesh comes in (``init``, ``batched``, ``fit``), naming how to build it
with ``Auto`` axes: under explicit sharding every gather and contraction would
need its output sharding spelt out, which these placements leave to the
partitioner.

>>> from topos import nn
>>> p = nn.transformer(vocab=64, seq=8, d=16, heads=2, layers=2)
>>> axes = logical_axes(p)
>>> axes["blocks.attn.q.w"], axes["head.w"], axes["ln_f.scale"]
(('layers', 'embed', 'heads'), ('embed', 'vocab'), ('norm',))
>>> spec(axes["blocks.mlp.fc1.w"], (2, 16, 64), abstract_mesh("2x4"))
P(None, None, 'model')
"""

from __future__ import annotations

import fnmatch
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jax
from jax.sharding import AbstractMesh, AxisType, Mesh, NamedSharding, PartitionSpec

from topos.para import Para

__all__ = [
    "FSDP",
    "MEGATRON",
    "Rules",
    "abstract_mesh",
    "batch_sharding",
    "check_mesh",
    "logical_axes",
    "make_mesh",
    "param_bytes",
    "param_shardings",
    "place_state",
    "sharded_batches",
    "shard_batch",
    "spec",
    "state_shardings",
]

Axes = tuple[str | None, ...]
AnyMesh = Mesh | AbstractMesh


def _pspec(*names: Any) -> PartitionSpec:
    return PartitionSpec(*names)  # type: ignore[no-untyped-call]  # jax leaves it untyped


#: Logical axes of the parameters of ``topos.nn`` (the unstacked leaf), first match wins.
TRANSFORMER_AXES: tuple[tuple[str, Axes], ...] = (
    ("*embed.table", ("vocab", "embed")),
    ("*pos.table", ("position", "embed")),
    ("*attn.[qkv].w", ("embed", "heads")),
    ("*attn.[qkv].b", ("heads",)),
    ("*attn.o.w", ("heads", "embed")),
    ("*attn.o.b", ("embed",)),
    ("*mlp.fc1.w", ("embed", "mlp")),
    ("*mlp.fc1.b", ("mlp",)),
    ("*mlp.fc2.w", ("mlp", "embed")),
    ("*mlp.fc2.b", ("embed",)),
    ("*head.w", ("embed", "vocab")),
    ("*head.b", ("vocab",)),
    ("*ln*.scale", ("norm",)),
    ("*ln*.bias", ("norm",)),
)


@dataclass(frozen=True)
class Rules:
    """Where each axis goes: parameter paths to logical axes, logical axes to mesh axes.

    ``batch`` is the logical name of the leading axis of a batch (and of the
    outputs of ``batched``). ``override`` puts user rules in front of these.

    >>> r = MEGATRON.override(params=[("*fc1.w", ("embed", None))], mesh=[("norm", "model")])
    >>> r.params[0], r.mesh[0]
    (('*fc1.w', ('embed', None)), ('norm', 'model'))

    Args:
        params: ``(path glob, logical axes)`` pairs; the first whose glob matches a
            parameter path (``fnmatch``) names its axes (one per unstacked axis).
        mesh: ``(logical axis, mesh axis)`` pairs in priority order.
        batch: the logical axis of a batch's leading dimension.
    """

    params: tuple[tuple[str, Axes], ...]
    mesh: tuple[tuple[str, str], ...]
    batch: str = "batch"

    def override(
        self,
        params: Sequence[tuple[str, Axes]] = (),
        mesh: Sequence[tuple[str, str]] = (),
    ) -> Rules:
        """These rules with ``params`` and ``mesh`` rules taking precedence."""
        return replace(
            self,
            params=tuple((g, tuple(a)) for g, a in params) + self.params,
            mesh=tuple((n, m) for n, m in mesh) + self.mesh,
        )


#: Megatron-style tensor parallelism on ``model``, data parallelism on ``data``.
MEGATRON = Rules(
    params=TRANSFORMER_AXES,
    mesh=(
        ("batch", "data"),
        ("heads", "model"),
        ("mlp", "model"),
        ("vocab", "model"),
        ("embed", "model"),
    ),
)

#: MEGATRON plus FSDP: each weight's other axis split over ``data`` as well.
FSDP = replace(MEGATRON, mesh=MEGATRON.mesh + (("embed", "data"), ("vocab", "data")))


def _dims(op: str, shape: str | tuple[int, int], names: tuple[str, ...]) -> tuple[int, ...]:
    if isinstance(shape, str):
        try:
            dims = tuple(int(s) for s in shape.lower().split("x"))
        except ValueError:
            raise ValueError(f"{op}: expected a shape like '4x2', got {shape!r}") from None
    else:
        dims = tuple(shape)
    if len(dims) != len(names) or any(d < 1 for d in dims):
        raise ValueError(f"{op}: expected {len(names)} positive sizes, got {shape!r}")
    return dims


def abstract_mesh(
    shape: str | tuple[int, int], names: tuple[str, str] = ("data", "model")
) -> AbstractMesh:
    """A mesh of that shape without devices: for shardings and shapes, not for running.

    >>> abstract_mesh("2x4")
    AbstractMesh('data': 2, 'model': 4, axis_types=(Auto, Auto))
    """
    dims = _dims("abstract_mesh", shape, names)
    return AbstractMesh(dims, names, axis_types=(AxisType.Auto,) * len(names))


def make_mesh(shape: str | tuple[int, int], names: tuple[str, str] = ("data", "model")) -> Mesh:
    """A ``data x model`` device mesh, ``"4x2"`` or ``(4, 2)``, with ``Auto`` axes.

    ``Auto`` (not JAX's newer ``Explicit`` default) because the shardings here are
    placements and hints: the SPMD partitioner chooses the collectives.

    >>> dict(make_mesh("1x1").shape)
    {'data': 1, 'model': 1}

    Args:
        shape: the number of devices along each axis; their product must not
            exceed ``jax.device_count()``.
        names: the names of the two axes.
    """
    dims = _dims("make_mesh", shape, names)
    n = dims[0] * dims[1]
    if n > jax.device_count():
        raise ValueError(
            f"make_mesh: {shape!r} needs {n} devices, there are {jax.device_count()}"
            " (on CPU: XLA_FLAGS=--xla_force_host_platform_device_count=N before jax starts)"
        )
    devices = jax.devices()[:n]
    return jax.make_mesh(dims, names, axis_types=(AxisType.Auto,) * len(names), devices=devices)


def check_mesh(op: str, mesh: Any) -> None:
    """Refuse a mesh that is not a ``jax.sharding.Mesh`` with ``Auto`` axes, in one line.

    >>> import jax
    >>> from jax.sharding import AxisType
    >>> check_mesh("init", make_mesh("1x1"))
    >>> explicit = jax.make_mesh((1, 1), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    >>> check_mesh("init", explicit)
    Traceback (most recent call last):
    ...
    ValueError: init: the mesh's axes ('data', 'model') are (Explicit, Explicit); topos ...
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{op}: expected a jax.sharding.Mesh, got {type(mesh).__name__}")
    types = tuple(mesh.axis_types)
    if all(t == AxisType.Auto for t in types):
        return
    names, sizes = tuple(mesh.axis_names), tuple(mesh.shape.values())
    shown = ", ".join(t.name for t in types)
    raise ValueError(
        f"{op}: the mesh's axes {names} are ({shown}); topos places arrays on Auto axes and"
        f" lets the partitioner choose the collectives: build it with jax.make_mesh({sizes},"
        f" {names}, axis_types=(jax.sharding.AxisType.Auto,) * {len(names)})"
    )


def _stacked(param: Any) -> int:
    depth = getattr(param, "stacked", 0)
    return depth if isinstance(depth, int) else 0


def _rank(param: Any) -> int:
    return len(getattr(param.ob, "shape", ()))


def logical_axes(p: Para, rules: Rules | None = None) -> dict[str, Axes]:
    """The logical axes of each parameter of the Para ``p``: ``{path: axes}``.

    Stacked (``repeat``) leaves get ``"layers"`` in front; a leaf no rule matches
    gets ``None`` on every axis.

    >>> from topos import nn
    >>> logical_axes(nn.mlp([4, 8, 2]))["mlp.fc1.w"]
    ('embed', 'mlp')
    >>> logical_axes(nn.linear(4, 2))
    {'linear.w': (None, None), 'linear.b': (None,)}
    """
    rules = MEGATRON if rules is None else rules
    params = {**p.parameters(), **p.constants()}
    return {path: _axes(path, _rank(x), _stacked(x), rules) for path, x in params.items()}


def _axes(path: str, rank: int, depth: int | None, rules: Rules) -> Axes:
    """The logical axes of one leaf; ``depth=None``: the leading axes a rule leaves over
    are layer axes (for a params dict whose ``repeat`` depth is not known)."""
    inner = next((a for g, a in rules.params if fnmatch.fnmatchcase(path, g)), None)
    if depth is None:
        depth = rank - len(inner) if inner is not None and len(inner) <= rank else 0
    if inner is None:
        inner = (None,) * (rank - depth)
    if len(inner) != rank - depth:
        raise ValueError(
            f"sharding rules: parameter {path!r} has {rank - depth} axes ({depth} stacked"
            f" of {rank}), the rule gives {len(inner)}: {inner}"
        )
    return ("layers",) * depth + tuple(inner)


def spec(
    axes: Axes, shape: Sequence[int], mesh: AnyMesh, rules: Rules | None = None
) -> PartitionSpec:
    """The ``PartitionSpec`` of an array with these logical ``axes`` on ``mesh``.

    Each axis takes the mesh axes of the ``rules.mesh`` entries of its name, in
    order, that are unused by this array, longer than 1, and keep dividing its size
    (the first usually; FSDP's ``embed -> data`` after ``embed -> model`` adds a
    second where the first is free). ``mesh`` may be a ``Mesh`` or an
    ``AbstractMesh`` (``abstract_mesh``: no devices).

    >>> mesh = abstract_mesh("2x4")
    >>> spec(("embed", "heads"), (16, 16), mesh), spec(("layers", "mlp", "embed"), (2, 8, 4), mesh)
    (P(None, 'model'), P(None, 'model', None))
    >>> spec(("vocab", "embed"), (97, 16), mesh, FSDP)
    P(None, ('model', 'data'))
    """
    rules = MEGATRON if rules is None else rules
    sizes = dict(mesh.shape)
    chosen: list[list[str]] = [[] for _ in axes]
    used: set[str] = set()
    for name, target in rules.mesh:  # priority order across the array's axes
        for i, axis in enumerate(axes):
            size = sizes.get(target, 1)
            split = size * math.prod(sizes[t] for t in chosen[i])
            # a size-1 mesh axis splits nothing: never named
            if axis == name and target not in used and size > 1 and shape[i] % split == 0:
                chosen[i].append(target)
                used.add(target)
    return _pspec(*(None if not c else c[0] if len(c) == 1 else tuple(c) for c in chosen))


def param_shardings(p: Para, mesh: AnyMesh, rules: Rules | None = None) -> dict[str, NamedSharding]:
    """The sharding of each parameter of ``p`` on ``mesh``, as ``rules`` say.

    >>> from topos import nn
    >>> s = param_shardings(nn.transformer(64, 8, 16, 2, 1), abstract_mesh("2x4"))
    >>> s["head.w"].spec, s["ln_f.bias"].spec
    (P(None, 'model'), P(None,))
    """
    axes = logical_axes(p, rules)
    params = {**p.parameters(), **p.constants()}
    return {
        path: NamedSharding(mesh, spec(a, getattr(params[path].ob, "shape", ()), mesh, rules))
        for path, a in axes.items()
    }


def batch_sharding(
    mesh: AnyMesh, ndim: int, size: int, rules: Rules | None = None
) -> NamedSharding:
    """The sharding of a batch: its leading axis (``size`` long) on the batch's mesh axis.

    >>> batch_sharding(abstract_mesh("2x4"), 3, 8).spec
    P('data', None, None)
    """
    rules = MEGATRON if rules is None else rules
    lead = spec((rules.batch,), (size,), mesh, rules)[0]
    return NamedSharding(mesh, _pspec(lead, *([None] * (ndim - 1))))


def shard_batch(batch: Any, mesh: Mesh, rules: Rules | None = None) -> Any:
    """Every array leaf of ``batch`` placed with its leading axis on ``data``.

    >>> import numpy as np
    >>> shard_batch((np.zeros((4, 3)), np.zeros(4)), make_mesh("1x1"))[0].sharding.spec
    P(None, None)
    """

    check_mesh("shard_batch", mesh)

    def put(x: Any) -> Any:
        if getattr(x, "ndim", 0) == 0:
            return jax.device_put(x, NamedSharding(mesh, _pspec()))
        return jax.device_put(x, batch_sharding(mesh, x.ndim, x.shape[0], rules))

    return jax.tree.map(put, batch)


def state_shardings(
    state: Any, shardings: Mapping[str, NamedSharding], mesh: Mesh
) -> list[NamedSharding]:
    """The sharding of each leaf of an optimiser ``state`` over path-keyed parameters.

    A leaf whose last key is a parameter path and whose shape is that parameter's
    (Adam's ``mu`` and ``nu``) follows the parameter; any other (a step count) is
    replicated.

    >>> import jax.numpy as jnp, optax
    >>> mesh = make_mesh("1x1")
    >>> s = {"w": NamedSharding(mesh, PartitionSpec(None, "model"))}
    >>> [x.spec for x in state_shardings(optax.adam(1e-3).init({"w": jnp.ones((2, 2))}), s, mesh)]
    [P(), P(None, 'model'), P(None, 'model')]
    """
    keyed, _ = jax.tree_util.tree_flatten_with_path(state)
    replicated = NamedSharding(mesh, _pspec())
    out = []
    for keypath, leaf in keyed:
        last = getattr(keypath[-1], "key", None) if keypath else None
        target = shardings.get(last) if isinstance(last, str) else None
        out.append(target if target is not None and _fits(target, leaf) else replicated)
    return out


def _fits(sharding: NamedSharding, x: Any) -> bool:
    if len(sharding.spec) > getattr(x, "ndim", 0):
        return False
    try:
        sharding.shard_shape(tuple(x.shape))
    except ValueError:
        return False
    return True


def param_bytes(
    shapes: Mapping[str, Any], shardings: Mapping[str, NamedSharding] | None = None
) -> int:
    """The bytes of the parameters on one device: each array's shard shape, summed.

    ``shapes`` maps paths to arrays or ``jax.ShapeDtypeStruct`` (from ``jax.eval_shape``);
    without ``shardings`` every array is whole (the single-device figure).

    >>> import jax, jax.numpy as jnp
    >>> param_bytes({"w": jax.ShapeDtypeStruct((4, 8), jnp.float32)})
    128
    """
    total = 0
    for path, x in shapes.items():
        shape = tuple(x.shape)
        if shardings is not None:
            shape = tuple(shardings[path].shard_shape(shape))
        total += functools.reduce(lambda a, b: a * b, shape, 1) * x.dtype.itemsize
    return total


def sharded_batches(
    batches: Callable[[int], Any], mesh: Mesh, rules: Rules | None = None
) -> Callable[[int], Any]:
    """``step -> batch`` with each batch placed by ``shard_batch`` (what ``fit`` runs).

    >>> import numpy as np
    >>> sharded_batches(lambda i: np.zeros((2, 3)), make_mesh("1x1"))(0).sharding.spec
    P(None, None)
    """
    check_mesh("sharded_batches", mesh)
    return lambda i: shard_batch(batches(i), mesh, rules)


def _leaf_sharding(path: str, x: Any, mesh: Mesh, rules: Rules) -> NamedSharding:
    """``x``'s own sharding if it is on ``mesh`` (``init`` placed it), else the rules'."""
    own = getattr(x, "sharding", None)
    if isinstance(own, NamedSharding) and own.mesh == mesh:
        return own
    return NamedSharding(mesh, spec(_axes(path, x.ndim, None, rules), x.shape, mesh, rules))


def place_state(
    mesh: Mesh,
    rules: Rules | None,
    paths: Sequence[str],
    train: Sequence[Any],
    opt_state: Any,
    frozen: Sequence[Any],
) -> tuple[list[Any], list[Any], list[Any], Any]:
    """The training state of ``fit(..., mesh=...)`` placed on ``mesh``, and the step's
    output shardings ``(train, opt, loss)``.

    A trainable leaf keeps its sharding when it is on ``mesh`` (as ``init`` made
    it), else gets the one ``rules`` give for its path (leading axes a rule does
    not name count as layer axes). The optimiser state follows its parameter
    (``state_shardings``); frozen leaves keep theirs or are replicated; the loss
    is replicated. Nothing is gathered to the host: ``jax.device_put`` reshards.

    >>> import jax.numpy as jnp, optax
    >>> mesh = make_mesh("1x1")
    >>> t = [jnp.ones((4, 8))]
    >>> placed = place_state(mesh, None, ["mlp.fc1.w"], t, (), [])
    >>> placed[0][0].sharding.spec, placed[3][2].spec
    (P(None, None), P())

    Args:
        mesh: the device mesh.
        rules: the sharding rules (``MEGATRON`` when ``None``).
        paths: the paths of the trainable leaves.
        train: the trainable leaves.
        opt_state: the optimiser state, ``optimizer.init(dict(zip(paths, train)))``;
            its leaves come back placed, in ``jax.tree`` order.
        frozen: the frozen leaves.
    """
    check_mesh("fit", mesh)
    rules = MEGATRON if rules is None else rules
    train_sh = {p: _leaf_sharding(p, x, mesh, rules) for p, x in zip(paths, train, strict=True)}
    opt = jax.tree.leaves(opt_state)
    opt_sh = state_shardings(opt_state, train_sh, mesh)
    replicated = NamedSharding(mesh, _pspec())
    frozen_sh = [
        x.sharding
        if isinstance(getattr(x, "sharding", None), NamedSharding) and x.sharding.mesh == mesh
        else replicated
        for x in frozen
    ]
    train_list = [train_sh[p] for p in paths]
    return (
        [jax.device_put(x, s) for x, s in zip(train, train_list, strict=True)],
        [jax.device_put(x, s) for x, s in zip(opt, opt_sh, strict=True)],
        [jax.device_put(x, s) for x, s in zip(frozen, frozen_sh, strict=True)],
        (train_list, opt_sh, replicated),
    )
