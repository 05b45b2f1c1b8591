"""The sharded runs of ``test_sharding.py``, on 8 simulated CPU devices, in their own process.

``python tests/backends/jax/_sharding_run.py`` sets ``XLA_FLAGS`` before jax starts
(the rest of the suite runs on one device in one process), runs a tiny transformer
on the meshes 8x1, 4x2, 2x4 and 1x8 against the single-device run, and prints one
JSON line of figures for the test to check. Importing this module does nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Any

MESHES = ("8x1", "4x2", "2x4", "1x8")
VOCAB, SEQ, D, HEADS, LAYERS, BATCH, STEPS = 64, 8, 32, 4, 2, 8, 3
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")


def _max_diff(a: Any, b: Any) -> float:
    import jax
    import numpy as np

    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in pairs)


def _counts(hlo: str) -> dict[str, int]:
    # one op per line, "%name = <type> all-reduce(...)"; a tuple type (combined
    # all-reduce) holds "/*index=5*/" comments; "-start" (async) variants count once
    pattern = r"^\s*(?:ROOT )?%\S+ = .*? {}(?:-start)?\("
    return {c: len(re.findall(pattern.format(c), hlo, re.M)) for c in COLLECTIVES}


def _gathered_params(hlo: str, sharded: dict[str, tuple[int, ...]]) -> list[str]:
    """Sharded parameters whose whole (or whole per-layer) shape an all-gather produces."""
    out = []
    for path, shape in sharded.items():
        for s in {shape, shape[1:]} if len(shape) > 2 else {shape}:
            dims = ",".join(str(d) for d in s)
            if re.search(rf"= f32\[{dims}\]\{{[^}}]*\}} all-gather(?:-start)?\(", hlo):
                out.append(f"{path} as {list(s)}")
    return out


def main() -> None:
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    )
    import jax
    import numpy as np
    import optax

    from backends.jax import batched, fit, init, sharding
    from topos import nn

    assert jax.device_count() == 8, jax.devices()
    p = nn.transformer(VOCAB, SEQ, D, HEADS, LAYERS)
    rng = np.random.default_rng(0)
    data = rng.integers(0, VOCAB, size=(STEPS + 2, BATCH, SEQ + 1)).astype(np.int32)

    def batches(i: int) -> tuple[Any, Any]:
        return data[i, :, :-1], data[i, :, 1:]

    def make_loss(logits: Any) -> Any:
        def loss(params: Any, batch: Any) -> Any:
            x, y = batch
            return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), y).mean()

        return loss

    # SGD with momentum: state per parameter, and linear in the gradients, so a
    # 1e-8 difference in a gradient stays one (Adam divides by sqrt(v) of near-zero
    # gradients and turns float32 reduction order into ~3e-5 after 3 steps)
    opt = optax.sgd(0.1, momentum=0.9)
    ref_loss = make_loss(batched(p))
    ref_params = init(p, jax.random.key(0))
    ref_value, ref_grads = jax.jit(jax.value_and_grad(ref_loss))(ref_params, batches(0))
    ref_fit = fit(ref_loss, ref_params, batches, optimizer=opt, steps=STEPS, progress=False)
    report: dict[str, Any] = {"meshes": {}}
    fits: dict[Any, Any] = {}
    t0 = time.perf_counter()

    def run(shape: str, rules: Any) -> dict[str, Any]:
        mesh = sharding.make_mesh(shape)
        want = sharding.param_shardings(p, mesh, rules)
        params = init(p, jax.random.key(0), mesh=mesh, rules=rules)
        loss = make_loss(batched(p, mesh, rules))
        batch = sharding.shard_batch(batches(0), mesh, rules)
        # one compilation gives the values and the HLO (the optimiser adds no collective)
        compiled = jax.jit(jax.value_and_grad(loss)).lower(params, batch).compile()
        value, grads = compiled(params, batch)
        hlo = compiled.as_text()
        got = fit(
            loss,
            params,
            batches,
            optimizer=opt,
            steps=STEPS,
            progress=False,
            mesh=mesh,
            rules=rules,
        )
        fits[shape, rules is sharding.FSDP] = got
        sharded = {k: tuple(ref_params[k].shape) for k, s in want.items() if any(s.spec)}
        return {
            "init_equal": all(
                bool((np.asarray(params[k]) == np.asarray(ref_params[k])).all()) for k in params
            ),
            "loss_diff": abs(float(value) - float(ref_value)),
            "grad_diff": _max_diff(grads, ref_grads),
            "fit_diff": _max_diff(got.params, ref_fit.params),
            "fit_loss_diff": _max_diff(got.history["loss"], ref_fit.history["loss"]),
            "specs_as_rules": all(params[k].sharding.spec == want[k].spec for k in params)
            and all(got.params[k].sharding.spec == want[k].spec for k in params),
            "specs": {k: str(tuple(want[k].spec)) for k in ("blocks.attn.q.w", "head.w")},
            "collectives": _counts(hlo),
            "gathered_params": _gathered_params(hlo, sharded),
        }

    for shape in MESHES:
        report["meshes"][shape] = run(shape, sharding.MEGATRON)
        print(
            f"{time.perf_counter() - t0:.0f}s {shape}: {report['meshes'][shape]}",
            file=sys.stderr,
            flush=True,
        )
    report["fsdp_4x2"] = run("4x2", sharding.FSDP)
    print(f"{time.perf_counter() - t0:.0f}s fsdp 4x2: {report['fsdp_4x2']}", file=sys.stderr)
    report["checkpoint"] = _checkpoint_runs(p, batches, make_loss, opt, fits["4x2", False])
    report["bad_ids"] = _bad_ids(p, batches(0)[0])
    print(f"bad ids: {report['bad_ids']}", file=sys.stderr)
    print(f"checkpoint: {report['checkpoint']}", file=sys.stderr)
    print(f"{time.perf_counter() - t0:.0f}s done", file=sys.stderr, flush=True)
    print(json.dumps(report))


def _bad_ids(p: Any, x: Any) -> dict[str, Any]:
    """On several devices an id out of range makes its example's outputs NaN (a raising
    check would stall the other devices); an explicit-axis mesh is refused at init."""
    import jax
    import numpy as np
    from jax.sharding import AxisType

    from backends.jax import batched, init, sharding

    mesh = sharding.make_mesh("4x2")
    params = init(p, jax.random.key(0), mesh=mesh)
    run = jax.jit(batched(p, mesh))
    wrong = np.array(x)
    wrong[1, 3] = VOCAB  # one past the last id
    good, bad = np.asarray(run(params, x)), np.asarray(run(params, wrong))
    rest = [0, *range(2, len(good))]
    explicit = jax.make_mesh((4, 2), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    try:
        init(p, jax.random.key(0), mesh=explicit)
        refused = ""
    except ValueError as e:
        refused = str(e)
    return {
        "good_finite": bool(np.isfinite(good).all()),
        "bad_row_nan": bool(np.isnan(bad[1]).all()),
        "other_rows_equal": bool((bad[rest] == good[rest]).all()),
        "explicit_refused": refused,
    }


def _checkpoint_runs(p: Any, batches: Any, make_loss: Any, opt: Any, whole: Any) -> dict[str, Any]:
    """Save on 4x2 after 2 steps; resume on 4x2 (bit-identical to ``whole``, the
    uninterrupted run there) and on 2x4 (within 1e-5)."""
    import jax
    import numpy as np

    from backends.jax import batched, fit, init, sharding
    from backends.jax.training import checkpoint

    folder = tempfile.mkdtemp()
    try:
        a, b = sharding.make_mesh("4x2"), sharding.make_mesh("2x4")

        def go(mesh: Any, steps: int, path: str | None, resume: bool = False) -> Any:
            params = init(p, jax.random.key(0), mesh=mesh)
            return fit(
                make_loss(batched(p, mesh)),
                params,
                batches,
                optimizer=opt,
                steps=steps,
                checkpoint=path,
                resume=resume,
                progress=False,
                mesh=mesh,
            )

        half = os.path.join(folder, "half")
        first = go(a, 2, half)
        moved = os.path.join(folder, "moved")
        shutil.copytree(half, moved)
        saved = checkpoint.load_meta(half)
        on_b = checkpoint.restore(
            moved,
            {
                "train": list(first.params.values()),
                "opt": jax.tree.leaves(first.opt_state),
                "frozen": [],
            },
        )
        restored_exact = all(
            bool((np.asarray(x) == np.asarray(y)).all())
            for x, y in zip(on_b["train"], first.params.values(), strict=True)
        )
        same = go(a, STEPS, half, resume=True)
        other = go(b, STEPS, moved, resume=True)
        bit_identical = all(
            bool((np.asarray(same.params[k]) == np.asarray(whole.params[k])).all())
            for k in whole.params
        )
        return {
            "saved_step": saved["step"],
            "restored_exact": restored_exact,
            "resume_same_mesh_bit_identical": bit_identical,
            "resume_other_mesh_diff": _max_diff(other.params, whole.params),
            "resumed_specs_2x4": all(
                other.params[k].sharding.spec == s.spec
                for k, s in sharding.param_shardings(p, b).items()
            ),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    main()
