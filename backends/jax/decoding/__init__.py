"""Decoding from causal models: ``generate`` (a key–value cache derived from the diagram)
and ``sample`` (recomputing the window; the reference ``generate`` is tested against);
``seq2seq.generate`` for encoder–decoders (the encoder once, cross keys and values cached).
"""

from backends.jax.decoding import seq2seq as seq2seq
from backends.jax.decoding.generate import DecodeError as DecodeError
from backends.jax.decoding.generate import decode_step as decode_step
from backends.jax.decoding.generate import generate as generate
from backends.jax.decoding.sample import sample as sample
