"""Applications built on the library: what ``topos`` subcommands run.

- ``backends.apps.demo``: ``topos demo``, a character-level transformer trained on
  Python source, from ``backends.jax`` (``corpus``, ``fit``, ``sample``) and
  ``topos.nn``.
"""
