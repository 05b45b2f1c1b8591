"""Three architectures written as Python functions (``topos.syntax``), traced into Para.

Run ``python examples/traced_models.py``: builds each model, prints its parameter
count and what ``analyze`` says. ``benchmarks/lines/count.py`` compares their
length with the Equinox versions in ``benchmarks/lines/equinox_models.py``, and
``tests/examples/test_traced_models.py`` checks both agree on shared weights.

No ``assoc``, ``unassoc`` or ``swap``: the tracer routes the values.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topos import Fin, R, diagram, param  # noqa: E402
from topos.para import Para, repeat, zeros  # noqa: E402
from topos.syntax import causal_mask, einsum, embedding, gelu, layer_norm, linear, mlp, softmax  # noqa: E402  # noqa: E402


def mixer(side=8, patch=4, chans=3, d=16, token_hidden=8, chan_hidden=32, depth=2, classes=10):
    """MLP-Mixer (Tolstikhin et al. 2021): an image in, class logits out."""
    g, s = side // patch, (side // patch) ** 2

    @diagram(dom=R(s, d))
    def block(x):
        x = x + mlp(layer_norm(x, name="ln1").T, token_hidden, name="tokens").T
        return x + mlp(layer_norm(x, name="ln2"), chan_hidden, name="channels")

    @diagram(dom=R(side, side, chans))
    def model(image):
        patches = image.reshape(g, patch, g, patch, chans).transpose(0, 2, 1, 3, 4)
        x = repeat(block, depth).named("blocks")(linear(patches.reshape(s, -1), d, name="stem"))
        return linear(layer_norm(x, name="ln").mean(0), classes, name="head")

    return model


def encoder_decoder(vocab=13, src=6, tgt=5, d=16, heads=2, layers=2, hidden=32):
    """A pre-norm encoder–decoder transformer (Vaswani et al. 2017) with cross-attention."""

    def attend(xq, xkv, name, causal=False):
        def split(t, n):
            return linear(t, d, name=f"{name}.{n}", bias=False).reshape(t.shape[0], heads, -1)

        s = einsum("qhd,khd->hqk", split(xq, "q"), split(xkv, "k")) / math.sqrt(d // heads)
        a = softmax(causal_mask(s) if causal else s)
        o = einsum("hqk,khd->qhd", a, split(xkv, "v")).reshape(xq.shape[0], d)
        return linear(o, d, name=f"{name}.o", bias=False)

    @diagram(dom=(Fin(vocab, src), Fin(vocab, tgt)))
    def model(source, target):
        x = embedding(source, d, name="src") + param("src_pos", R(src, d))
        for i in range(layers):
            h = layer_norm(x, name=f"enc{i}.ln1")
            x = x + attend(h, h, f"enc{i}.attn")
            x = x + mlp(layer_norm(x, name=f"enc{i}.ln2"), hidden, name=f"enc{i}.mlp")
        memory = layer_norm(x, name="enc_ln")
        y = embedding(target, d, name="tgt") + param("tgt_pos", R(tgt, d))
        for i in range(layers):
            h = layer_norm(y, name=f"dec{i}.ln1")
            y = y + attend(h, h, f"dec{i}.self", causal=True)
            y = y + attend(layer_norm(y, name=f"dec{i}.ln2"), memory, f"dec{i}.cross")
            y = y + mlp(layer_norm(y, name=f"dec{i}.ln3"), hidden, name=f"dec{i}.mlp")
        return linear(layer_norm(y, name="dec_ln"), vocab, name="head")

    return model


def mixture_of_experts(seq=4, d=8, experts=3, hidden=16):
    """A residual top-1 mixture-of-experts layer (Switch, Fedus et al. 2022), dense-masked."""

    @diagram(dom=R(seq, d))
    def model(x):
        h = layer_norm(x, name="ln")
        probs = softmax(linear(h, experts, name="gate", bias=False))
        top1 = probs * (probs >= probs.max(-1, keepdims=True))
        w1, b1 = param("w1", R(experts, d, hidden)), param("b1", R(experts, hidden), zeros)
        w2, b2 = param("w2", R(experts, hidden, d)), param("b2", R(experts, d), zeros)
        up = gelu(einsum("td,edh->eth", h, w1) + b1.reshape(experts, 1, hidden))
        out = einsum("eth,ehd->etd", up, w2) + b2.reshape(experts, 1, d)
        return x + einsum("te,etd->td", top1, out)

    return model


MODELS = {
    "mixer": mixer,
    "encoder_decoder": encoder_decoder,
    "mixture_of_experts": mixture_of_experts,
}


def main() -> None:
    from topos.analysis import analyze

    for name, build in MODELS.items():
        p: Para = build()
        report = analyze(p)
        print(f"{name}: {p.dom} -> {p.cod}, {p.num_params()} parameters,"
              f" {report.order} order, {report.cls}, lives in the {report.lives_in}")


if __name__ == "__main__":
    main()
