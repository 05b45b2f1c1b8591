"""The JAX backend: diagrams become jit-compiled functions and trainable models.

- ``compile(f)``: the per-example JAX function of an arrow (``backends.jax.compile``);
- ``register(name, fn, cls=...)``: the JAX implementation of a primitive box;
- ``init(p, key)``, ``apply(p, params, x)``, ``batched(p)``: Para morphisms as models;
- ``Model(p, key)`` (Equinox), ``to_nnx(p, rngs)`` (Flax NNX); ``optimized(p)``: the Para
  rewritten by declared laws (``fit(..., optimize=True)`` trains through it);
- ``fit(loss, params, batches, optimizer=..., steps=...)``: training with optax;
  ``unstack(p, params)`` / ``restack``: the layer layout of short repeats
  (``backends.jax.layers``; ``fit(..., layers=p)`` trains in it);
- ``sample(p, params, prompt, steps, key)``: temperature sampling from a causal model;
- ``generate(p, params, prompts, steps, key)``: batched decoding with a key–value
  cache derived from the diagram (``backends.jax.generate``);
- ``load_corpus(root, train_chars, val_chars)``: a file-level split of a source tree.

>>> import jax, jax.numpy as jnp
>>> from topos import Box, R
>>> register("doc.init.twice", lambda box, x: 2.0 * x, cls="linear")
>>> f = compile(Box("doc.init.twice", R(3), R(3)))
>>> jax.jit(f)(jnp.ones(3))
Array([2., 2., 2.], dtype=float32)
"""

import importlib
import importlib.util

from backends.jax.compile import Compiled, Fn, JaxCategory, compile, constant, interpret
from backends.jax.corpus import Corpus, CorpusError, load_corpus
from backends.jax.fit import CheckpointError, FitResult, fit, leaf_paths, load_checkpoint
from backends.jax.generate import DecodeError, decode_step, generate
from backends.jax.layers import Layers, restack, unstack
from backends.jax.model import Model, optimized
from backends.jax.nnx import ParaModule, to_nnx
from backends.jax.params import apply, batched, init, init_array, param_value, path_key
from backends.jax.regions import (
    PLNet,
    explain,
    explain_two_level,
    local_map,
    pattern,
    plot_regions,
    predicates,
    region,
    regions,
)
from backends.jax.registry import CLASSES, Primitive, UnregisteredBox, lookup, register, registered
from backends.jax.sample import sample
from backends.jax.values import check, checked_ids, zeros

__all__ = [
    "CLASSES",
    "CheckpointError",
    "Compiled",
    "Corpus",
    "CorpusError",
    "DecodeError",
    "FitResult",
    "Fn",
    "JaxCategory",
    "Layers",
    "Model",
    "PLNet",
    "ParaModule",
    "Primitive",
    "UnregisteredBox",
    "apply",
    "batched",
    "check",
    "checked_ids",
    "compile",
    "constant",
    "decode_step",
    "explain",
    "explain_two_level",
    "fit",
    "generate",
    "init",
    "init_array",
    "interpret",
    "leaf_paths",
    "load_checkpoint",
    "load_corpus",
    "local_map",
    "optimized",
    "lookup",
    "param_value",
    "path_key",
    "pattern",
    "plot_regions",
    "predicates",
    "region",
    "regions",
    "register",
    "registered",
    "restack",
    "sample",
    "to_nnx",
    "unstack",
    "zeros",
]

# The neural primitives of topos.nn register themselves on import.
if importlib.util.find_spec("backends.jax.nn_primitives") is not None:
    importlib.import_module("backends.jax.nn_primitives")
