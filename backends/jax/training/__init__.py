"""Training with optax: ``fit``, its state and pure step, checkpoints, progress.

- ``fit``: the loop (progress, evaluation, checkpoints, a mesh, the layer layout);
  ``DivergedError``, ``EvalValueError`` and ``TokenIdError``, which keep the state reached;
- ``state``: ``TrainState``, the run's arrays flattened once (trainable leaves,
  optimiser state, frozen leaves) with the step and the history;
- ``step``: ``train_step``, one pure step over those leaves (jitted by ``fit``
  with the trainable leaves and the optimiser state donated);
- ``checkpoint``: the two on-disk formats, an ``.npz`` file and an Orbax folder
  (sharded), behind one ``save``/``restore``; ``CheckpointError``;
- ``progress``: a live bar on a terminal, plain lines elsewhere;
- ``lenses``: learners as lenses (``gradient_descent``, ``momentum``, ``nesterov``,
  ``adam``) and the training step as a composite lens; ``fit(Objective(p, loss),
  ..., learner=adam(1e-3))`` trains through it instead of ``jax.grad`` and optax.

>>> import jax.numpy as jnp, optax
>>> from backends.jax.training import fit
>>> result = fit(lambda p, b: (p["w"] - b) ** 2, {"w": jnp.array(3.0)}, lambda step: 1.0,
...              optimizer=optax.sgd(0.25), steps=20, progress=False)
>>> round(float(result.params["w"]), 4)
1.0
"""

from backends.jax.training.checkpoint import CheckpointError as CheckpointError
from backends.jax.training.checkpoint import load_checkpoint as load_checkpoint
from backends.jax.training.fit import DivergedError as DivergedError
from backends.jax.training.fit import EvalValueError as EvalValueError
from backends.jax.training.fit import fit as fit
from backends.jax.training.state import FitResult as FitResult
from backends.jax.training.state import TrainState as TrainState
from backends.jax.training.state import leaf_paths as leaf_paths
from backends.jax.training.step import TokenIdError as TokenIdError
from backends.jax.training.step import train_step as train_step
