"""Monte Carlo CFR: external and outcome sampling, many trajectories per jitted step.

Use it through `cfr_jax.make_solver(game, 'es-mccfr' | 'os-mccfr', batch_size=..., weighting=...)`.
"""
from cfr_jax.sampled.solver import (SAMPLED_ALGORITHMS, WEIGHTINGS, SampledSolver, SampledState,
                                    canonical_name, make_sampled_solver)

__all__ = ['SAMPLED_ALGORITHMS', 'WEIGHTINGS', 'SampledSolver', 'SampledState',
           'canonical_name', 'make_sampled_solver']
