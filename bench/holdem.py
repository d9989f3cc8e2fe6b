r"""Hold'em subgames: time and memory to reach 0.5%, 0.3% and 0.1% of the pot.

    python bench/holdem.py                            # river and turn, ~3 min on 2 CPU cores
    python bench/holdem.py --configs=river,turn,flop  # the flop needs a big machine
    python bench/holdem.py --out=bench/RESULTS.md
    python bench/holdem.py --configs=turn --algorithm=postflop_dcfr   # any solver name
    python bench/holdem.py --configs=turn --rake=0.05,3   # 5% rake capped at 3 chips

For each config (configs/holdem_<name>.py, as the launcher would build it):
DCFR (or --algorithm: any name `make_solver` takes) in float32 runs in
chunks of --eval_every iterations; after each chunk the exact exploitability
(in chips; against the unabstracted game when the config buckets hands) is
measured outside the clock. "time" is the solving time alone (compilation
excluded, reported apart); memory is the solver state, the compiled game's
arrays, the process's peak RSS and, on an accelerator, the device's peak
bytes in use.

No peer runs in this script: no installable package solves range-versus-range
hold'em subgames (OpenSpiel has no such solver). The flop config is
postflop-solver's `examples/basic.rs` spot (Td9d6h, pot 200, stack 900; our
own bet tree), not Desktop Postflop's benchmark preset, whose ranges and
later-street sizes are not published. The reference is Desktop Postflop's
latest published time on 16 threads, for a spot of similar size: 0.5% of the
pot in 12.6 s (docs/design.md quotes 13.9 s in 1.22 GB), quoted, not re-run.
"""
import argparse
import math
import os
import resource
import shlex
import sys
import time

import jax
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, 'bench')]

import cfr_jax  # pylint: disable=g-import-not-at-top,wrong-import-position
from cfr_jax import regret  # pylint: disable=g-import-not-at-top,wrong-import-position
from cfr_jax import training  # pylint: disable=g-import-not-at-top,wrong-import-position
import speed  # pylint: disable=g-import-not-at-top,wrong-import-position


def _config(name: str):
  module = __import__(f'configs.holdem_{name}', fromlist=['get_config'])
  return module.get_config()


def _bytes(tree) -> int:
  return sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(tree)
             if hasattr(x, 'dtype'))


def _device_peak():
  stats = jax.devices()[0].memory_stats() or {}
  return stats.get('peak_bytes_in_use')


def bench(name: str, targets, eval_every: int, max_seconds: float, max_iterations: int,
          storage=None, subtrees=None, algorithm='dcfr', rake=None):
  config = _config(name)
  if rake:  # (rate, cap in chips; 0: no cap), as --config.holdem.rake_rate/rake_cap
    config.holdem.rake_rate, config.holdem.rake_cap = rake
  pot = float(config.holdem.pot)
  start = time.perf_counter()
  game = training._load_game(config)  # pylint: disable=protected-access
  build_s = time.perf_counter() - start
  solver = cfr_jax.make_solver(game, algorithm, storage=storage, subtrees=subtrees)
  start = time.perf_counter()
  solver.compile()  # before the state exists, as the launcher does: less peak memory
  # A first call of no iterations, as the launcher makes: its one-time work
  # (JAX's dispatch caches, the traces dropped) is start-up, not solving.
  state = jax.block_until_ready(solver.run(solver.init(), 0))
  compile_s = time.perf_counter() - start
  solve_s, reached, trace = 0.0, {}, []
  if eval_every <= 0:  # speed and memory only: exploitability needs another big pass
    start = time.perf_counter()
    state = jax.block_until_ready(solver.run(state, max_iterations))
    solve_s = time.perf_counter() - start
    trace.append((int(state.iteration), solve_s, float('nan')))
    targets = []
  print(f'{name}: {game.name}, {game.num_decisions:,} decision nodes x {game.num_hands} hands '
        f'({game.num_buckets} buckets), built in {build_s:.1f} s, compiled in {compile_s:.1f} s',
        flush=True)
  while len(reached) < len(targets):
    n = eval_every - int(state.iteration) % eval_every
    start = time.perf_counter()
    state = jax.block_until_ready(solver.run(state, n))
    solve_s += time.perf_counter() - start
    it = int(state.iteration)
    pct = 100 * solver.exploitability(state) / pot  # as training evaluates
    trace.append((it, solve_s, pct))
    print(f'  iteration {it:6,}: {pct:.3f}% of the pot after {solve_s:.1f} s', flush=True)
    for t in targets:
      if pct <= t and t not in reached:
        reached[t] = (it, solve_s)
    if solve_s > max_seconds or it >= max_iterations:
      break
  return {
      'name': name, 'game': game.name, 'decisions': game.num_decisions,
      'hands': game.num_hands, 'buckets': game.num_buckets, 'infosets': game.num_infosets,
      'build_s': build_s, 'compile_s': compile_s, 'reached': reached, 'trace': trace,
      'it_per_s': trace[-1][0] / trace[-1][1],  # every iteration, the first too
      'state_mb': _bytes(state) / 2**20, 'game_mb': _bytes(game) / 2**20,
      'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10,
      'device_peak_mb': (_device_peak() or 0) / 2**20 or None}


