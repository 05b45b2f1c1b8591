"""Doctest collection for backends.jax: the Penzai converters' examples need penzai.

penzai is a test-only dependency (the ``dev`` extra); without it, pytest skips the
doctests of ``penzai.py`` instead of failing on the import (as
``tests/backends/jax/test_penzai.py`` skips itself).
"""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("penzai") else ["penzai.py"]
