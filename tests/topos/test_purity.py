"""The pure core never imports numerical libraries."""

import subprocess
import sys

FORBIDDEN = ("jax", "jaxlib", "numpy", "flax", "equinox", "optax")


def test_core_imports_no_numerical_library() -> None:
    code = (
        "import pkgutil, sys, importlib, topos\n"
        "mods = [m.name for m in pkgutil.walk_packages(topos.__path__, 'topos.')]\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"topos imported {out.stdout.strip()}"
