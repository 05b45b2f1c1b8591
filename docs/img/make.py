"""Regenerate the diagrams of the drawing guide (``docs/draw.md``).

Run from anywhere: ``python docs/img/make.py`` writes the SVGs next to this file.
With ``--png DIR`` it also writes PNGs into ``DIR``, when ``cairosvg`` (the ``draw``
extra) is installed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from topos import Box, Id, R, copy, curry, ev, fst, nn, pair, snd  # noqa: E402
from topos.draw import draw, group, png  # noqa: E402
from topos.para import Para, normal, zeros  # noqa: E402
from topos.reverse import reverse  # noqa: E402


def mlp_like() -> Any:
    """An MLP-like composite of plain boxes, each layer a named sub-diagram."""
    x, h = R(8), R(32)
    layer1 = group("layer1", Box("linear", x, h) >> Box("relu", h, h))
    layer2 = group("layer2", Box("linear", h, h) >> Box("relu", h, h))
    return layer1 >> layer2 >> Box("linear", h, R(2))


def choose_ev() -> Any:
    """Attention as choose ; ev, from boxes: the input chooses the map that ev applies."""
    x, a = R(16, 32), R(16, 16)
    choose = Box("scores", x, a) >> Box("softmax", a, a)
    mix = Box("mix", a * x, x)  # (A, v) |-> A v
    return copy(x) >> (choose >> curry(mix)) * Box("value", x, x) >> ev(x, x)


def tied_autoencoder() -> Any:
    """Encoder and decoder sharing one matrix (the decoder reads its transpose)."""
    x, z = R(16), R(4)

    def layer(name: str, w: R, a: R, b: R) -> Para:
        bias = R(*b.shape)
        p = w * bias
        mm = pair(fst(p, a) >> fst(w, bias), snd(p, a)) >> Box("matmul", w * a, b)
        arrow = pair(mm, fst(p, a) >> snd(w, bias)) >> Box("add", b * b, b)
        return Para(p, arrow, params={f"{name}.w": normal(0.02), f"{name}.b": zeros})

    enc = layer("enc", R(16, 4), x, z) >> Box("relu", z, z)
    dec = layer("dec", R(4, 16), z, x)
    transpose = Box("transpose", R(16, 4), R(4, 16))
    return (enc >> dec).tie("enc.w", "dec.w", via=transpose)


def frozen() -> Any:
    """The same network with the encoder frozen: constants on its parameter wires."""
    net = tied_autoencoder()
    return net.freeze("enc")


def nn_diagrams() -> dict[str, tuple[Callable[[], Any], int | None]]:
    return {
        "nn_mlp": (lambda: nn.mlp([8, 32, 8]), None),
        "nn_attention_head": (lambda: nn.attention(8, 32, heads=1, causal=True), 1),
        "nn_attention_full": (lambda: nn.attention(8, 32, heads=1, causal=True), None),
        "nn_transformer_block": (lambda: nn.transformer_block(8, 32, 4), 1),
        "nn_transformer": (lambda: nn.transformer(65, 16, 32, 4, 24), 0),
        "nn_transformer_depth1": (lambda: nn.transformer(65, 16, 32, 4, 24), 1),
    }


def learning_diagrams() -> dict[str, tuple[Callable[[], Any], int | None]]:
    """The forward, the reverse and the learner of a small MLP and an attention head."""
    from topos.objects import Fin
    from topos.para.lens import cross_entropy, descent, lens, model_and_loss

    def mlp() -> Any:
        return nn.mlp([2, 3, 2])

    def head() -> Any:
        return nn.attention(4, 8, heads=1, causal=True)

    def learner() -> Any:
        p = mlp()
        step = (descent(p.P, 0.1) * lens(Id(p.dom * Fin(2)))) >> model_and_loss(
            p, cross_entropy(R(2), Fin(2))
        )
        return step.backward

    return {
        "learn_mlp_forward": (lambda: mlp().arrow, None),
        "learn_mlp_reverse": (lambda: reverse(mlp().arrow), None),
        "learn_mlp_learner": (learner, 1),
        "learn_head_forward": (lambda: head().arrow, 1),
        "learn_head_reverse": (lambda: reverse(head().arrow), 1),
    }


def main(argv: list[str]) -> None:
    png_dir = Path(argv[argv.index("--png") + 1]) if "--png" in argv else None
    made: dict[str, tuple[Callable[[], Any], int | None]] = {
        "mlp_like": (mlp_like, None),
        "mlp_like_collapsed": (mlp_like, 0),
        "choose_ev": (choose_ev, None),
        "para_tied": (tied_autoencoder, None),
        "para_frozen": (frozen, None),
    }
    made.update(nn_diagrams())
    made.update(learning_diagrams())
    only = [a for a in argv if a.startswith("learn")]
    made = {k: v for k, v in made.items() if not only or k in only}
    for name, (build, depth) in made.items():
        f = build()
        (HERE / f"{name}.svg").write_text(draw(f, depth=depth) + "\n")
        if png_dir is not None:
            png_dir.mkdir(parents=True, exist_ok=True)
            (png_dir / f"{name}.png").write_bytes(png(f, depth=depth))
        print(f"wrote {name}.svg" + (f" and {png_dir / name}.png" if png_dir else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
