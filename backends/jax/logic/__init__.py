"""The numeric side of the logic of a ReLU network: patterns, regions, local maps, explain.

One module per stage, each using only those above it:

- ``pl``: ``PLNet`` interprets a piecewise-linear diagram with its activation
  pattern recorded or fixed;
- ``solver`` and ``polyhedra``: the LP solvers (HiGHS; rows added lazily), and
  regions as polyhedra ``{y : A y <= b}``;
- ``budget``: a time budget and its progress display;
- ``facets``: which rows of a region are facets, certified or decided by
  Clarkson's linear programs, within a budget;
- ``local``: what the network is near one input (``pattern``, ``region``,
  ``local_map``);
- ``polygons`` and ``enumeration``: all the regions in a box (``regions``), exact in 2-D;
- ``explanations``: ``explain`` (rule, local linear model, counterfactual);
- ``two_level``: ``explain_two_level`` for networks that choose linear maps
  (attention);
- ``boolean``: ``predicates``, the Boolean algebra the neurons generate, as a
  ``topos.finite`` model;
- ``plot``: ``plot_regions``.

The predicates' Boolean and Heyting structure lives in ``topos.logic``.

>>> import jax, numpy as np
>>> from topos.nn import mlp
>>> from backends.jax import init
>>> p = mlp([2, 8, 1])
>>> net = PLNet(p, init(p, jax.random.key(0)))
>>> region(net, np.array([0.2, -0.4])).contains(np.array([0.2, -0.4]))
True
"""

from backends.jax.logic.boolean import Predicates as Predicates
from backends.jax.logic.boolean import predicates as predicates
from backends.jax.logic.enumeration import Cell as Cell
from backends.jax.logic.enumeration import Regions as Regions
from backends.jax.logic.enumeration import regions as regions
from backends.jax.logic.explanations import Counterfactual as Counterfactual
from backends.jax.logic.explanations import Explanation as Explanation
from backends.jax.logic.explanations import explain as explain
from backends.jax.logic.local import LocalMap as LocalMap
from backends.jax.logic.local import Pattern as Pattern
from backends.jax.logic.local import local_map as local_map
from backends.jax.logic.local import pattern as pattern
from backends.jax.logic.local import region as region
from backends.jax.logic.pl import NotPiecewiseLinear as NotPiecewiseLinear
from backends.jax.logic.pl import PLNet as PLNet
from backends.jax.logic.plot import plot_regions as plot_regions
from backends.jax.logic.polyhedra import Region as Region
from backends.jax.logic.two_level import Chosen as Chosen
from backends.jax.logic.two_level import TwoLevel as TwoLevel
from backends.jax.logic.two_level import explain_two_level as explain_two_level
