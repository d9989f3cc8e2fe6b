"""Chance isomorphism: tree sizes, ms/iteration and compiled memory, on and off.

    python bench/isomorphism.py --config=holdem_turn --board="Ks 9s 8h 3h" --repeats=5
    python bench/isomorphism.py --config=holdem_flop --memory_only

Per mode (isomorphism on, off): decision nodes, infoset rows, the state's
bytes, then either the best of `repeats` timed runs of `iterations`
iterations (after a warm-up run that compiles), or with --memory_only the
compiled chunk's `memory_analysis()` (nothing run: a flop iteration takes
tens of seconds and ~14 GB on CPU).
"""
import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp

import cfr_jax
from cfr_jax.training import config as config_lib


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='holdem_turn')
  parser.add_argument('--board', default=None, help='override the config\'s board')
  parser.add_argument('--iterations', type=int, default=20)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--memory_only', action='store_true')
  args = parser.parse_args()
  from cfr_jax.cli import train  # pylint: disable=g-import-not-at-top
  config, _ = train.load_config(args.config)
  if args.board:
    config.holdem.board = args.board
  for iso in (True, False):
    config.holdem.isomorphism = iso
    t = time.perf_counter()
    game = config_lib._load_game(config)  # pylint: disable=protected-access
    built = time.perf_counter() - t
    solver = cfr_jax.make_solver(game, config.algorithm)
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(jax.eval_shape(solver._zeros)))  # pylint: disable=protected-access
    print(f'isomorphism={iso}: {game.info.isomorphism}')
    print(f'  {game.num_decisions} decision nodes, {game.num_infosets} infoset rows, '
          f'{game.num_hands} hands, state {state_bytes / 2**20:.1f} MiB, '
          f'subgame compiled in {built:.1f} s', flush=True)
    if args.memory_only:
      t = time.perf_counter()
      state = jax.eval_shape(solver._zeros)  # pylint: disable=protected-access
      compiled = solver._run.lower(  # pylint: disable=protected-access
          solver._game, state, jnp.asarray(1, jnp.int32), solver._hp).compile()  # pylint: disable=protected-access
      m = compiled.memory_analysis()
      print(f'  XLA compile {time.perf_counter() - t:.1f} s; temp {m.temp_size_in_bytes / 2**30:.2f} '
            f'GiB, arguments {m.argument_size_in_bytes / 2**30:.2f} GiB, output '
            f'{m.output_size_in_bytes / 2**30:.2f} GiB, aliased {m.alias_size_in_bytes / 2**30:.2f} GiB',
            flush=True)
      continue
    state = solver.run(solver.init(), args.iterations)  # compiles
    jax.block_until_ready(state)
    best = float('inf')
    for _ in range(args.repeats):
      t = time.perf_counter()
      state = jax.block_until_ready(solver.run(state, args.iterations))
      best = min(best, time.perf_counter() - t)
    print(f'  best of {args.repeats}: {1000 * best / args.iterations:.1f} ms/iteration; '
          f'exploitability after {int(state.iteration)} iterations '
          f'{cfr_jax.exploitability(game, solver.average_policy(state)):.4f} chips', flush=True)
    del state


if __name__ == '__main__':
  main()
