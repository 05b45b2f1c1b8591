"""The ``topos`` console script.

``topos demo`` trains a transformer, built as a Para morphism of ``topos.nn``, as a
character-level language model on the Python standard library's source (see
``backends.apps.demo``). Errors in the command line, the corpus, the output folder
or its checkpoint, and a diverging run are one line on stderr, ``topos: error: ...``,
with exit status 2; Ctrl-C during training leaves a checkpoint and says how to
resume (exit status 130).

``topos load DIR`` reads a Hugging Face checkpoint folder into a preset, prints
its analysis, draws it and generates from it (``backends.apps.load``).

>>> main(["demo", "--steps", "-3"])
2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from backends.apps.flags import Parser, UsageError, at_least, positive_float, rate

__all__ = ["build_parser", "main"]

PROG = "topos"


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``topos demo [flags]``.

    Flags left out are ``None`` here; the demo fills in its defaults (and, with
    ``--resume``, the settings of the run being resumed).

    >>> args = build_parser().parse_args(["demo", "--steps", "10", "--d-model", "32"])
    >>> args.command, args.steps, args.d_model, args.layers
    ('demo', 10, 32, None)
    """
    from backends.apps.demo import ARCHS, DemoConfig

    d = DemoConfig()
    parser = Parser(
        prog=PROG,
        description="topos: neural architectures as morphisms of a cartesian closed category.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    demo = commands.add_parser(
        "demo",
        help="train a transformer (a Para morphism) on Python source and sample from it",
        description=(
            "Build a decoder-only transformer (GPT- or Llama-style, --arch) as a Para"
            " morphism of topos.nn, print its"
            " analysis, compile it with JAX and train it as a character-level language"
            " model on the Python standard library's source. Reports validation bits per"
            " character against a unigram baseline and prints a sample. Ctrl-C leaves a"
            " checkpoint that --resume continues from."
        ),
    )
    demo.add_argument("--steps", type=at_least(1), help=f"training steps (default {d.steps})")
    demo.add_argument("--d-model", type=at_least(1), help=f"model width (default {d.d_model})")
    demo.add_argument("--layers", type=at_least(1), help=f"transformer blocks (default {d.layers})")
    demo.add_argument("--heads", type=at_least(1), help=f"attention heads (default {d.heads})")
    demo.add_argument("--seq", type=at_least(2), help=f"context length (default {d.seq})")
    demo.add_argument("--batch", type=at_least(1), help=f"sequences per step (default {d.batch})")
    demo.add_argument("--lr", type=positive_float, help=f"peak learning rate (default {d.lr})")
    demo.add_argument(
        "--seed", type=at_least(0), help=f"seed for init and batches (default {d.seed})"
    )
    demo.add_argument(
        "--arch",
        choices=sorted(ARCHS),
        help="gpt: " + ARCHS["gpt"] + "; llama: " + ARCHS["llama"] + f" (default {d.arch})",
    )
    demo.add_argument(
        "--dropout",
        type=rate,
        help="dropout rate in training, on the embedding and the residual branches (default 0)",
    )
    demo.add_argument("--out", help=f"output folder: checkpoint, diagram, report (default {d.out})")
    demo.add_argument(
        "--resume", action="store_true", help="continue the run saved in --out from its checkpoint"
    )
    demo.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in an --out that holds one (replaced once the new run checkpoints)",
    )
    demo.add_argument(
        "--corpus", help="a folder of .py files to train on (default: the Python standard library)"
    )
    demo.add_argument(
        "--mesh",
        help="train sharded on a DATAxMODEL device mesh, e.g. 4x2 (on CPU: simulated devices)",
    )
    load = commands.add_parser(
        "load",
        help="load a Hugging Face checkpoint folder, analyse, draw and run it",
        description=(
            "Read a Hugging Face checkpoint folder (config.json + model.safetensors) of GPT-2,"
            " a Llama-family model or ViT into the topos preset its config describes; print"
            " its analysis, draw it, and generate from it (or classify a random image)."
        ),
    )
    load.add_argument("folder", help="the checkpoint folder")
    load.add_argument(
        "--random",
        metavar="FAMILY",
        help="first write a tiny random checkpoint of FAMILY (gpt2, llama, vit) into the folder",
    )
    load.add_argument("--prompt", default="1,2,3", help="comma-separated token ids to continue")
    load.add_argument("--steps", type=at_least(1), default=8, help="tokens to generate (8)")
    load.add_argument("--draw", metavar="FILE", help="write the string diagram (SVG) to FILE")
    load.add_argument("--save", metavar="OUT", help="write the weights back to OUT, same layout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status.

    ``topos demo gd [flags]`` runs the in-context gradient-descent experiment
    (``backends.apps.gd``; ``topos demo gd --help`` lists its flags).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["demo", "gd"]:
        from backends.apps import gd

        try:
            return gd.main(argv[2:])
        except UsageError as err:
            return _fail(str(err))
        except SystemExit as stop:  # argparse's --help
            return int(stop.code or 0)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        return _fail(str(err))
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "load":
        return _load(args)
    return _demo(args)


def _load(args: argparse.Namespace) -> int:
    from backends.apps.load import LoadError, run

    try:
        run(
            args.folder, random=args.random, prompt=args.prompt, steps=args.steps,
            draw_to=args.draw, save=args.save,
        )  # fmt: skip
    except (LoadError, OSError) as err:
        return _fail(str(err))
    return 0


def _simulate_devices(mesh: str) -> None:
    """On a CPU-only machine, ask XLA for as many host devices as the mesh needs.

    XLA reads the flag when JAX starts its backend (the first computation), which
    the demo has not done yet; a flag already set by the user is kept.
    """
    import os

    dims = mesh.split("x")
    if len(dims) != 2 or not all(d.isdigit() for d in dims):
        return  # the demo's own check names the flag
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        count = int(dims[0]) * int(dims[1])
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _demo(args: argparse.Namespace) -> int:
    from backends.apps.demo import CorpusError, DemoError, Interrupted, run

    given = {k: v for k, v in vars(args).items() if k != "command" and v not in (None, False)}
    if args.mesh is not None:
        _simulate_devices(args.mesh)
    try:
        run(given)
    except (DemoError, CorpusError) as err:
        return _fail(str(err))
    except Interrupted as stop:
        print(f"\n{PROG}: interrupted. {stop}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # outside training (reading, evaluating, sampling)
        print(f"\n{PROG}: interrupted.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
