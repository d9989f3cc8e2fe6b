r"""A subgame config's process memory, phase by phase: built, state, compiled, run.

    python bench/memory_phases.py                       # the flop config (~3 min, ~2 GB)
    python bench/memory_phases.py --config=holdem_turn --no_trim
    python bench/memory_phases.py --subtrees=0          # whole levels (no split passes)
    python bench/memory_phases.py --storage=bfloat16    # 16-bit state
    python bench/memory_phases.py --state_first         # the state, then the program
    python bench/memory_phases.py --floor               # no solver program: runtime, game, state

Prints the process's resident memory (now, and the peak so far) after each
phase, and the compiled chunk's XLA `memory_analysis()`. The chunk is
compiled before the state exists, as `Solver.compile` (which the launcher
and bench/holdem.py call) does; `--state_first` shows the other order.
`--no_trim` turns off `cfr_jax.heap`'s trim after long compilations, to show
what it returns (bench/RESULTS.md, "Compilation leftovers returned before the
first run").
Linux only (/proc). No peer runs here: this splits our own footprint.
"""
import argparse
import os
import resource
import sys
import time

import jax

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # this checkout's cfr_jax, not an installed one

import cfr_jax  # pylint: disable=g-import-not-at-top,wrong-import-position
from cfr_jax import heap  # pylint: disable=g-import-not-at-top,wrong-import-position
from cfr_jax.cli import train  # pylint: disable=g-import-not-at-top,wrong-import-position
from cfr_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def _mb() -> str:
  with open('/proc/self/statm') as f:
    now = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
  return f'RSS {now:,.0f} MB (peak {peak:,.0f} MB)'


def _allocate(solver):
  state = jax.block_until_ready(solver.init())
  print(f'state {sum(x.nbytes for x in jax.tree.leaves(state)) / 2**20:,.0f} MB; {_mb()}',
        flush=True)
  return state


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='holdem_flop', help='a holdem_* config name')
  parser.add_argument('--no_trim', action='store_true', help='no heap trim after compiling')
  parser.add_argument('--storage', default=None, help='bfloat16: 16-bit state')
  parser.add_argument('--subtrees', type=int, default=None,
                      help='cards per batch of the split passes (default: automatic; 0: off)')
  parser.add_argument('--state_first', action='store_true',
                      help='allocate the state before compiling (the order before Solver.compile)')
  parser.add_argument('--floor', action='store_true',
                      help="compile none of the solver's programs: the imported runtime, the "
                      'game and the state '
                      '(the memory no compiled program can give back)')
  args = parser.parse_args()
  if args.no_trim:
    heap.MIN_COMPILE_SECONDS = float('inf')
  heap.release_free_memory()
  print(f'imported (JAX, Orbax, cfr_jax); {_mb()}', flush=True)
  began = time.perf_counter()
  config, _ = train.load_config(args.config)
  game = config_lib._load_game(config)  # pylint: disable=protected-access
  print(f'{args.config}: built in {time.perf_counter() - began:.1f} s; {_mb()}', flush=True)
  solver = cfr_jax.make_solver(game, config.algorithm, subtrees=args.subtrees,
                               storage=args.storage)
  state = solver.abstract_state()
  if args.floor:
    state = solver._zeros()  # pylint: disable=protected-access  # not the jitted init
    heap.release_free_memory()
    print(f'state {sum(x.nbytes for x in jax.tree.leaves(state)) / 2**20:,.0f} MB, no solver '
          f'program compiled; {_mb()}', flush=True)
    print(f'Command: `{" ".join(["python bench/memory_phases.py"] + sys.argv[1:])}`', flush=True)
    return
  if args.state_first:  # the order before `Solver.compile`: the state, then the program
    state = _allocate(solver)
  began = time.perf_counter()
  # From the state's shapes (unless --state_first), as the launcher and
  # bench/holdem.py do; `solver.run` then finds the program in JAX's caches.
  compiled = solver.compile(state)  # the run chunk (and the exploitability program)
  print(f'compiled in {time.perf_counter() - began:.1f} s (trims so far {heap.trims()}); '
        f'{_mb()}', flush=True)
  m = compiled.memory_analysis()
  # `memory_analysis()` leaves ~0.3 GB of freed objects in the C heap on the
  # flop config (Solver.compile does not call it): returned before going on.
  del compiled  # the jitted function's caches keep what runs need
  heap.release_free_memory()
  print(f'XLA memory analysis: temporaries {m.temp_size_in_bytes / 2**20:,.0f} MB, arguments '
        f'{m.argument_size_in_bytes / 2**20:,.0f} MB; {_mb()}', flush=True)
  if not args.state_first:
    state = _allocate(solver)
  for k in (1, 2, 3):
    # Through `Solver.run`, as training runs it: the program compiled above
    # is found in JAX's caches, and its traces are dropped after the call.
    began = time.perf_counter()
    state = jax.block_until_ready(solver.run(state, 1))
    print(f'iteration {k} in {time.perf_counter() - began:.1f} s; {_mb()}', flush=True)
  print(f'Command: `{" ".join(["python bench/memory_phases.py"] + sys.argv[1:])}`', flush=True)


if __name__ == '__main__':
  main()
