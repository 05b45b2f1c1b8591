"""Train the zoo's ReLU MLP, CNN and ResNet on scikit-learn's handwritten digits.

The data set (1,797 8x8 images) ships inside scikit-learn, so nothing is downloaded.
The models are diagrams from ``topos.nn``; ``backends.jax`` compiles them and
``fit`` trains them with optax.

    python examples/digits.py            # every model
    python examples/digits.py --model cnn --steps 400
"""

from __future__ import annotations

import argparse
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from backends.jax import batched, fit, init
from topos.nn import mlp
from topos.nn.zoo import cnn, resnet
from topos.para import Para

MODELS = {
    "mlp": lambda: mlp([64, 128, 10]),
    "cnn": lambda: cnn(side=8, channels=16, classes=10),
    "resnet": lambda: resnet(side=8, channels=16, blocks=3, classes=10),
}
STEPS = {"mlp": 500, "cnn": 600, "resnet": 300}


def load(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train/test split (75/25, stratified by a fixed permutation) of the digits, in [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.75 * len(y))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def _shape_for(p: Para, x: np.ndarray) -> np.ndarray:
    return x.reshape((x.shape[0], *p.dom.shape))


def train(
    name: str,
    steps: int | None = None,
    batch: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train model ``name`` and return its test accuracy and final loss."""
    p = MODELS[name]()
    steps = STEPS[name] if steps is None else steps
    xtr, ytr, xte, yte = load(seed)
    xtr, xte = _shape_for(p, xtr), _shape_for(p, xte)
    forward = batched(p)

    def loss(params: Any, b: tuple[jax.Array, jax.Array]) -> jax.Array:
        logits = forward(params, b[0])
        return optax.softmax_cross_entropy_with_integer_labels(logits, b[1]).mean()

    rng = np.random.default_rng(seed + 1)
    epochs = [rng.permutation(len(ytr)) for _ in range(steps * batch // len(ytr) + 2)]
    order = np.concatenate(epochs)

    def batches(step: int) -> tuple[np.ndarray, np.ndarray]:
        idx = order[step * batch : (step + 1) * batch]
        return xtr[idx], ytr[idx]

    result = fit(
        loss,
        init(p, jax.random.key(seed)),
        batches,
        optimizer=optax.adam(lr),
        steps=steps,
        log_every=100,
        progress=progress,
    )
    predict = jax.jit(lambda params, x: jnp.argmax(forward(params, x), axis=-1))
    accuracy = float(np.mean(np.asarray(predict(result.params, xte)) == yte))
    return {"model": name, "accuracy": accuracy, "loss": float(result.history["loss"][-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description="Train topos.nn models on the digits.")
    parser.add_argument("--model", choices=sorted(MODELS), action="append")
    parser.add_argument("--steps", type=int, default=None, help="default: per model")
    args = parser.parse_args()
    for name in args.model or sorted(MODELS):
        out = train(name, steps=args.steps)
        print(f"{name}: test accuracy {out['accuracy']:.1%} (final train loss {out['loss']:.3f})")


if __name__ == "__main__":
    main()
