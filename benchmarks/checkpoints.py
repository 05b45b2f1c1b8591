"""The checkpoint table: Hugging Face folders loaded into the presets, against ``transformers``.

For each model of ``tests/backends/jax/test_hf.py`` (``transformers``' Flax models
built from a small config with random weights, written as the Hub publishes them),
load the folder with ``backends.jax.load_pretrained`` and print the parameter count
and the largest logit difference relative to the largest logit, in float32 and in
float64, and whether ``save_pretrained(..., like=folder)`` writes the folder back bit
for bit. No timings: nothing here is a speed claim.

    python benchmarks/checkpoints.py            # the small test configs
    python benchmarks/checkpoints.py --d 256 --layers 4
    python benchmarks/checkpoints.py --gpt2-small     # GPT-2 at its released size, 124M

Nothing is written except temporary folders.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "backends" / "jax"))

import test_hf as T  # noqa: E402

from backends.jax import apply, load_pretrained, save_pretrained  # noqa: E402
from backends.jax.interop.hf import same  # noqa: E402


def row(name: str, d: int, layers: int, full: bool = False) -> tuple[str, int, float, float, bool]:
    cls, config, arch = T.CASES[name]
    if full:  # GPT-2 small as released: vocab 50257, context 1024, d 768, 12 layers
        config = T.tf.GPT2Config
    T.SIZE.update(d=d, layers=layers)
    gaps = []
    for dtype in ("float32", "float64"):
        with jax.enable_x64(dtype == "float64"):
            wide = jnp.float64 if dtype == "float64" else jnp.float32
            hf = cls(config(), seed=0, dtype=wide)
            hf.params = jax.tree.map(lambda a, w=wide: jnp.asarray(a, w), hf.params)
            folder = T.publish(hf, tempfile.mkdtemp(), arch)
            model, params = load_pretrained(folder, dtype=dtype)
            x = T.example(name)
            x = x.astype(np.float64) if name.startswith("vit") and dtype == "float64" else x
            gaps.append(T.gap(apply(model, params, x), T.theirs(name, hf, x, hf.params)))
            if dtype == "float32":
                out = tempfile.mkdtemp()
                save_pretrained(out, model, params, like=folder)
                kept = same(folder, out)
                count = sum(int(np.size(v)) for v in params.values())
    return name, count, gaps[0], gaps[1], kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=32, help="model width (32)")
    parser.add_argument("--layers", type=int, default=2, help="layers (2)")
    parser.add_argument("--gpt2-small", action="store_true", help="GPT-2 small (124M) only")
    args = parser.parse_args()
    size = "GPT-2 small" if args.gpt2_small else f"d {args.d}, {args.layers} layers"
    print(f"{size}; difference / largest logit")
    print("| model | parameters | float32 | float64 | saved back bit for bit |")
    print("|---|---|---|---|---|")
    for name in ["gpt2"] if args.gpt2_small else T.CASES:
        model, count, f32, f64, kept = row(name, args.d, args.layers, args.gpt2_small)
        print(f"| {model} | {count:,} | {f32:.1e} | {f64:.1e} | {kept} |", flush=True)


if __name__ == "__main__":
    main()
