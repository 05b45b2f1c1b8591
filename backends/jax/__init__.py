"""The JAX backend: diagrams become jit-compiled functions and trainable models.

The verbs users call, from the subpackages that define them:

- ``compile(f)``, ``constant(array)``, ``register(name, fn, cls=...)``: the functor into
  JAX functions and its primitives (``backends.jax.core``);
- ``init(p, key)``, ``apply(p, params, x)``, ``batched(p)``: a Para as a model, on one
  device or a ``mesh`` (``backends.jax.sharding`` says where each axis goes);
  ``unstack``/``restack``: the layer layout; ``optimized(p)``: the Para rewritten
  by declared laws;
- ``Model(p, key)`` (Equinox) and ``to_nnx(p, rngs)`` (Flax NNX): the same Para as
  another library's module; ``from_jax(fn, *args)``: any JAX function or module as a
  diagram, read from its jaxpr, and ``imported_params(module)`` its weights;
  ``load_pretrained(folder)`` / ``save_pretrained(...)``:
  Hugging Face checkpoint folders (GPT-2, Llama-family, ViT) as presets and back
  (``backends.jax.interop``);
- ``fit(loss, params, batches, ...)``: training with optax, checkpoints, progress
  (``backends.jax.training``);
- ``generate(p, params, prompts, steps, key)`` and ``sample(...)``: decoding
  (``backends.jax.decoding``).

The logic of ReLU networks (``PLNet``, ``regions``, ``explain``) is
``backends.jax.logic``; the seed's experiments are ``backends.jax.experiments``.
Everything else is reachable from its submodule. Importing this package imports
jax and equinox; optax (``fit``) and flax (``to_nnx``) are imported when first used.

>>> import jax, jax.numpy as jnp
>>> from topos import Box, R
>>> register("doc.init.twice", lambda box, x: 2.0 * x, cls="linear")
>>> f = compile(Box("doc.init.twice", R(3), R(3)))
>>> jax.jit(f)(jnp.ones(3))
Array([2., 2., 2.], dtype=float32)
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import TYPE_CHECKING, Any

from backends.jax.core import sharding as sharding
from backends.jax.core.compile import compile as compile
from backends.jax.core.compile import constant as constant
from backends.jax.core.layout import restack as restack
from backends.jax.core.layout import unstack as unstack
from backends.jax.core.optimized import optimized as optimized
from backends.jax.core.params import apply as apply
from backends.jax.core.params import batched as batched
from backends.jax.core.params import init as init
from backends.jax.core.registry import UnregisteredBox as UnregisteredBox
from backends.jax.core.registry import register as register
from backends.jax.decoding import DecodeError as DecodeError
from backends.jax.decoding import generate as generate
from backends.jax.decoding import sample as sample
from backends.jax.interop.equinox import Model as Model
from backends.jax.interop.from_jax import FromJaxError as FromJaxError
from backends.jax.interop.from_jax import from_jax as from_jax
from backends.jax.interop.from_jax import imported_params as imported_params

if TYPE_CHECKING:  # imported on first use: optax, orbax and flax are heavy
    from backends.jax.interop.hf import load_pretrained as load_pretrained
    from backends.jax.interop.hf import save_pretrained as save_pretrained
    from backends.jax.interop.nnx import ParaModule as ParaModule
    from backends.jax.interop.nnx import to_nnx as to_nnx
    from backends.jax.training import CheckpointError as CheckpointError
    from backends.jax.training import FitResult as FitResult
    from backends.jax.training import fit as fit
    from backends.jax.training import load_checkpoint as load_checkpoint

__all__ = [
    "CheckpointError",
    "DecodeError",
    "FitResult",
    "FromJaxError",
    "Model",
    "ParaModule",
    "UnregisteredBox",
    "apply",
    "batched",
    "compile",
    "constant",
    "fit",
    "from_jax",
    "generate",
    "imported_params",
    "init",
    "load_checkpoint",
    "load_pretrained",
    "optimized",
    "register",
    "restack",
    "sample",
    "save_pretrained",
    "sharding",
    "to_nnx",
    "unstack",
]

#: name -> the module that defines it, imported on first use
_LAZY = {
    "CheckpointError": "backends.jax.training",
    "FitResult": "backends.jax.training",
    "fit": "backends.jax.training",
    "load_checkpoint": "backends.jax.training",
    "ParaModule": "backends.jax.interop.nnx",
    "to_nnx": "backends.jax.interop.nnx",
    "load_pretrained": "backends.jax.interop.hf",
    "save_pretrained": "backends.jax.interop.hf",
}

#: names this namespace exported in topos 0.1 -> their module now (deprecated here)
_FORMER = {
    "CLASSES": "backends.jax.core.registry",
    "Compiled": "backends.jax.core.compile",
    "Corpus": "backends.apps.corpus",
    "CorpusError": "backends.apps.corpus",
    "Fn": "backends.jax.core.compile",
    "JaxCategory": "backends.jax.core.compile",
    "PLNet": "backends.jax.logic",
    "Primitive": "backends.jax.core.registry",
    "check": "backends.jax.core.values",
    "checked_ids": "backends.jax.core.values",
    "decode_step": "backends.jax.decoding",
    "explain": "backends.jax.logic",
    "explain_two_level": "backends.jax.logic",
    "init_array": "backends.jax.core.params",
    "interpret": "backends.jax.core.compile",
    "leaf_paths": "backends.jax.training",
    "load_corpus": "backends.apps.corpus",
    "local_map": "backends.jax.logic",
    "lookup": "backends.jax.core.registry",
    "param_value": "backends.jax.core.params",
    "path_key": "backends.jax.core.params",
    "pattern": "backends.jax.logic",
    "plot_regions": "backends.jax.logic",
    "predicates": "backends.jax.logic",
    "region": "backends.jax.logic",
    "regions": "backends.jax.logic",
    "registered": "backends.jax.core.registry",
    "zeros": "backends.jax.core.values",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name == "Layers":
        warnings.warn(
            "backends.jax.Layers is now backends.jax.core.values.Unstacked",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module("backends.jax.core.values").Unstacked
    elif name in _FORMER:
        warnings.warn(
            f"backends.jax.{name} moved to {_FORMER[name]}.{name}; the old name goes away"
            " in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_FORMER[name]), name)
    else:
        raise AttributeError(f"module 'backends.jax' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Namespace(types.ModuleType):
    """This package: an old module path imported by name (``import backends.jax.fit``,
    see ``backends._moved``) never replaces the verb of the same name here."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in __all__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Namespace
