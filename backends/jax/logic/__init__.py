"""The numeric side of the logic of a ReLU network: patterns, regions, local maps, explain.

``PLNet`` (``backends.jax.logic.pl``) interprets a piecewise-linear diagram with its
activation pattern recorded or fixed; the region functions
(``backends.jax.logic.regions``) turn that into exact polyhedra, local affine maps,
region enumeration, explanations and plots. The predicates and their Boolean and
Heyting structure live in ``topos.logic``.

>>> import jax, numpy as np
>>> from topos.nn import mlp
>>> from backends.jax import init
>>> p = mlp([2, 8, 1])
>>> net = PLNet(p, init(p, jax.random.key(0)))
>>> region(net, np.array([0.2, -0.4])).contains(np.array([0.2, -0.4]))
True
"""

from backends.jax.logic.pl import NotPiecewiseLinear as NotPiecewiseLinear
from backends.jax.logic.pl import PLNet as PLNet
from backends.jax.logic.regions import explain as explain
from backends.jax.logic.regions import explain_two_level as explain_two_level
from backends.jax.logic.regions import local_map as local_map
from backends.jax.logic.regions import pattern as pattern
from backends.jax.logic.regions import plot_regions as plot_regions
from backends.jax.logic.regions import predicates as predicates
from backends.jax.logic.regions import region as region
from backends.jax.logic.regions import regions as regions