def table(results, targets) -> str:
  head = ('| config | decision nodes x hands (buckets) | infosets | build s | compile s | it/s | '
          + ' | '.join(f'{t}% pot: iterations, s' for t in targets)
          + ' | state MB | game MB | peak RSS MB | device peak MB |')
  lines = [head, '|' + '---|' * (head.count('|') - 1)]
  for r in results:
    last = r['trace'][-1]
    cells = [f"{r['reached'][t][0]:,}, {r['reached'][t][1]:.1f}" if t in r['reached']
             else 'not evaluated' if math.isnan(last[2])
             else f"not reached ({last[2]:.3f}% at {last[0]:,})" for t in targets]
    lines.append(
        f"| {r['name']}: {r['game']} | {r['decisions']:,} x {r['hands']} "
        f"({r['buckets'] if r['buckets'] != r['hands'] else 'none'}) | "
        f"{r['infosets']:,} | {r['build_s']:.1f} | {r['compile_s']:.1f} | {r['it_per_s']:.3g} | "
        + ' | '.join(cells) + f" | {r['state_mb']:.1f} | {r['game_mb']:.1f} | "
        f"{r['rss_mb']:.0f} | {r['device_peak_mb'] and round(r['device_peak_mb'])} |")
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--configs', default='river,turn')
  parser.add_argument('--targets', default='0.5,0.3,0.1', help='percent of the pot')
  parser.add_argument('--eval_every', type=int, default=10,
                      help='0: no exploitability, time --max_iterations')
  parser.add_argument('--max_seconds', type=float, default=600.0,
                      help='solving time per config before giving up on the targets')
  parser.add_argument('--max_iterations', type=int, default=5000)
  parser.add_argument('--storage', default=None, help="bfloat16: compact state")
  parser.add_argument('--algorithm', default='dcfr',
                      help='a solver name (cfr_jax.make_solver), e.g. postflop_dcfr')
  parser.add_argument('--subtrees', type=int, default=None,
                      help='cards per batch of split passes (default: automatic; 0: off)')
  parser.add_argument('--rake', default='',
                      help='rake_rate,rake_cap of every config (cap 0: none), e.g. 0.05,3')
  parser.add_argument('--out', default=None, help='write a section into this Markdown file')
  parser.add_argument('--label', default=None)
  args = parser.parse_args()
  try:
    targets = [float(t) for t in args.targets.split(',')]
  except ValueError:
    parser.error(f'--targets takes percents of the pot (e.g. 0.5,0.1), got {args.targets!r}')
  shipped = sorted(n[len('holdem_'):-3] for n in os.listdir(os.path.join(REPO, 'configs'))
                   if n.startswith('holdem_') and n.endswith('.py'))
  for name in args.configs.split(','):  # (a ModuleNotFoundError traceback)
    if name not in shipped:
      parser.error(f'--configs takes {", ".join(shipped)} (comma-separated), got {name!r}')
  try:
    rake = tuple(float(x) for x in args.rake.split(',')) if args.rake else None
    if rake is not None and len(rake) != 2:
      raise ValueError
  except ValueError:
    parser.error(f'--rake takes rate,cap (e.g. 0.05,3), got {args.rake!r}')
  try:  # a misspelt name fails here, not after a config's build
    regret.get_algorithm(args.algorithm)
  except ValueError as e:
    parser.error(str(e))
  load_at_start = os.getloadavg()[0] if hasattr(os, 'getloadavg') else None
  results = [bench(name, targets, args.eval_every, args.max_seconds, args.max_iterations,
                   args.storage, args.subtrees, args.algorithm, rake)
             for name in args.configs.split(',')]
  info = speed.machine()
  argv, command = sys.argv[1:], []
  while argv:  # the command as run, less where its report goes
    a = argv.pop(0)
    if a in ('--out', '--label'):
      argv[:1] = []
    elif not a.startswith(('--out=', '--label=')):
      command.append(shlex.quote(a))
  command = ' '.join(command)
  body = (f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']:.0f} GiB; "
          f"JAX {info['jax']} on {info['device']}; {info['date']}; load average at "
          f"start {load_at_start and round(load_at_start, 1)}, at the end "
          f"{info['load'] and round(info['load'][0], 1)}.\n"
          f"Command: `python bench/holdem.py {command}`. {args.algorithm}, float32 arithmetic, "
          "alternating updates.\n\n"
          + table(results, targets) + '\n')
  print(body)
  if args.out:
    label = args.label or f"holdem, {info['backend']}, {args.configs}" + (
        '' if args.algorithm == 'dcfr' else f', {args.algorithm}') + (  # not DCFR's section
            f', rake {args.rake}' if rake else '')
    speed.write_section(args.out, label, body)


if __name__ == '__main__':
  main()
