"""Applications built on the library: what the ``topos`` command runs.

- ``backends.apps.cli``: the ``topos`` command line;
- ``backends.apps.demo``: ``topos demo``, a character-level transformer trained on
  Python source (``backends.apps.corpus``), built with ``topos.nn`` and trained with
  ``backends.jax``;
- ``backends.apps.gd``: ``topos demo gd``, linear self-attention as a step of
  gradient descent, checked and trained.
"""
