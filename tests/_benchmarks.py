"""The scripts of ``benchmarks/`` as modules, for the tests that hold them to the library.

``load(name)`` executes ``benchmarks/<name>.py`` under the module name
``bench_<name>`` (the scripts' own names would shadow the library's modules) and
registers it in ``sys.modules`` first, since dataclasses (and Equinox modules)
look their module up while they are defined.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as the module ``bench_<name>``, executed afresh."""
    key = f"bench_{name}"
    spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module
