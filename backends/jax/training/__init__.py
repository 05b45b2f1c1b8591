"""Training with optax: ``fit``, its state and pure step, checkpoints, progress.

- ``fit``: the loop (progress, evaluation, checkpoints, a mesh);
- ``checkpoint``: the two on-disk formats, an ``.npz`` file and an Orbax folder
  (sharded), behind one ``save``/``restore``;
- ``progress``: a live bar on a terminal, plain lines elsewhere.

>>> import jax.numpy as jnp, optax
>>> from backends.jax.training import fit
>>> result = fit(lambda p, b: (p["w"] - b) ** 2, {"w": jnp.array(3.0)}, lambda step: 1.0,
...              optimizer=optax.sgd(0.25), steps=20, progress=False)
>>> round(float(result.params["w"]), 4)
1.0
"""

from backends.jax.training.fit import CheckpointError as CheckpointError
from backends.jax.training.fit import FitResult as FitResult
from backends.jax.training.fit import fit as fit
from backends.jax.training.fit import leaf_paths as leaf_paths
from backends.jax.training.fit import load_checkpoint as load_checkpoint
