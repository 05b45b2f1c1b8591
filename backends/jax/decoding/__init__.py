"""Decoding from causal models: ``generate`` (a key–value cache derived from the diagram)
and ``sample`` (recomputing the window; the reference ``generate`` is tested against).
"""

from backends.jax.decoding.generate import DecodeError as DecodeError
from backends.jax.decoding.generate import decode_step as decode_step
from backends.jax.decoding.generate import generate as generate
from backends.jax.decoding.sample import sample as sample
