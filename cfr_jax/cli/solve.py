"""Quick solve: `python -m cfr_jax --game=leduc --algorithm=dcfr --iterations=5000`.

Prints exploitability against iterations and wall time. Long runs with
checkpoints, budgets and restarts belong to the launcher (`cfr-train`).
"""
import sys
import time

from absl import flags
from absl import logging
import jax

import cfr_jax
from cfr_jax import cli
from cfr_jax.checks import MAX_ITERATION

_GAME = flags.DEFINE_string('game', 'leduc', 'Game spec, e.g. kuhn, leduc, "leduc(ranks=5)", openspiel:liars_dice.')
_ALGORITHM = flags.DEFINE_string('algorithm', 'dcfr', f'One of {", ".join(cfr_jax.ALGORITHMS)}.')
# At most what the state's int32 counter holds: 3e9 ran for hours before
# run() refused the chunk that would pass it.
_ITERATIONS = flags.DEFINE_integer('iterations', 5000, 'Total iterations.', lower_bound=1,
                                   upper_bound=MAX_ITERATION)
_REPORTS = flags.DEFINE_integer('reports', 10, 'How many exploitability reports.', lower_bound=1)
_DTYPE = flags.DEFINE_enum('dtype', 'float32', ['float32', 'float64'], 'Solver precision.')


def _main(argv):
  if len(argv) > 1:
    print(f'error: unexpected arguments: {" ".join(argv[1:])} (flags are --name=value)',
          file=sys.stderr)
    return 1
  logging.set_verbosity(logging.WARNING)  # keep JAX's backend probing quiet
  if _DTYPE.value == 'float64':
    jax.config.update('jax_enable_x64', True)
  try:
    game = cfr_jax.load_game(_GAME.value)
    solver = cfr_jax.make_solver(game, _ALGORITHM.value, dtype=_DTYPE.value)
  except (ValueError, ImportError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(f'{game}; {solver.algorithm} {solver.hyperparameters}, {_DTYPE.value}')
  start = time.perf_counter()
  state = solver.run(solver.init(), 0)  # compiles; later calls reuse it
  print(f'compiled in {time.perf_counter() - start:.1f} s')
  step = max(1, _ITERATIONS.value // _REPORTS.value)
  solve_seconds = 0.0
  print(f'{"iteration":>10} {"solve s":>9} {"it/s":>9} {"exploitability":>15}')
  while int(state.iteration) < _ITERATIONS.value:
    n = min(step, _ITERATIONS.value - int(state.iteration))
    start = time.perf_counter()
    state = solver.run(state, n)
    jax.block_until_ready(state)  # any solver's state (Deep CFR's has no regrets)
    solve_seconds += time.perf_counter() - start
    expl = cfr_jax.exploitability(game, solver.average_policy(state))
    print(f'{int(state.iteration):>10} {solve_seconds:>9.2f} '
          f'{int(state.iteration) / solve_seconds:>9.0f} {expl:>15.3e}', flush=True)
  return 0


def main() -> None:
  """`python -m cfr_jax`."""
  cli.run(_main)


if __name__ == '__main__':
  main()
