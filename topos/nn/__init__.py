"""The neural vocabulary as diagrams: few primitive boxes, layers built from them.

- ``topos.nn.primitives``: the primitive boxes (``einsum``, ``add``, ``relu``,
  ``gelu``, ``reduce_mean``, ``causal_mask``, ``gather`` ...), each with its class
  in ``linear ⊂ pl ⊂ polynomial ⊂ smooth`` (``bilinear``: linear in each factor).
- ``topos.nn.layers``: ``linear``, ``relu``, ``gelu``, ``tanh``, ``softmax``,
  ``layer_norm``, ``embedding``, ``positional``, ``conv``, ``max_pool``, ``rnn``,
  ``gcn``, ``mlp``, ``residual``: each a ``topos.para.Para`` with named,
  initialised parameters.
- ``topos.nn.transformer``: ``attention`` (choose ; ev), ``multi_head``,
  ``transformer_block``, ``transformer``.
- ``topos.nn.norms`` (``rms_norm``, ``norm``), ``topos.nn.rotary`` (``rotary``),
  ``topos.nn.feedforward`` (``feedforward``, ``gated_mlp``, ``dropout``),
  ``topos.nn.self_attention`` (MHA / GQA / MQA, RoPE, padding masks),
  ``topos.nn.decoder`` (``block``, ``language_model``), ``topos.nn.vit``
  (``vision_transformer``).
- ``topos.nn.moe`` (``experts``: routed top-k mixtures of experts and their dense
  form), ``topos.nn.cross_attention`` (``cross_attention``), ``topos.nn.t5``
  (``encoder_decoder``, ``t5``: T5-style encoder–decoders).
- ``topos.nn.zoo``: the paper's architectures with their verdicts (``table``) and the
  published configurations ``gpt2``, ``llama``, ``mixtral``, ``vit``, re-exported here.

Every layer is a Para ``P * A -> B`` whose arrow is made of primitives and
structure only, so ``analyze`` can read it and any backend that implements the
primitives runs it:

>>> from topos import R, Fin
>>> from topos.analysis import analyze
>>> lm = transformer(vocab=65, seq=16, d=32, heads=4, layers=2)
>>> (lm.dom, lm.cod), analyze(lm).lives_in
((Fin(65, 16), R(16, 65)), 'topos completion')
>>> analyze(mlp([4, 8, 2])).lives_in
'PL pretopos'
"""

from topos.nn import primitives
from topos.nn.cross_attention import cross_attention
from topos.nn.decoder import block, language_model
from topos.nn.feedforward import SEED, dropout, feedforward, gated_mlp
from topos.nn.layers import (
    ACTIVATIONS,
    SMALL,
    STANDARD,
    activation,
    conv,
    embedding,
    embedding_cases,
    gcn,
    gelu,
    grouped,
    labels,
    layer_norm,
    linear,
    max_pool,
    mlp,
    positional,
    relu,
    residual,
    rnn,
    softmax,
    tanh,
    weight,
)
from topos.nn.moe import experts
from topos.nn.norms import norm, rms_norm
from topos.nn.primitives import CLASSES, PRIMITIVES
from topos.nn.rotary import rotary
from topos.nn.self_attention import self_attention
from topos.nn.t5 import encoder_decoder, t5
from topos.nn.transformer import attention, multi_head, transformer, transformer_block
from topos.nn.vit import vision_transformer
from topos.nn.zoo import gpt2, llama, mixtral, vit

__all__ = [
    "ACTIVATIONS",
    "CLASSES",
    "PRIMITIVES",
    "SEED",
    "SMALL",
    "STANDARD",
    "activation",
    "attention",
    "block",
    "conv",
    "cross_attention",
    "dropout",
    "embedding",
    "embedding_cases",
    "encoder_decoder",
    "experts",
    "feedforward",
    "gated_mlp",
    "gcn",
    "gelu",
    "gpt2",
    "grouped",
    "labels",
    "language_model",
    "layer_norm",
    "linear",
    "llama",
    "max_pool",
    "mixtral",
    "mlp",
    "multi_head",
    "norm",
    "positional",
    "primitives",
    "relu",
    "residual",
    "rms_norm",
    "rnn",
    "rotary",
    "self_attention",
    "softmax",
    "t5",
    "tanh",
    "transformer",
    "transformer_block",
    "vision_transformer",
    "vit",
    "weight",
]
