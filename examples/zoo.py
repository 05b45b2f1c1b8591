"""Print the zoo table: every architecture, its size, class, order, where it lives, witness.

python examples/zoo.py            # full-size models
python examples/zoo.py --small    # quick
python examples/zoo.py --markdown # as a markdown table (docs/analysis.md)
"""

from __future__ import annotations

import argparse

from topos.nn.zoo import table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small models (fast)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    rows = table(small=args.small)
    head = ("architecture", "parameters", "class", "order", "lives in", "witness")
    cells = [
        (
            r.name,
            f"{r.parameters:,}",
            r.cls + (f" (deg {r.degree})" if r.degree and r.cls == "polynomial" else ""),
            r.order,
            r.lives_in,
            r.witness,
        )
        for r in rows
    ]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for c in cells:
            print("| " + " | ".join(x.replace("|", "\\|") for x in c) + " |")
        return
    widths = [max(len(str(x)) for x in col) for col in zip(head, *cells, strict=True)]
    widths[-1] = 0
    for c in (head, *cells):
        print("  ".join(str(x).ljust(w) for x, w in zip(c, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
