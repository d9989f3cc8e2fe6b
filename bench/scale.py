r"""Scale-out benchmarks: device count, vmapped instances, compact storage.

    python bench/scale.py                      # all sections, ~5 min on 2 CPU cores
    python bench/scale.py --sections=devices --game='leduc(ranks=6)' --devices=1,2,4,8
    python bench/scale.py --sections=devices --game=config:holdem_turn --iterations=20
    python bench/scale.py --out=bench/scale_results.md

Sections (each prints a Markdown table):

- **devices**: iterations/s of one solve with the state's infoset axis sharded
  over 1, 2, 4, 8 devices (a fresh subprocess with
  `--xla_force_host_platform_device_count` on CPU; the real devices on a
  GPU/TPU machine). Simulated CPU devices share the machine's cores, so on CPU
  this measures the overhead of partitioning and collectives, not a speed-up.
- **instances**: N instances (a DCFR alpha sweep) as one vmapped program
  (`Solver.run_many`) against N separate `Solver.run` calls, one after another.
- **memory**: bytes of solver state per infoset and per history, float32 and
  bfloat16 storage.
- **storage**: exploitability after 1,000 and 10,000 Leduc iterations with
  float32 and bfloat16 storage, per algorithm.

Timing: a warm-up call compiles; then the median of `--repeats` calls of
`--iterations` iterations each, blocking on the result.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _time(fn, repeats):
  fn()  # compile
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _devices_child(game_spec, devices, iterations, repeats):
  """Runs in a subprocess: it/s for each mesh size in `devices`."""
  import jax  # pylint: disable=g-import-not-at-top
  import cfr_jax  # pylint: disable=g-import-not-at-top
  from cfr_jax.solver import make_mesh  # pylint: disable=g-import-not-at-top
  if game_spec.startswith('config:'):  # e.g. config:holdem_turn, a hold'em subgame config
    from cfr_jax import training  # pylint: disable=g-import-not-at-top
    module = __import__(f'configs.{game_spec[7:]}', fromlist=['get_config'])
    game = training._load_game(module.get_config())  # pylint: disable=protected-access
  else:
    game = cfr_jax.load_game(game_spec)
  rows = []
  for n in devices:
    solver = cfr_jax.make_solver(game, 'dcfr', mesh=None if n == 0 else make_mesh(n))

    def run():
      jax.block_until_ready(solver.run(solver.init(), iterations))
    seconds = _time(run, repeats)
    rows.append({'devices': n, 'it_per_s': iterations / seconds,
                 'platform': jax.devices()[0].platform,
                 'device_kind': jax.devices()[0].device_kind})
  print(json.dumps(rows))


def devices_section(args):
  counts = [int(x) for x in args.devices.split(',')]
  env = dict(os.environ)
  import jax  # pylint: disable=g-import-not-at-top
  on_cpu = jax.default_backend() == 'cpu'
  if on_cpu:
    env['XLA_FLAGS'] = (env.get('XLA_FLAGS', '') +
                        f' --xla_force_host_platform_device_count={max(counts)}')
  code = (f'import sys; sys.path.insert(0, {REPO!r}); sys.path.insert(0, {REPO + "/bench"!r});'
          f'import scale; scale._devices_child({args.game!r}, {[0] + counts!r}, '
          f'{args.iterations}, {args.repeats})')
  out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                       text=True, check=True).stdout
  rows = json.loads(out.strip().splitlines()[-1])
  base = rows[0]['it_per_s']
  lines = [f'### Throughput against device count: {args.game}, DCFR, float32 '
           f'({"simulated CPU devices, " + str(os.cpu_count()) + " cores" if on_cpu else rows[0]["device_kind"]})',
           '', '| devices | it/s | vs unsharded |', '|---|---|---|']
  for r in rows:
    label = 'unsharded' if r['devices'] == 0 else str(r['devices'])
    lines.append(f'| {label} | {r["it_per_s"]:,.0f} | {r["it_per_s"] / base:.2f} |')
  return '\n'.join(lines)


def instances_section(args):
  import jax  # pylint: disable=g-import-not-at-top
  import cfr_jax  # pylint: disable=g-import-not-at-top
  from cfr_jax import solver as solver_lib  # pylint: disable=g-import-not-at-top
  game = cfr_jax.load_game(args.game)
  lines = [f'### Vmapped instances: {args.game}, DCFR alpha sweep, float32, '
           f'{jax.devices()[0].device_kind}', '',
           '| instances | vmapped it/s (each) | instance-it/s | separate runs, instance-it/s | ratio |',
           '|---|---|---|---|---|']
  for count in [int(x) for x in args.instances.split(',')]:
    alphas = np.linspace(1.0, 2.5, count)
    solvers = [cfr_jax.make_solver(game, 'dcfr', alpha=a) for a in alphas]
    hp = {'alpha': alphas}

    def vmapped():
      states = solver_lib.stack_states([s.init() for s in solvers])
      jax.block_until_ready(solvers[0].run_many(states, args.iterations, hp))

    def separate():
      for s in solvers:
        jax.block_until_ready(s.run(s.init(), args.iterations))
    tv = _time(vmapped, args.repeats)
    ts = _time(separate, args.repeats)
    lines.append(f'| {count} | {args.iterations / tv:,.0f} | {count * args.iterations / tv:,.0f} '
                 f'| {count * args.iterations / ts:,.0f} | {ts / tv:.2f} |')
  return '\n'.join(lines)


def memory_section(args):
  del args
  import jax  # pylint: disable=g-import-not-at-top
  import cfr_jax  # pylint: disable=g-import-not-at-top
  lines = ['### State memory, float32 against bfloat16 storage', '',
           '| game | infosets | histories | float32 B/infoset | bfloat16 B/infoset '
           '| float32 B/history | bfloat16 B/history |', '|---|---|---|---|---|---|---|']
  for spec in ('leduc', 'leduc(ranks=6)'):
    game = cfr_jax.load_game(spec)
    sizes = []
    for storage in (None, 'bfloat16'):
      state = cfr_jax.make_solver(game, 'dcfr', storage=storage).init()
      sizes.append(sum(x.nbytes for x in jax.tree.leaves(state)))
    lines.append(f'| {spec} | {game.num_infosets:,} | {game.num_nodes:,} '
                 f'| {sizes[0] / game.num_infosets:.1f} | {sizes[1] / game.num_infosets:.1f} '
                 f'| {sizes[0] / game.num_nodes:.2f} | {sizes[1] / game.num_nodes:.2f} |')
  return '\n'.join(lines)


def storage_section(args):
  import cfr_jax  # pylint: disable=g-import-not-at-top
  game = cfr_jax.load_game('leduc')
  lines = ['### Exploitability with compact storage: Leduc, alternating updates', '',
           '| algorithm | storage | T=100 | T=1,000 | T=10,000 |', '|---|---|---|---|---|']
  for algorithm in args.algorithms.split(','):
    for storage in ('float32', 'bfloat16'):
      solver = cfr_jax.make_solver(game, algorithm,
                                   storage=None if storage == 'float32' else storage)
      state, done, cells = solver.init(), 0, []
      for target in (100, 1000, 10000):
        state = solver.run(state, target - done)
        done = target
        cells.append(f'{cfr_jax.exploitability(game, solver.average_policy(state)):.2e}')
      lines.append(f'| {algorithm} | {storage} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


SECTIONS = {'devices': devices_section, 'instances': instances_section,
            'memory': memory_section, 'storage': storage_section}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sections', default='devices,instances,memory,storage')
  parser.add_argument('--game', default='leduc',
                      help="a load_game spec, or config:<configs module> (hold'em subgames)")
  parser.add_argument('--devices', default='1,2,4,8')
  parser.add_argument('--instances', default='1,2,4,8,16')
  parser.add_argument('--algorithms', default='cfr,cfr+,dcfr,pcfr+')
  parser.add_argument('--iterations', type=int, default=200)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--out', default=None, help='also write the tables to this file')
  args = parser.parse_args()
  header = (f'## bench/scale.py ({time.strftime("%Y-%m-%d %H:%M")}, load average '
            f'{os.getloadavg()[0]:.1f}; `python bench/scale.py {" ".join(sys.argv[1:])}`)')
  parts = [header]
  for name in args.sections.split(','):
    parts.append(SECTIONS[name](args))
    print(parts[-1] + '\n', flush=True)
  if args.out:
    with open(args.out, 'w') as f:
      f.write('\n\n'.join(parts) + '\n')


if __name__ == '__main__':
  main()
