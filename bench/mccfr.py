"""Wall time to an exploitability target: our ES-MCCFR against OpenSpiel's
C++ external-sampling MCCFR (pyspiel.ExternalSamplingMCCFRSolver), same run,
same game (Leduc by default; any game both load, e.g. liar's dice).

    python bench/mccfr.py                         # Leduc, targets 5e-2 and 1e-2, 300 s cap each
    python bench/mccfr.py --batch_size=512 --time_limit=120
    python bench/mccfr.py --game=liars_dice --targets=5e-2   # 1 die each, 6 sides
    python bench/mccfr.py --devices=2     # ours split over two CPU devices (one per core)
    python bench/mccfr.py --devices=2 --targets=1e-2 --seeds=3 --growth=1.1 --time_limit=600

Both solvers are evaluated exactly (ours: cfr_jax.exploitability; OpenSpiel:
pyspiel.exploitability on its average policy) at traversal counts growing
geometrically (x1.25, --growth), and the clock counts solving only, not
evaluation; a target's time is that of the first evaluation at or below it
(so it over-states both sides by up to 25%, or --growth). With --seeds=N
both run N seeds and a last table gives the medians. Our compile time is reported apart.
With --devices=N (CPU), N simulated host devices are made before JAX starts
and each runs batch_size / N of our trajectories per iteration, one device
per core (OpenSpiel's solver is one C++ thread).
One traversal = one trajectory of one player; an OpenSpiel iteration is one
traversal per player, ours `batch_size` per player. Single runs on a shared
machine are noisy: read ratios, not digits.
"""
from __future__ import annotations

import os
import platform
import sys
import time

from absl import app
from absl import flags

# Host devices must exist before JAX starts: --devices is read here too.
_DEVICES_ARG = [a.split('=', 1)[1] for a in sys.argv if a.startswith('--devices=')]
if _DEVICES_ARG and int(_DEVICES_ARG[-1]) > 1:
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             f' --xla_force_host_platform_device_count={_DEVICES_ARG[-1]}')
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # this checkout's cfr_jax, not an installed one
import cfr_jax  # pylint: disable=g-import-not-at-top,wrong-import-position

_BATCH = flags.DEFINE_integer('batch_size', 1024, 'our trajectories per player per iteration')
_WEIGHTING = flags.DEFINE_string('weighting', 'linear', 'uniform, linear or discounted')
_TARGETS = flags.DEFINE_list('targets', ['5e-2', '1e-2'], 'exploitability targets')
_LIMIT = flags.DEFINE_float('time_limit', 300.0, 'seconds of solving per solver, at most')
_SEED = flags.DEFINE_integer('seed', 0, 'seed of both solvers (the first, with --seeds)')
_SEEDS = flags.DEFINE_integer('seeds', 1, 'runs, seeds seed, seed + 1, ...; a median table '
                              'follows the per-seed ones')
_PEER = flags.DEFINE_bool('peer', True, "race OpenSpiel's solver (--nopeer: ours alone, e.g. "
                          'to compare our settings against a recorded OpenSpiel run)')
_GROWTH = flags.DEFINE_float('growth', 1.25, 'evaluations every x this many traversals')
_DEVICES = flags.DEFINE_integer('devices', 1, 'devices our batches are split over (CPU: '
                                'simulated host devices, one per core)')
_GAME = flags.DEFINE_string('game', 'leduc_poker',
                            'an OpenSpiel game name, solved by both (ours compiles it)')


def _race(step, evaluate, first: int, targets, limit: float) -> tuple:
  """{target: (seconds, traversals per player)} reached, and the last
  (traversals, exploitability, seconds). `step(n)` runs n more units (each a
  known number of traversals); `evaluate()` -> exploitability."""
  reached, done, solve, checkpoint = {}, 0, 0.0, first
  value = None
  while solve < limit and len(reached) < len(targets):
    began = time.perf_counter()
    step(checkpoint - done)
    solve += time.perf_counter() - began
    done = checkpoint
    value = evaluate()
    for t in targets:
      if t not in reached and value <= t:
        reached[t] = (solve, done)
    checkpoint = max(done + 1, int(done * _GROWTH.value))
  return reached, (done, value, solve)


