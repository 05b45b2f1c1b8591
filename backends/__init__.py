"""Interpretations of topos diagrams in numerical libraries.

``backends.jax`` is the JAX backend; ``backends.apps`` holds the applications that
the ``topos`` command runs. Module paths of topos 0.1 still import for one release,
with a warning (``backends._moved``).
"""

from backends import _moved

_moved.install()
