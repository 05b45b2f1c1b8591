"""The three architectures of ``examples/traced_models.py``, written in idiomatic Equinox.

Per example (one image, one pair of sequences, one sequence), batched with
``jax.vmap`` as Equinox users do; built from ``equinox.nn`` layers (``Linear``,
``LayerNorm``, ``MLP``, ``Embedding``, ``MultiheadAttention``). The same maps as the
traced models: ``tests/examples/test_traced_models.py`` loads the traced models'
weights into these and compares outputs. ``benchmarks/lines/count.py`` counts lines.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp


class MixerBlock(eqx.Module):
    ln1: eqx.nn.LayerNorm
    tokens: eqx.nn.MLP
    ln2: eqx.nn.LayerNorm
    channels: eqx.nn.MLP

    def __init__(self, s, d, token_hidden, chan_hidden, key):
        k1, k2 = jax.random.split(key)
        self.ln1, self.ln2 = eqx.nn.LayerNorm(d), eqx.nn.LayerNorm(d)
        self.tokens = eqx.nn.MLP(s, s, token_hidden, 1, activation=jax.nn.gelu, key=k1)
        self.channels = eqx.nn.MLP(d, d, chan_hidden, 1, activation=jax.nn.gelu, key=k2)

    def __call__(self, x):
        x = x + jax.vmap(self.tokens)(jax.vmap(self.ln1)(x).T).T
        return x + jax.vmap(self.channels)(jax.vmap(self.ln2)(x))


class Mixer(eqx.Module):
    patch: int = eqx.field(static=True)
    stem: eqx.nn.Linear
    blocks: list[MixerBlock]
    ln: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(self, side=8, patch=4, chans=3, d=16, token_hidden=8, chan_hidden=32,
                 depth=2, classes=10, *, key):  # fmt: skip
        keys = jax.random.split(key, depth + 2)
        s = (side // patch) ** 2
        self.patch = patch
        self.stem = eqx.nn.Linear(patch * patch * chans, d, key=keys[0])
        self.blocks = [MixerBlock(s, d, token_hidden, chan_hidden, k) for k in keys[2:]]
        self.ln = eqx.nn.LayerNorm(d)
        self.head = eqx.nn.Linear(d, classes, key=keys[1])

    def __call__(self, image):
        h, w, c = image.shape
        p = self.patch
        patches = image.reshape(h // p, p, w // p, p, c).transpose(0, 2, 1, 3, 4)
        x = jax.vmap(self.stem)(patches.reshape(-1, p * p * c))
        for block in self.blocks:
            x = block(x)
        return self.head(jax.vmap(self.ln)(x).mean(0))


def _mha(d, heads, key):
    return eqx.nn.MultiheadAttention(heads, d, key=key)


class EncoderBlock(eqx.Module):
    ln1: eqx.nn.LayerNorm
    attn: eqx.nn.MultiheadAttention
    ln2: eqx.nn.LayerNorm
    mlp: eqx.nn.MLP

    def __init__(self, d, heads, hidden, key):
        k1, k2 = jax.random.split(key)
        self.ln1, self.ln2 = eqx.nn.LayerNorm(d), eqx.nn.LayerNorm(d)
        self.attn = _mha(d, heads, k1)
        self.mlp = eqx.nn.MLP(d, d, hidden, 1, activation=jax.nn.gelu, key=k2)

    def __call__(self, x):
        h = jax.vmap(self.ln1)(x)
        x = x + self.attn(h, h, h)
        return x + jax.vmap(self.mlp)(jax.vmap(self.ln2)(x))


class DecoderBlock(eqx.Module):
    ln1: eqx.nn.LayerNorm
    self_attn: eqx.nn.MultiheadAttention
    ln2: eqx.nn.LayerNorm
    cross: eqx.nn.MultiheadAttention
    ln3: eqx.nn.LayerNorm
    mlp: eqx.nn.MLP

    def __init__(self, d, heads, hidden, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.ln1, self.ln2, self.ln3 = (eqx.nn.LayerNorm(d) for _ in range(3))
        self.self_attn, self.cross = _mha(d, heads, k1), _mha(d, heads, k2)
        self.mlp = eqx.nn.MLP(d, d, hidden, 1, activation=jax.nn.gelu, key=k3)

    def __call__(self, y, memory):
        h = jax.vmap(self.ln1)(y)
        causal = jnp.tril(jnp.ones((y.shape[0], y.shape[0]), bool))
        y = y + self.self_attn(h, h, h, mask=causal)
        y = y + self.cross(jax.vmap(self.ln2)(y), memory, memory)
        return y + jax.vmap(self.mlp)(jax.vmap(self.ln3)(y))


class EncoderDecoder(eqx.Module):
    src_embed: eqx.nn.Embedding
    src_pos: jax.Array
    encoder: list[EncoderBlock]
    enc_ln: eqx.nn.LayerNorm
    tgt_embed: eqx.nn.Embedding
    tgt_pos: jax.Array
    decoder: list[DecoderBlock]
    dec_ln: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(self, vocab=13, src=6, tgt=5, d=16, heads=2, layers=2, hidden=32, *, key):
        keys = jax.random.split(key, 2 * layers + 5)
        self.src_embed = eqx.nn.Embedding(vocab, d, key=keys[0])
        self.tgt_embed = eqx.nn.Embedding(vocab, d, key=keys[1])
        self.src_pos = jax.random.normal(keys[2], (src, d))
        self.tgt_pos = jax.random.normal(keys[3], (tgt, d))
        self.encoder = [EncoderBlock(d, heads, hidden, k) for k in keys[5 : 5 + layers]]
        self.decoder = [DecoderBlock(d, heads, hidden, k) for k in keys[5 + layers :]]
        self.enc_ln, self.dec_ln = eqx.nn.LayerNorm(d), eqx.nn.LayerNorm(d)
        self.head = eqx.nn.Linear(d, vocab, key=keys[4])

    def __call__(self, source, target):
        x = jax.vmap(self.src_embed)(source) + self.src_pos
        for block in self.encoder:
            x = block(x)
        memory = jax.vmap(self.enc_ln)(x)
        y = jax.vmap(self.tgt_embed)(target) + self.tgt_pos
        for block in self.decoder:
            y = block(y, memory)
        return jax.vmap(self.head)(jax.vmap(self.dec_ln)(y))


class MixtureOfExperts(eqx.Module):
    ln: eqx.nn.LayerNorm
    gate: eqx.nn.Linear
    experts: eqx.nn.MLP

    def __init__(self, d=8, experts=3, hidden=16, *, key):
        k1, k2 = jax.random.split(key)
        self.ln = eqx.nn.LayerNorm(d)
        self.gate = eqx.nn.Linear(d, experts, use_bias=False, key=k1)
        make = lambda k: eqx.nn.MLP(d, d, hidden, 1, activation=jax.nn.gelu, key=k)  # noqa: E731
        self.experts = eqx.filter_vmap(make)(jax.random.split(k2, experts))

    def __call__(self, x):
        h = jax.vmap(self.ln)(x)
        probs = jax.nn.softmax(jax.vmap(self.gate)(h), axis=-1)
        top1 = probs * (probs >= probs.max(-1, keepdims=True))
        out = eqx.filter_vmap(lambda expert: jax.vmap(expert)(h))(self.experts)
        return x + jnp.einsum("te,etd->td", top1, out)