def _median(times: list) -> tuple:
  """(median seconds, whether it is only a lower bound) of per-seed
  (seconds, reached) pairs; a seed that did not reach counts as its budget
  spent, a lower bound larger than every time that did reach."""
  ranked = sorted(times, key=lambda x: (not x[1], x[0]))
  return ranked[(len(ranked) - 1) // 2]


def main(argv):
  del argv
  import pyspiel  # pylint: disable=g-import-not-at-top
  targets = sorted((float(t) for t in _TARGETS.value), reverse=True)
  batch, limit = _BATCH.value, _LIMIT.value

  print(f'cfr_jax from {os.path.dirname(cfr_jax.__file__)}', flush=True)
  game = cfr_jax.load_game('leduc' if _GAME.value == 'leduc_poker'
                           else f'openspiel:{_GAME.value}')
  mesh = cfr_jax.make_mesh(_DEVICES.value) if _DEVICES.value > 1 else None
  os_game = pyspiel.load_game(_GAME.value)
  summary = {t: ([], []) for t in targets}  # per target: ours, OpenSpiel (s, reached)
  for seed in range(_SEED.value, _SEED.value + _SEEDS.value):
    solver = cfr_jax.make_solver(game, 'es-mccfr', batch_size=batch, mesh=mesh,
                                 weighting=_WEIGHTING.value, seed=seed)
    began = time.perf_counter()
    jax.block_until_ready(solver.run(solver.init(), 1))
    compile_s = time.perf_counter() - began
    state = [solver.init()]

    def ours_step(n, solver=solver, state=state):
      state[0] = solver.run(state[0], n)
      jax.block_until_ready(state[0])
    ours, ours_last = _race(
        ours_step,
        lambda solver=solver, state=state: cfr_jax.exploitability(
            game, solver.average_policy(state[0])),
        first=16, targets=targets, limit=limit)

    os_solver = pyspiel.ExternalSamplingMCCFRSolver(os_game, seed=seed,
                                                    avg_type=pyspiel.MCCFRAverageType.SIMPLE)

    def os_step(n, os_solver=os_solver):
      for _ in range(n):
        os_solver.run_iteration()
    peer, peer_last = {}, (0, float('nan'), float('nan'))
    if _PEER.value:
      peer, peer_last = _race(
          os_step, lambda os_solver=os_solver: pyspiel.exploitability(
              os_game, os_solver.average_policy()),
          first=16 * batch, targets=targets, limit=limit)

    print(f'# ES-MCCFR on {_GAME.value} ({game.num_infosets:,} infosets): time to '
          f'exploitability (NashConv/2), {platform.machine()} {jax.default_backend()}, '
          f'jax {jax.__version__}; ours: batch {batch}, weighting {_WEIGHTING.value}, '
          f'seed {seed}, devices {_DEVICES.value}, compile {compile_s:.1f} s (not counted); '
          f'evaluations every x{_GROWTH.value:g} traversals')
    print('| target | ours s | ours traversals/player | OpenSpiel C++ s | OpenSpiel '
          'traversals/player | OpenSpiel s / ours s |')
    print('|---|---|---|---|---|---|')
    for t in targets:
      o = ours.get(t)
      p = peer.get(t)
      cell = lambda r, last, per: (f'{r[0]:.2f} | {r[1] * per:,}' if r else
                                   '- | -' if last[2] != last[2] else  # not run
                                   f'> {last[2]:.0f} (not reached) | -')
      ratio = f'{p[0] / o[0]:.1f}x' if o and p else (f'> {peer_last[2] / o[0]:.1f}x'
                                                     if o and _PEER.value else '-')
      print(f'| {t:g} | {cell(o, ours_last, batch)} | {cell(p, peer_last, 1)} | {ratio} |')
      summary[t][0].append((o[0], True) if o else (ours_last[2], False))
      summary[t][1].append((p[0], True) if p else (peer_last[2], False))
    rate = lambda last, per: last[0] * per / last[2]
    print(f'\nthroughput: ours {rate(ours_last, batch):,.0f} traversals/player/s '
          f'(last {ours_last[1]:.2e} at {ours_last[0] * batch:,}); OpenSpiel '
          f'{rate(peer_last, 1):,.0f} (last {peer_last[1]:.2e} at {peer_last[0]:,})\n',
          flush=True)
  if _SEEDS.value > 1:
    show = lambda m: ('-' if m[0] != m[0] else  # nan: OpenSpiel not run (--nopeer)
                      f'{"> " if not m[1] else ""}{m[0]:.2f}')
    print(f'# median over {_SEEDS.value} seeds ({_SEED.value}..'
          f'{_SEED.value + _SEEDS.value - 1}); "> x": not reached by the median seed in x s')
    print('| target | ours s (median) | ours s (each seed) | OpenSpiel C++ s (median) | '
          'OpenSpiel s (each seed) | OpenSpiel s / ours s |')
    print('|---|---|---|---|---|---|')
    for t in targets:
      o, p = (_median(x) for x in summary[t])
      each = lambda xs: ', '.join(show(x) for x in xs)
      ratio = ('-' if not (o[1] and _PEER.value) else
               f'{"> " if not p[1] else ""}{p[0] / o[0]:.1f}x')
      print(f'| {t:g} | {show(o)} | {each(summary[t][0])} | {show(p)} | '
            f'{each(summary[t][1])} | {ratio} |')


if __name__ == '__main__':
  app.run(main)
