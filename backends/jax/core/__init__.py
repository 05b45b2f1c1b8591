"""The core of the JAX backend: diagrams compiled, Para morphisms initialised and run.

Bottom up, each module importing only those above it in this list:

- ``values``: how a value of each object is represented (arrays, tuples, tagged
  sums, closures), checked and zeroed; ``Unstacked``, a stacked parameter held
  one array per layer;
- ``registry``: what each primitive box computes (``register``, ``lookup``);
- ``limits``: sizes checked before allocating; ``UNROLL_MAX``;
- ``compile``: the functor into JAX functions (``compile``, ``interpret``,
  ``constant``);
- ``sharding``: mesh axes from readable rules over parameter paths;
- ``params``: ``init``, ``apply``, ``batched`` of a Para (with a mesh or without);
- ``layout``: the layer layout (``unstack``, ``restack``);
- ``optimized``: a Para rewritten by declared laws;
- ``fold``: attention folded over key blocks in linear memory (``online_attention``);
- ``scan``: the diagonal linear recurrence (``linear_scan``) as the fold of the
  monoid of affine maps, reassociated in chunks;
- ``primitives``: the JAX implementations of ``topos.nn.primitives``, registered
  here so that every diagram of the vocabulary compiles;
- ``batch``: a batch through an arrow with shared inputs and outputs summed over
  it (``summed``), the sum fused into contractions over the batch;
- ``reverse``: the backward pass compiled from ``topos.reverse`` (``backward``,
  ``batched_backward``, ``gradient``).

Nothing here imports optax, flax or orbax.

>>> import jax.numpy as jnp
>>> from topos import R
>>> from topos.nn import primitives as P
>>> from backends.jax.core.compile import compile
>>> compile(P.relu(R(2)))(jnp.array([-1.0, 2.0]))
Array([0., 2.], dtype=float32)
"""

from backends.jax.core import primitives as primitives  # the vocabulary's implementations
