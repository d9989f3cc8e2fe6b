"""cfr_jax: the counterfactual regret minimization family in JAX.

    import cfr_jax
    game = cfr_jax.load_game("leduc")
    solver = cfr_jax.make_solver(game, algorithm="dcfr")
    state = solver.run(solver.init(), 1000)
    cfr_jax.exploitability(game, solver.average_policy(state))
"""
from cfr_jax.exploitability import (abstract_exploitability, exploitability, game_value,
                                    nash_conv, uniform_policy)
from cfr_jax.games import Game, load_game
from cfr_jax import heap
from cfr_jax.policy import TabularPolicy
from cfr_jax.regret import ALGORITHMS
from cfr_jax.solver import Solver, SolverState, make_mesh, make_solver

__version__ = '0.1.0'
heap.watch_compilations()  # long compilations' leftovers go back to the system
__all__ = ['ALGORITHMS', 'Game', 'abstract_exploitability', 'Solver', 'SolverState', 'TabularPolicy',
           'exploitability', 'game_value', 'load_game', 'make_mesh', 'make_solver', 'nash_conv',
           'uniform_policy']
