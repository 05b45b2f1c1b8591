"""A traced function compiles like any Para: the JAX backend runs what the code says."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax import apply
from topos import R, diagram, param
from topos.syntax import concatenate, relu, softmax, where


@diagram(dom=(R(4, 3), R(4, 3)))
def net(x, y):
    h = relu(x @ param("w", R(3, 5)) + param("b", R(5)))
    both = concatenate([h, y.T.reshape(4, 3)[:, 1:]], axis=-1)
    s = softmax(both / 2.0, axis=0)
    return where(s > 0.2, s, -s).sum(0), x[-1] * y.mean(0)


def test_compiled_traced_function_equals_jax_numpy() -> None:
    rng = np.random.default_rng(0)
    ws = {"w": rng.normal(size=(3, 5)), "b": rng.normal(size=5)}
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    ws32 = {k: jnp.asarray(v, jnp.float32) for k, v in ws.items()}
    out = jax.jit(lambda a, b: apply(net, ws32, a, b))(jnp.float32(x), jnp.float32(y))
    h = np.maximum(x @ ws["w"] + ws["b"], 0)
    both = np.concatenate([h, y.T.reshape(4, 3)[:, 1:]], axis=-1) / 2.0
    s = np.exp(both) / np.exp(both).sum(0)
    np.testing.assert_allclose(out[0], np.where(s > 0.2, s, -s).sum(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], x[-1] * y.mean(0), rtol=1e-5, atol=1e-6)
