"""Neural CFR: Deep CFR (Brown et al., 2019) with flax networks and optax.

    solver = cfr_jax.make_solver(game, "deep-cfr", traversals=512)
    state = solver.run(solver.init(), 100)        # 100 Deep CFR iterations, one jit
    cfr_jax.exploitability(game, solver.average_policy(state))
"""
from cfr_jax.neural.deep_cfr import DeepCFRSolver, DeepCFRState, make_deep_cfr
from cfr_jax.neural.env_deep_cfr import EnvDeepCFRSolver, make_env_deep_cfr
from cfr_jax.neural.features import infoset_features

__all__ = ['DeepCFRSolver', 'DeepCFRState', 'EnvDeepCFRSolver', 'infoset_features',
           'make_deep_cfr', 'make_env_deep_cfr']
