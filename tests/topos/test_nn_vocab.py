"""The added vocabulary, symbolically: types, parameter paths and counts, verdicts, errors."""

from __future__ import annotations

import pytest

from topos import Fin, R
from topos.analysis import analyze
from topos.errors import TypeMismatch
from topos.nn import primitives as P
from topos.nn import transformer
from topos.nn.decoder import language_model
from topos.nn.feedforward import dropout, feedforward, gated_mlp
from topos.nn.norms import norm, rms_norm
from topos.nn.rotary import rotary
from topos.nn.self_attention import self_attention
from topos.nn.zoo import GPT2, PUBLISHED, gpt2, llama, preset, vit


@pytest.mark.parametrize(
    ("box", "cls"),
    [
        (P.sigmoid(R(3)), "smooth"),
        (P.silu(R(3)), "smooth"),
        (P.sin(R(3)), "smooth"),
        (P.cos(R(3)), "smooth"),
        (P.log(R(3)), "smooth"),
        (P.sqrt(R(3)), "smooth"),
        (P.erf(R(3)), "smooth"),
        (P.slice_axis(R(3, 4), 1, 3), "linear"),
        (P.compare(R(3), R(3), "gt"), "pl"),
        (P.where(R(3), R(3), R(3)), "pl"),
    ],
)
def test_added_primitives_get_their_class_from_the_analysis(box: object, cls: str) -> None:
    assert analyze(box).cls == cls  # type: ignore[arg-type]
    assert analyze(box).order == "first"  # type: ignore[arg-type]


def test_constants_do_not_raise_the_class() -> None:
    """The RoPE tables are built from arange/exp/sin/cos but do not depend on the input."""
    assert analyze(rotary((8, 2, 16))).cls == "linear"
    assert analyze(rms_norm(8)).cls == "smooth"
    assert analyze(gated_mlp(4, 8)).cls == "smooth"


def test_llama_style_model_is_higher_order() -> None:
    report = analyze(llama(50, 8, 32, 4, 2, 64, kv_heads=2))
    assert (report.order, report.lives_in) == ("higher", "topos completion")


def test_published_parameter_counts() -> None:
    for name, count in PUBLISHED.items():
        assert preset(name).num_params() == count, name


def test_the_presets_are_topos_nn_names() -> None:
    import topos.nn

    assert (topos.nn.gpt2, topos.nn.llama, topos.nn.vit) == (gpt2, llama, vit)
    assert {"gpt2", "llama", "vit"} <= set(topos.nn.__all__)


def test_gpt2_ties_its_head_to_the_embedding() -> None:
    tied, untied = gpt2("small", seq=16), language_model(50257, 16, 768, 12, 12, head_bias=False)
    assert "head.w" not in tied.parameters() and "head.w" in untied.parameters()
    assert untied.num_params() - tied.num_params() == 768 * 50257
    assert set(GPT2) == {"small", "medium", "large", "xl"}


def test_vit_shapes() -> None:
    m = vit("b/16")
    assert (m.dom, m.cod) == (R(224, 224, 3), R(1000))
    assert m.parameters()["pos.table"].ob == R(197, 768)


def test_vit_heads_and_activation() -> None:
    from topos.nn.vit import vision_transformer

    default = vision_transformer((8, 8, 3), 4, 16, 2, 1, 5)
    assert vision_transformer((8, 8, 3), 4, 16, 2, 1, 5, head="classifier") == default
    pooler = vision_transformer((8, 8, 3), 4, 16, 2, 1, 16, head="pooler")
    assert pooler.cod == R(16) and pooler.arrow.cod == R(16)
    classifier = vision_transformer((8, 8, 3), 4, 16, 2, 1, 16)
    assert list(pooler.parameters()) == list(classifier.parameters())
    states = vision_transformer((8, 8, 3), 4, 16, 2, 1, 5, head=None)
    assert states.cod == R(5, 16) and "head.w" not in states.parameters()
    exact = vision_transformer((8, 8, 3), 4, 16, 2, 1, 5, activation="gelu_exact")
    assert exact != default and exact.parameters().keys() == default.parameters().keys()
    with pytest.raises(ValueError, match="head must be one of"):
        vision_transformer((8, 8, 3), 4, 16, 2, 1, 5, head="mean")


def test_transformer_options_keep_the_default_model() -> None:
    plain = transformer(65, 16, 32, 4, 2)
    assert list(plain.parameters()) == list(language_model(65, 16, 32, 4, 2).parameters())
    rope = transformer(65, 16, 32, 4, 2, positional="rope", norm="rms", kv_heads=1, bias=False)
    ps = rope.parameters()
    assert "pos.table" not in ps and "blocks.ln1.bias" not in ps
    assert ps["blocks.attn.k.w"].ob == R(2, 32, 8)
    assert "head.w" not in transformer(65, 16, 32, 4, 2, tie=True).parameters()


def test_padding_mask_changes_the_domain() -> None:
    lm = language_model(30, 6, 16, 4, 1, padding_mask=True)
    assert lm.dom == Fin(30, 6) * R(6)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: self_attention(4, 16, 4, kv_heads=3), "not a multiple of kv_heads"),
        (lambda: self_attention(4, 15, 4), "not divisible by heads"),
        (lambda: rotary((4, 6), dims=3), "must be even"),
        (lambda: norm("batch", 4, name="n"), "unknown kind 'batch'"),
        (lambda: feedforward(4, 8, activation="swish"), "unknown 'swish'"),
        (lambda: dropout((3,), 1.0), "rate must be in"),
        (lambda: language_model(30, 6, 16, 4, 1, positional="alibi"), "positional must be one of"),
        (lambda: gpt2("huge"), "unknown size 'huge'"),
        (lambda: preset("bert-base"), "unknown 'bert-base'"),
    ],
)
def test_bad_options_are_named(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_primitive_shape_errors_name_the_operation() -> None:
    with pytest.raises(TypeMismatch, match="slice"):
        P.slice_axis(R(4), 2, 2)
    with pytest.raises(TypeMismatch, match="compare: op must be one of"):
        P.compare(R(3), R(3), "lte")
    with pytest.raises(TypeMismatch, match="where: shapes"):
        P.where(R(3), R(4), R(4))
    with pytest.raises(TypeError, match="bernoulli"):
        P.bernoulli(R(2), (3,), 0.1)
