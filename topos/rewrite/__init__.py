"""Equational theories over the primitives, and law-certified optimisation.

- ``LINEAR_ALGEBRA``: the laws of the tensor primitives, declared as data
  (``topos.rewrite.theory``);
- ``equal_modulo(theory, f, g)``: equality by the structural laws and the theory;
- ``optimize(f, cost="flops")``: equality saturation (egglog, the ``optimize``
  extra), extraction of the cheapest equal diagram, and a ``Certificate`` that
  ``check`` re-verifies.

>>> from topos import R, Id
>>> from topos.nn import primitives as P
>>> chain = (P.matmul(R(64, 2), R(2, 64)) * Id(R(64, 2))) >> P.matmul(R(64, 64), R(64, 2))
>>> out = optimize(chain)
>>> out.certificate.cost_before > out.certificate.cost_after
True
>>> check(out.certificate, chain, out.arrow), equal_modulo(LINEAR_ALGEBRA, chain, out.arrow)
(True, True)
"""

from topos.rewrite.cost import COSTS, bytes_moved, flops
from topos.rewrite.optimize import RUN_MIN_GAIN, Certificate, Optimized, Step, check, optimize
from topos.rewrite.polynomial import equal_modulo
from topos.rewrite.saturate import Budget
from topos.rewrite.terms import NotATensorTerm, Term, read, write
from topos.rewrite.theory import LINEAR_ALGEBRA, Law, Theory

__all__ = [
    "RUN_MIN_GAIN",
    "COSTS",
    "LINEAR_ALGEBRA",
    "Budget",
    "Certificate",
    "Law",
    "NotATensorTerm",
    "Optimized",
    "Step",
    "Term",
    "Theory",
    "bytes_moved",
    "check",
    "equal_modulo",
    "flops",
    "optimize",
    "read",
    "write",
]
