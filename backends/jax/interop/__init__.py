"""Para morphisms as the modules of other JAX libraries, and their weights in ours.

- ``backends.jax.interop.equinox``: ``Model``, an ``equinox.Module``;
- ``backends.jax.interop.nnx``: ``to_nnx``, a ``flax.nnx.Module`` (imports flax);
- ``backends.jax.interop.from_jax``: ``from_jax``, any JAX function or module read
  from its jaxpr into a diagram (an Equinox or NNX module into a ``Para``);
- ``backends.jax.interop.hf``: Hugging Face checkpoint folders (``config.json`` +
  safetensors) of GPT-2, Llama-family models and ViT as presets, and back
  (imports safetensors);
- ``backends.jax.interop.penzai``: Penzai's transformer weights in the presets'
  parameters (imports penzai, a test-only dependency).

Each is imported on its own, so using one does not import the others' libraries.
"""
