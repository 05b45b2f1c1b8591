"""The experiments of the seed, apart from the library API.

- ``backends.jax.experiments.icl``: in-context linear regression, the task on which
  one linear self-attention layer performs a gradient-descent step;
- ``backends.jax.experiments.search``: architecture search in the typed space of
  diagrams (``topos.nn.grammar``).
"""
