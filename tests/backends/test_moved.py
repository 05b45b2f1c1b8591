"""Module paths and names of topos 0.1 still work for one release, and say where they went."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from backends._moved import MOVED


@pytest.fixture(scope="module")
def imported() -> dict[str, list[str]]:
    """Each old path imported in one fresh interpreter, after its new module: what it gave.

    One interpreter for all of them (importing jax once, not once per path); each old
    path is still imported for the first time there, so its warning is its own.
    """
    code = (
        "import importlib, json, warnings\n"
        f"moved = {dict(MOVED)!r}\n"
        "out = {}\n"
        "for old, target in sorted(moved.items()):\n"
        "    warnings.simplefilter('error')\n"
        "    new = importlib.import_module(target)\n"
        "    warnings.simplefilter('always')\n"
        "    with warnings.catch_warnings(record=True) as caught:\n"
        "        was = importlib.import_module(old)\n"
        "    out[old] = [str(was is new), new.__spec__.name,\n"
        "                *(f'{w.category.__name__} {w.message}' for w in caught)]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_imports_its_new_module_with_a_warning(
    imported: dict[str, list[str]], old: str
) -> None:
    same, spec, *caught = imported[old]
    assert same == "True" and spec == MOVED[old]
    assert caught and caught[0].startswith("DeprecationWarning") and MOVED[old] in caught[0]


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
