"""The backend is layered one way: each package imports only from packages below it.

From the bottom: ``backends.jax.core`` (compiling and initialising); then
``decoding``, ``interop`` and ``logic``, side by side; ``training``;
``experiments``; the curated ``backends.jax`` namespace; ``backends.apps``. Every
import counts, at module level or inside a function (an import inside a
function is no way around the order), and no two modules import each other,
however indirectly. ``topos`` is below all of them; the core imports neither
optax, flax nor orbax, and ``import backends.jax`` imports none of them either.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: package -> layer; a module may import from its own layer's package or any lower layer.
LAYERS = {
    "backends._moved": 0,
    "backends.jax.core": 1,
    "backends.jax.decoding": 2,
    "backends.jax.interop": 2,
    "backends.jax.logic": 2,
    "backends.jax.training": 3,
    "backends.jax.experiments": 4,
    "backends.jax": 5,  # the namespace's __init__ alone
    "backends.apps": 6,
    "backends": 7,  # the package's __init__ alone
}

HEAVY = ("optax", "flax", "orbax")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str:
    """The entry of ``LAYERS`` a module belongs to: the longest prefix."""
    return max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)


def _imports(path: Path, modules: set[str]) -> list[tuple[int, str]]:
    """Every module ``path`` imports, anywhere in it: ``(line, module)``.

    ``from package import name`` imports the module ``package.name`` when there is
    one, else the package.
    """
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.append((node.lineno, sub if sub in modules else node.module))
    return out


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / "backends").rglob("*.py"))}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {
        name: {m for _, m in _imports(path, set(mods)) if m in mods and m != name}
        for name, path in mods.items()
    }


def test_every_module_of_the_backend_has_a_layer() -> None:
    assert set(LAYERS) <= set(_modules())
    for name in _modules():
        assert _package(name) in LAYERS, name


def test_no_module_imports_from_a_higher_layer() -> None:
    mods = _modules()
    wrong = []
    for name, path in mods.items():
        mine = LAYERS[_package(name)]
        for line, target in _imports(path, set(mods)):
            if target not in mods and not any(target.startswith(p + ".") for p in LAYERS):
                continue
            theirs = LAYERS[_package(target)]
            if theirs > mine:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {target}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, "modules that import each other: " + "; ".join(map(str, cycles))


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, kids = work[-1]
            kid = next(kids, None)
            if kid is not None:
                if kid not in index:
                    index[kid] = low[kid] = len(index)
                    stack.append(kid)
                    on_stack.add(kid)
                    work.append((kid, iter(sorted(graph[kid]))))
                elif kid in on_stack:
                    low[node] = min(low[node], index[kid])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.add(top)
                    if top == node:
                        break
                out.append(component)
    return out


def test_the_core_imports_no_training_or_interop_library() -> None:
    mods = _modules()
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {target}"
        for name, path in mods.items()
        if _package(name) == "backends.jax.core"
        for line, target in _imports(path, set(mods))
        if target.split(".")[0] in HEAVY
    ]
    assert not wrong, "the core imports " + ", ".join(wrong)


def test_importing_the_backend_imports_no_optax_flax_or_orbax() -> None:
    code = (
        "import sys, backends.jax\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import backends.jax imported {out.stdout.strip()}"


def test_the_lazy_names_come_from_their_subpackage() -> None:
    import backends.jax as bj
    from backends.jax.interop.nnx import to_nnx
    from backends.jax.training import fit

    assert bj.fit is fit and bj.to_nnx is to_nnx
    assert set(bj.__all__) <= set(dir(bj))
