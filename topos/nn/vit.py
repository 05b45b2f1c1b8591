"""The Vision Transformer (Dosovitskiy et al. 2021) built from the vocabulary.

An image ``R(H, W, C)`` is cut into ``p × p`` patches (a ``reshape``, a
``transpose`` and a ``reshape``: a linear isomorphism), each patch is embedded
linearly (``patch``: the 16×16 stride-16 convolution of the paper), a learned
class token is put in front (``concat`` with the parameter ``cls``), learned
positions are added, and non-causal pre-norm blocks run; the class token's
final state, normalised, goes through the classifier ``head``.

>>> vit = vision_transformer((32, 32, 3), 8, 64, 4, 2, 10)
>>> vit.dom, vit.cod
(R(32, 32, 3), R(10))
>>> list(vit.parameters())[:4]
['patch.w', 'patch.b', 'cls', 'pos.table']
"""

from __future__ import annotations

from collections.abc import Sequence

from topos.arrows import Arrow
from topos.nn import primitives as P
from topos.nn.decoder import block
from topos.nn.layers import SMALL, _dims, _shape, layer_norm, linear, positional, weight
from topos.objects import R
from topos.para import Init, Para, repeat, zeros

__all__ = ["HEADS", "patches", "vision_transformer"]

#: The heads ``vision_transformer`` ends in.
HEADS = ("classifier", "pooler", None)


def patches(image: Sequence[int], patch: int) -> Arrow:
    """The linear isomorphism ``R(H, W, C) -> R(H/p * W/p, p * p * C)``: patches, row-major.

    Patch ``(i, j)`` is row ``i * W/p + j``; inside it, entries are ordered
    ``(row, column, channel)`` (as a flattened ``p × p × C`` convolution kernel).

    >>> patches((8, 8, 3), 4).cod
    R(4, 48)

    Args:
        image: ``(H, W, C)``, ``H`` and ``W`` divisible by ``patch``.
        patch: the side of a square patch.

    Returns:
        The arrow ``reshape ; transpose ; reshape``.
    """
    h, w, c = _shape("patches", image)
    _dims("patches", patch=patch)
    if h % patch or w % patch:
        raise ValueError(
            f"patches: the image {h}x{w} is not divisible into {patch}x{patch} patches"
        )
    x = R(h, w, c)
    grid = P.reshape(x, h // patch, patch, w // patch, patch, c)
    moved = P.transpose(R(h // patch, patch, w // patch, patch, c), (0, 2, 1, 3, 4))
    n = (h // patch) * (w // patch)
    flat = P.reshape(R(h // patch, w // patch, patch, patch, c), n, patch * patch * c)
    return grid >> moved >> flat


def vision_transformer(
    image: Sequence[int],
    patch: int,
    d: int,
    heads: int,
    layers: int,
    classes: int,
    *,
    mlp_hidden: int | None = None,
    eps: float = 1e-6,
    activation: str = "gelu",
    bias: bool = True,
    head: str | None = "classifier",
    init: Init = SMALL,
) -> Para:
    """A ViT classifier ``R(H, W, C) -> R(classes)`` (logits), or its encoder.

    Paths ``patch.{w,b}``, ``cls: R(1, d)``, ``pos.table: R(n + 1, d)``,
    ``blocks.*`` (stacked over ``layers``), ``ln_f.*``, ``head.{w,b}``.
    ``head="pooler"`` ends in ``tanh(head(cls state))`` instead (Hugging Face's
    ``ViTModel`` pooler, ``classes`` its width); ``head=None`` returns the
    normalised final states ``R(n + 1, d)`` (no ``head``).

    >>> vision_transformer((8, 8, 1), 4, 16, 2, 1, 3).parameters()["pos.table"].ob
    R(5, 16)
    >>> vision_transformer((8, 8, 1), 4, 16, 2, 1, 3, head=None).cod
    R(5, 16)

    Args:
        image: ``(H, W, C)``.
        patch: the side of a patch.
        d: the model width.
        heads: attention heads.
        layers: the number of blocks.
        classes: the number of output classes.
        mlp_hidden: the MLP's hidden width (default ``4 * d``).
        eps: the layer norms' constant.
        activation: the MLP's nonlinearity (``"gelu"`` is the tanh form; Hugging
            Face's ViT uses ``"gelu_exact"``).
        bias: whether the blocks' projections have biases.
        head: ``"classifier"`` (a linear map to ``classes``), ``"pooler"`` (the
            same, then ``tanh``) or ``None`` (no head: the final states).
        init: the initialiser of weights, class token and positions.

    Returns:
        A Para ``R(H, W, C) -> R(classes)`` (``R(n + 1, d)`` with ``head=None``).
    """
    if head not in HEADS:
        raise ValueError(f"vision_transformer: head must be one of {HEADS}, got {head!r}")
    _dims("vision_transformer", d=d, layers=layers, classes=classes)
    cut = patches(image, patch)
    cod = cut.cod
    assert isinstance(cod, R)
    n, size = cod.shape
    tok = R(1, d)
    cls = weight("cls", tok, zeros, P.concat(tok, R(n, d), axis=0))
    blk = block(
        n + 1, d, heads, mlp_hidden=mlp_hidden, causal=False, eps=eps, activation=activation,
        bias=bias, init=init,
    )  # fmt: skip
    states = (
        cut
        >> linear(size, d, lead=(n,), init=init, name="patch")
        >> cls
        >> positional(n + 1, d, init=init, name="pos")
        >> repeat(blk, layers).named("blocks")
        >> layer_norm(d, lead=(n + 1,), eps=eps, name="ln_f")
    )
    if head is None:
        return states
    out = states >> P.take(R(n + 1, d), 0, 0) >> linear(d, classes, init=init, name="head")
    return out >> P.tanh(R(classes)) if head == "pooler" else out
