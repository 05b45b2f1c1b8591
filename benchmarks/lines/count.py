"""Lines of code of the traced models beside their Equinox versions.

Run: ``python benchmarks/lines/count.py``.

A model's lines are the code lines of its definitions (the builder function of
``examples/traced_models.py``; the ``eqx.Module`` classes and helpers of
``benchmarks/lines/equinox_models.py``), without blank lines, comments and
docstrings. Imports are not counted on either side.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRACED = ROOT / "examples" / "traced_models.py"
EQUINOX = ROOT / "benchmarks" / "lines" / "equinox_models.py"

#: model -> (its definitions in the traced file, its definitions in the Equinox file)
MODELS = {
    "mixer": (["mixer"], ["MixerBlock", "Mixer"]),
    "encoder_decoder": (
        ["encoder_decoder"],
        ["_mha", "EncoderBlock", "DecoderBlock", "EncoderDecoder"],
    ),
    "mixture_of_experts": (["mixture_of_experts"], ["MixtureOfExperts"]),
}


def _docstring_lines(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                out.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return out


def code_lines(path: Path, names: list[str]) -> int:
    """The code lines of the top-level definitions ``names`` in ``path``."""
    text = path.read_text()
    tree = ast.parse(text)
    docs = _docstring_lines(tree)
    code = {
        tok.start[0]
        for tok in tokenize.generate_tokens(io.StringIO(text).readline)
        if tok.type
        not in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        )
    }
    found = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    missing = [n for n in names if n not in found]
    if missing:
        raise KeyError(f"{path.name}: no definition {missing}")
    total = 0
    for name in names:
        node = found[name]
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        lines = range(first, (node.end_lineno or node.lineno) + 1)
        total += sum(1 for k in lines if k in code and k not in docs)
    return total


def table() -> list[tuple[str, int, int]]:
    """``(model, traced lines, Equinox lines)`` for each model."""
    return [
        (name, code_lines(TRACED, ours), code_lines(EQUINOX, theirs))
        for name, (ours, theirs) in MODELS.items()
    ]


def main() -> None:
    print("| model | topos.syntax | Equinox | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in table():
        print(f"| {name} | {ours} | {theirs} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
