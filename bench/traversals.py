r"""Traversals per second of the sampled and neural solvers (issue 12's GPU
measure; it runs on any backend).

    python bench/traversals.py                      # the default entries, 10 s each
    python bench/traversals.py --seconds=3 --entry='es-mccfr|leduc|batch_size=1024'
    python bench/traversals.py --devices=2          # CPU: batches split over 2 devices
    python bench/traversals.py --out=bench/RESULTS.md --label='traversals, gpu'

An entry is `ALGORITHM|GAME|k=v,k=v`: a `make_solver` call (GAME through
`load_game`, or `load_env` for 'env:...'). Each entry compiles (its first
iteration, timed apart), then runs chunks of iterations, doubled until one
lasts at least --seconds / 10, for --seconds in all; the table gives the
median seconds per iteration over those chunks and the traversals per player
per second that makes (a traversal is one sampled trajectory of one player:
ES-/OS-MCCFR's batch_size, Deep CFR's `traversals`, per player and
iteration). A Deep CFR iteration also trains its networks, so each Deep CFR
entry is measured twice: with its settings ("iteration") and with one Adam
step per network and none for the policy ("sampling": the traversals and
memory inserts alone). Peak device memory is `memory_stats()` where the
backend reports it (GPUs; JAX resets nothing between entries, so it is the peak
so far), and the process's peak RSS so far otherwise.
"""
from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import sys
import time


# Host devices must exist before JAX starts: --devices is read here too.
_DEVICES_ARG = [a.split('=', 1)[1] for a in sys.argv if a.startswith('--devices=')]
if _DEVICES_ARG and int(_DEVICES_ARG[-1]) > 1:
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             f' --xla_force_host_platform_device_count={_DEVICES_ARG[-1]}')
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, 'bench')]  # this checkout's cfr_jax
import cfr_jax  # pylint: disable=g-import-not-at-top,wrong-import-position
from cfr_jax import envs  # pylint: disable=g-import-not-at-top,wrong-import-position
import speed  # pylint: disable=g-import-not-at-top,wrong-import-position

DEFAULT_ENTRIES = (
    'es-mccfr|leduc|batch_size=1024',
    'es-mccfr|leduc|batch_size=16384',
    'os-mccfr|leduc|batch_size=4096',
    'deep-cfr|leduc|',
    'deep-cfr|env:liars_dice(dice=2,sides=6)|hidden=128:128,traversals=2048,'
    'advantage_steps=300,batch_size=512,advantage_memory=200000,policy_memory=400000',
)


def _parse(entry: str) -> tuple:
  """'algo|game|k=v,k=v' -> (algo, game, kwargs)."""
  parts = entry.split('|')
  if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
    raise SystemExit(f'traversals.py: entry {entry!r}: expected ALGORITHM|GAME|k=v,k=v')
  kwargs = {}
  for item in filter(None, (parts[2] if len(parts) == 3 else '').split(',')):
    k, _, v = item.partition('=')
    if k == 'hidden':
      kwargs[k] = tuple(int(h) for h in v.split(':'))
    else:
      try:
        kwargs[k] = int(v)
      except ValueError:
        kwargs[k] = float(v)
  return parts[0].strip(), parts[1].strip(), kwargs


def _peak_memory() -> str:
  """The default device's peak bytes in use, else this process's peak RSS."""
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    return f"{stats['peak_bytes_in_use'] / 2**20:,.0f} MiB (device)"
  return f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB (RSS)'


def _time(solver, seconds: float) -> tuple:
  """(compile s, median s per iteration, iterations timed)."""
  began = time.perf_counter()
  state = jax.block_until_ready(solver.run(solver.init(), 1))
  compile_s = time.perf_counter() - began
  per, n, spent, done = [], 1, 0.0, 0
  while spent < seconds:
    began = time.perf_counter()
    state = jax.block_until_ready(solver.run(state, n))
    took = time.perf_counter() - began
    spent += took
    done += n
    if took < seconds / 10 and not per:
      n *= 2  # still sizing the chunk: not kept
      continue
    per.append(took / n)
  return compile_s, statistics.median(per), done


def _measure(algo: str, game_spec: str, kwargs: dict, mesh, seconds: float) -> list:
  """Table rows for one entry."""
  game = (envs.load_env(game_spec) if game_spec.startswith('env:')
          else cfr_jax.load_game(game_spec))
  settings = ', '.join(f'{k}={v}' for k, v in kwargs.items()) or 'defaults'
  runs = [('iteration', kwargs)]
  if algo == 'deep-cfr':
    runs.append(('sampling', {**kwargs, 'advantage_steps': 1, 'policy_steps': 0}))
  rows = []
  for what, given in runs:
    solver = cfr_jax.make_solver(game, algo, mesh=mesh, **given)
    per_player = given.get('traversals', solver.hyperparameters['traversals']) \
        if algo == 'deep-cfr' else solver.batch_size
    compile_s, per_iteration, done = _time(solver, seconds)
    rows.append(f'| {algo} | {game_spec} | {settings} | {what} | {compile_s:.1f} | '
                f'{per_iteration * 1e3:,.2f} | {done:,} | {per_player / per_iteration:,.0f} | '
                f'{_peak_memory()} |')
    print(rows[-1], flush=True)
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--entry', action='append', default=None,
                      help='ALGORITHM|GAME|k=v,k=v (repeat for more; hidden as 128:128); '
                      'default: the entries of DEFAULT_ENTRIES')
  parser.add_argument('--seconds', type=float, default=10.0,
                      help='timed seconds per entry (compile apart)')
  parser.add_argument('--devices', type=int, default=1,
                      help='devices each batch is split over (a mesh); on CPU that many '
                      'host devices are made')
  parser.add_argument('--out', default=None, help='markdown file to write the section into')
  parser.add_argument('--label', default=None,
                      help="section label (default 'traversals, <backend>')")
  args = parser.parse_args()
  entries = [_parse(e) for e in (args.entry or DEFAULT_ENTRIES)]
  if not 1 <= args.devices <= len(jax.devices()):
    raise SystemExit(f'traversals.py: --devices={args.devices}: {len(jax.devices())} available')
  mesh = cfr_jax.make_mesh(args.devices) if args.devices > 1 else None
  info = speed.machine()
  header = ('| algorithm | game | settings | measured | compile s | ms per iteration | '
            'iterations timed | traversals per player per s | peak memory |\n'
            '|---|---|---|---|---|---|---|---|---|')
  print(header, flush=True)
  rows = []
  for algo, game_spec, kwargs in entries:
    rows += _measure(algo, game_spec, kwargs, mesh, args.seconds)
  command = shlex.join(['python', 'bench/traversals.py'] + [
      a for a in sys.argv[1:] if not a.startswith(('--out=', '--label='))])
  body = (f"Machine: {info['cpu']}, {info['cores']} cores; JAX {info['jax']} on "
          f"{info['device']} (x{info['devices']}), {args.devices} device(s) used; "
          f"{info['date']}.\nCommand: `{command}`.\n\n" + header + '\n' +
          '\n'.join(rows) + '\n')
  if args.out:
    label = args.label or f"traversals, {info['backend']}"
    speed.write_section(args.out, label, body)
    print(f'wrote section {label!r} to {args.out}')


if __name__ == '__main__':
  main()
