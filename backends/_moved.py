"""Module paths of topos 0.1 that moved when the JAX backend was layered by concern.

Each old path still imports, for one release, and warns with its new home. The
alias is the new module itself (not a copy), so ``isinstance`` and registries
see one module; nothing is imported before the old path is asked for.

>>> import importlib, warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     old = importlib.import_module("backends.jax.params")
>>> old is importlib.import_module("backends.jax.core.params")
True
>>> "backends.jax.core.params" in str(caught[0].message)
True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

__all__ = ["MOVED", "install"]

#: old module path -> new module path
MOVED: dict[str, str] = {
    "backends.cli": "backends.apps.cli",
    "backends.jax.checkpoint": "backends.jax.training.checkpoint",
    "backends.jax.compile": "backends.jax.core.compile",
    "backends.jax.convert": "backends.jax.interop.penzai",
    "backends.jax.corpus": "backends.apps.corpus",
    "backends.jax.fit": "backends.jax.training.fit",
    "backends.jax.generate": "backends.jax.decoding.generate",
    "backends.jax.icl": "backends.jax.experiments.icl",
    "backends.jax.layers": "backends.jax.core.layout",
    "backends.jax.limits": "backends.jax.core.limits",
    "backends.jax.model": "backends.jax.interop.equinox",
    "backends.jax.nn_primitives": "backends.jax.core.primitives",
    "backends.jax.nnx": "backends.jax.interop.nnx",
    "backends.jax.params": "backends.jax.core.params",
    "backends.jax.pl": "backends.jax.logic.pl",
    "backends.jax.progress": "backends.jax.training.progress",
    "backends.jax.regions": "backends.jax.logic",
    "backends.jax.registry": "backends.jax.core.registry",
    "backends.jax.sample": "backends.jax.decoding.sample",
    "backends.jax.search": "backends.jax.experiments.search",
    "backends.jax.values": "backends.jax.core.values",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path of ``MOVED`` and loads it as its new module, with a warning."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; the old path goes away in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # already executed under its new name; the import system set the old spec on it
        spec = module.__spec__
        if spec is not None and spec.name in self._specs:
            module.__spec__ = self._specs.pop(spec.name)


def install() -> None:
    """Put the finder of old paths on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())  # before path finders: an old file must not win
