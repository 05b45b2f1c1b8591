"""Transformers learn in context by gradient descent: the experiment (``topos demo gd``).

The experiment lives in ``backends.apps.gd``; this script runs it:

    python examples/gd.py --seeds 2 --steps 200 --out runs/gd
"""

import sys

from backends.apps.gd import main

if __name__ == "__main__":
    sys.exit(main())
