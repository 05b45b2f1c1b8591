"""Module paths and names of topos 0.1 still work for one release, and say where they went."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from backends._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_imports_its_new_module_with_a_warning(old: str) -> None:
    code = (
        "import importlib, warnings\n"
        "warnings.simplefilter('error')\n"
        f"new = importlib.import_module({MOVED[old]!r})\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        f"    old = importlib.import_module({old!r})\n"
        "assert old is new, (old, new)\n"
        f"assert new.__spec__.name == {MOVED[old]!r}, new.__spec__\n"
        "print(caught[0].category.__name__, caught[0].message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("DeprecationWarning") and MOVED[old] in out.stdout


def test_an_old_path_named_like_a_verb_does_not_replace_the_verb() -> None:
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import backends.jax.fit, backends.jax.compile, backends.jax.generate\n"
        "import backends.jax.sample, backends.jax as bj\n"
        "from backends.jax import fit, compile, generate, sample\n"
        "print(all(callable(f) and not hasattr(f, '__path__') and f.__module__ != f.__name__\n"
        "          for f in (fit, compile, generate, sample)))\n"
        "print(type(bj.fit).__name__, type(bj.compile).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "function", "function"]


def test_a_former_name_of_the_namespace_warns_and_resolves() -> None:
    import backends.jax as bj
    from backends.jax.core.values import Unstacked
    from backends.jax.logic import explain

    with pytest.warns(DeprecationWarning, match="backends.jax.logic.explain"):
        assert bj.explain is explain
    with pytest.warns(DeprecationWarning, match="Unstacked"):
        assert bj.Layers is Unstacked
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        bj.nonsense  # noqa: B018


def test_the_former_grammar_sample_is_random_spec() -> None:
    grammar = importlib.import_module("topos.nn.grammar")
    with pytest.warns(DeprecationWarning, match="random_spec"):
        assert grammar.sample is grammar.random_spec
