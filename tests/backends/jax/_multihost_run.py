"""The multi-host recipe of ``docs/sharding.md``, run as processes on this machine.

``test_multihost.py`` starts each role in its own process (jax fixes its devices
and its distributed client when it starts); each prints one JSON line:

    python _multihost_run.py worker ID PORT DIR   # one of two processes, 2 CPU devices each
    python _multihost_run.py single DIR            # the reference: one process, one device
    python _multihost_run.py restore DIR           # one process reads the two processes' checkpoint

The workers call ``jax.distributed.initialize`` over the loopback address with CPU
collectives by gloo, build the ``2x2`` mesh over the 4 global devices (each
process holds 2), and ``fit`` 5 SGD steps of a tiny transformer with an Orbax
checkpoint in ``DIR/ckpt``. Every process feeds the same global batches. The
parameters each role ends with are written to ``DIR/<role>.npz``.
Importing this module does nothing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

VOCAB, SEQ, D, HEADS, LAYERS, BATCH, STEPS, LR = 64, 8, 16, 2, 2, 8, 5, 0.1


def _problem() -> tuple[Any, Any, Any]:
    import numpy as np

    from topos import nn

    p = nn.transformer(vocab=VOCAB, seq=SEQ, d=D, heads=HEADS, layers=LAYERS)
    rng = np.random.default_rng(0)
    data = rng.integers(0, VOCAB, (STEPS, BATCH, SEQ + 1)).astype(np.int32)

    def batches(step: int) -> tuple[Any, Any]:  # the global batch, the same on every process
        return data[step, :, :-1], data[step, :, 1:]

    return p, batches, data


def _fit(mesh: Any, checkpoint: Path | None, resume: bool = False) -> Any:
    import jax
    import optax

    from backends.jax import batched, fit, init

    p, batches, _ = _problem()
    params = init(p, jax.random.key(0), mesh=mesh)
    logits = batched(p, mesh) if mesh is not None else batched(p)

    def loss(params: Any, batch: Any) -> Any:
        x, y = batch
        return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), y).mean()

    return fit(
        loss,
        params,
        batches,
        optimizer=optax.sgd(LR),
        steps=STEPS,
        progress=False,
        mesh=mesh,
        checkpoint=checkpoint,
        resume=resume,
    )


def _dump(params: dict[str, Any], file: Path) -> str:
    """Write the (gathered) parameters to ``file`` (``.npz``) for the test to compare."""
    import numpy as np

    np.savez(file, **{k: np.asarray(v) for k, v in params.items()})
    return str(file)


def worker(pid: int, port: int, folder: Path) -> dict[str, Any]:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=pid,
        initialization_timeout=60,
    )
    from jax.experimental import multihost_utils

    from backends.jax import sharding

    mesh = sharding.make_mesh("2x2")  # jax.devices() is global: both processes' devices
    result = _fit(mesh, folder / "ckpt")
    trained = {
        k: multihost_utils.process_allgather(v, tiled=True) for k, v in result.params.items()
    }
    out = {
        "process": jax.process_index(),
        "processes": jax.process_count(),
        "devices": jax.device_count(),
        "local": jax.local_device_count(),
        "losses": [float(x) for x in result.history["loss"]],
        "params": _dump(trained, folder / f"worker{pid}.npz"),
    }
    jax.distributed.shutdown()
    return out


def single(folder: Path) -> dict[str, Any]:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    result = _fit(None, None)
    return {
        "losses": [float(x) for x in result.history["loss"]],
        "params": _dump(result.params, folder / "single.npz"),
    }


def restore(folder: Path) -> dict[str, Any]:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    import jax

    from backends.jax import sharding

    mesh = sharding.make_mesh("1x1")
    result = _fit(mesh, folder / "ckpt", resume=True)  # at step 5 already: nothing to train
    return {
        "devices": jax.device_count(),
        "step": result.step,
        "losses": [float(x) for x in result.history["loss"]],
        "params": _dump(result.params, folder / "restored.npz"),
    }


def main(argv: list[str]) -> None:
    here = Path(__file__).resolve().parents[3]
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    role = argv[0]
    if role == "worker":
        out = worker(int(argv[1]), int(argv[2]), Path(argv[3]))
    elif role == "single":
        out = single(Path(argv[1]))
    elif role == "restore":
        out = restore(Path(argv[1]))
    else:
        raise SystemExit(f"unknown role {role!r}: worker, single or restore")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
