"""``topos load DIR``: a published checkpoint folder as a topos model, analysed, drawn and run.

Reads a Hugging Face folder (``config.json`` + ``model.safetensors``) with
``backends.jax.interop.hf.load_pretrained``, then prints the preset it became
(family, parameters, domain and codomain), its ``analyze()`` report, writes its
string diagram (``--draw FILE.svg``), and runs it: a language model continues a
prompt of token ids with ``generate`` (greedy, the key–value cache derived from
the diagram); a ViT classifies a random image. ``--save OUT`` writes the weights
back in the folder's layout and says whether the copy is the same bit for bit.
``--random FAMILY`` first writes a tiny random checkpoint of that family
(``gpt2``, ``llama``, ``vit``) into ``DIR``, so everything runs without a download.

>>> import io, tempfile
>>> folder = tempfile.mkdtemp() + "/tiny"
>>> out = io.StringIO()
>>> run(folder, random="gpt2", steps=4, stdout=out)
>>> text = out.getvalue()
>>> "gpt2: language model Fin(64, Dim('seq', 32)) -> R(Dim('seq', 32), 64)" in text
True
>>> "lives in  topos completion" in text, "generated" in text
(True, True)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import jax
import numpy as np

from topos.analysis import analyze
from topos.draw import draw
from topos.objects import R

__all__ = ["LoadError", "run"]


class LoadError(ValueError):
    """A bad ``topos load`` call: one line saying what is wrong."""


def run(
    folder: str,
    *,
    random: str | None = None,
    prompt: str = "1,2,3",
    steps: int = 8,
    draw_to: str | None = None,
    save: str | None = None,
    stdout: TextIO | None = None,
) -> None:
    """Load the checkpoint ``folder``, report on it, draw it, run it; see the module docstring.

    Args:
        folder: a Hugging Face checkpoint folder.
        random: write a tiny random checkpoint of this family into ``folder`` first.
        prompt: comma-separated token ids a language model continues.
        steps: how many tokens to generate.
        draw_to: where to write the string diagram (SVG).
        save: a folder to write the weights back to, in the same layout.
        stdout: where to print (default ``sys.stdout``).
    """
    from backends.jax import apply, generate
    from backends.jax.interop import hf

    out = sys.stdout if stdout is None else stdout

    def say(line: str) -> None:
        print(line, file=out)

    if random is not None:
        if random not in hf.TINY:
            raise LoadError(f"--random must be one of {sorted(hf.TINY)}, got {random!r}")
        if Path(folder).exists() and any(Path(folder).iterdir()):
            raise LoadError(f"--random writes a new checkpoint, but {folder} is not empty")
        hf.write_random(folder, hf.TINY[random], seed=0)
        say(f"wrote a tiny random {random} checkpoint to {folder}")
    try:
        model, params = hf.load_pretrained(folder)
    except hf.PretrainedError as err:
        raise LoadError(str(err)) from None
    config = hf.read_config(folder)
    count = sum(int(np.size(v)) for v in params.values())
    kind = "language model" if config["model_type"] != "vit" else "vision transformer"
    say(f"{config['model_type']}: {kind} {model.dom} -> {model.cod}, {count:,} parameters")
    report = analyze(model)
    say("analysis:")
    say(f"  order     {report.order}")
    say(f"  class     {report.cls}")
    say(f"  lives in  {report.lives_in}")
    for w in report.witnesses[:1]:
        say(f"  witness   {w.kind}: {w.reason}, in {w.where or 'the top level'}")
    if draw_to is not None:
        Path(draw_to).write_text(draw(model, depth=2))
        say(f"diagram: {draw_to}")
    if config["model_type"] == "vit":
        assert isinstance(model.dom, R)
        shape = tuple(int(n) for n in model.dom.shape)
        image = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        scores = np.asarray(apply(model, params, image))
        say(f"a random image: class {int(scores.argmax())} (output {scores.shape})")
    else:
        try:
            ids = [int(t) for t in prompt.split(",")]
        except ValueError:
            raise LoadError(f"--prompt must be comma-separated token ids, got {prompt!r}") from None
        tokens = generate(model, params, ids, steps, jax.random.key(0), temperature=0)
        say(f"prompt {ids} generated {[int(t) for t in np.asarray(tokens)]}")
    if save is not None:
        hf.save_pretrained(save, model, params, like=folder)
        verdict = "the same" if hf.same(folder, save) else "NOT the same"
        say(f"saved to {save}: {verdict} as {folder}, bit for bit")
