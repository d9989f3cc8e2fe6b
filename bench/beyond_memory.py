r"""A game that does not fit full-width: Deep CFR on liar's dice with 2 dice each.

    python bench/beyond_memory.py --minutes=30 --workdir=/tmp/beyond_memory \
        --out=bench/beyond_memory.md
    python bench/beyond_memory.py --minutes=3 --workdir=/tmp/beyond_memory_smoke

Liar's dice with 2 dice per player and 6 sides has about 1e10 histories: no
compiled tree, no exact exploitability. This runs the launcher as users do
(`python -m launch.train --config=configs/liars_dice_2x2_deep_cfr.py`, a real
process) for --minutes of training, with a checkpoint every --minutes / 10;
sends it SIGTERM when --interrupt_at of the budget is spent, checks that it
exits "resumable" (75), runs the same command again to finish the budget, and
then plays every saved checkpoint's average policy (and the untrained one)
head to head against the first checkpoint's and against the uniform policy:
--eval_games games each, both seats, the same deals for every row (one key),
reporting the mean payoff per game (+1 win, -1 loss) with its standard error,
and the win rate. Rising numbers down the table are the progress a game that
does not compile can show.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO]

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import ml_collections  # pylint: disable=g-import-not-at-top,wrong-import-position

from cfr_jax import checkpoint as checkpoint_lib  # pylint: disable=wrong-import-position
from cfr_jax import envs  # pylint: disable=wrong-import-position
from cfr_jax.training.config import (  # pylint: disable=wrong-import-position
    EXIT_COMPLETE, EXIT_INTERRUPTED, build_solver)

CONFIG = 'configs/liars_dice_2x2_deep_cfr.py'


def _launch(args, log):
  cmd = [sys.executable, '-m', 'launch.train', f'--config={CONFIG}',
         f'--workdir={args.workdir}', f'--config.time_budget_minutes={args.minutes}',
         '--config.max_iterations=1000000', '--config.chunk_iterations=1000000',
         f'--config.chunk_minutes={args.minutes / 10}', '--config.keep_checkpoints=1000',
         *args.flags]
  print('$ ' + ' '.join(cmd[1:]), flush=True)
  return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                          env={**os.environ, 'PYTHONUNBUFFERED': '1'})


def _progress(workdir):
  try:
    with open(os.path.join(workdir, 'progress.json')) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def train(args) -> None:
  """The launcher, interrupted by SIGTERM at --interrupt_at, then resumed."""
  log = open(os.path.join(args.workdir, 'bench_launcher.log'), 'a')
  proc = _launch(args, log)
  stop_at = args.interrupt_at * args.minutes * 60
  while proc.poll() is None:
    p = _progress(args.workdir)
    if p and p.get('status') == 'running' and p['elapsed_seconds'] >= stop_at:
      print(f'SIGTERM at {p["elapsed_seconds"]:.0f} s of training, iteration '
            f'{p["iteration"]}', flush=True)
      proc.send_signal(signal.SIGTERM)
      break
    time.sleep(0.5)
  code = proc.wait()
  if code != EXIT_INTERRUPTED:
    raise SystemExit(f'the launcher exited {code}, not {EXIT_INTERRUPTED} (interrupted, '
                     f'resumable): see {log.name}')
  p = _progress(args.workdir)
  print(f'exited {code} (resumable) at iteration {p["iteration"]}; resuming', flush=True)
  proc = _launch(args, log)
  code = proc.wait()
  if code != EXIT_COMPLETE:
    raise SystemExit(f'the resumed launcher exited {code}: see {log.name}')
  p = _progress(args.workdir)
  print(f'completed: iteration {p["iteration"]}, {p["elapsed_seconds"]:.0f} s of training, '
        f'restored from {p["restored_from"]}', flush=True)


def evaluate(args) -> str:
  """Every checkpoint against the first one and against uniform: a markdown table."""
  with open(os.path.join(args.workdir, 'config.json')) as f:
    config = ml_collections.ConfigDict(json.load(f))
  solver = build_solver(config)
  env = solver.env
  elapsed = {}  # iteration -> training seconds when its chunk ended
  with open(os.path.join(args.workdir, 'metrics.jsonl')) as f:
    for line in f:
      m = json.loads(line)
      if 'chunk' in m:
        elapsed[m['iteration']] = m['elapsed_seconds']
  directory = os.path.join(args.workdir, 'checkpoints')
  steps = sorted(int(n) for n in os.listdir(directory) if n.isdigit())
  fingerprint = checkpoint_lib.make_fingerprint(**solver.describe())
  key = jax.random.PRNGKey(args.seed)
  rows, first = [], None
  with checkpoint_lib.CheckpointStore(directory, fingerprint=fingerprint,
                                      max_to_keep=None) as store:
    untrained = solver.init()
    policies = [(0, 0.0, solver.policy(untrained))]
    for step in steps:
      state = store.load(os.path.join(directory, str(step)), solver.abstract_state())
      policies.append((step, elapsed.get(step), solver.policy(state)))
    first = policies[1][2] if len(policies) > 1 else policies[0][2]
    for step, seconds, policy in policies:
      vs_first = envs.head_to_head(env, policy, first, key, args.eval_games)
      vs_uniform = envs.head_to_head(env, policy, envs.UNIFORM, key, args.eval_games)
      rows.append((step, seconds, vs_first, vs_uniform))
      print(f'iteration {step}: vs first {vs_first[0]:+.4f} +- {vs_first[1]:.4f}, '
            f'vs uniform {vs_uniform[0]:+.4f} +- {vs_uniform[1]:.4f}', flush=True)
  d = solver.describe()
  lines = [
      f"Deep CFR on {d['game']} (generative env; about 1e10 histories, never compiled), "
      f'{args.minutes} minutes of training on {jax.devices()[0].device_kind} '
      f'({os.cpu_count()} CPUs), SIGTERM at {args.interrupt_at:.0%} of the budget and '
      f"resumed; first checkpoint: iteration {steps[0] if steps else '-'}; "
      f'{args.eval_games:,} games per cell (both seats, common deals); mean payoff per game '
      '(+1 win, -1 loss) +- standard error; win rate = (1 + mean) / 2.',
      '',
      '| training time (s) | iteration | vs first checkpoint | win rate | vs uniform | win rate |',
      '|---:|---:|---:|---:|---:|---:|']
  for step, seconds, (m1, s1), (m2, s2) in rows:
    t = '0 (untrained)' if step == 0 else ('-' if seconds is None else f'{seconds:.0f}')
    lines.append(f'| {t} | {step} | {m1:+.4f} +- {s1:.4f} | {(1 + m1) / 2:.1%} | '
                 f'{m2:+.4f} +- {s2:.4f} | {(1 + m2) / 2:.1%} |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--minutes', type=float, default=30.0, help='training wall time')
  parser.add_argument('--workdir', default='/tmp/beyond_memory')
  parser.add_argument('--interrupt_at', type=float, default=0.5,
                      help='SIGTERM when this fraction of the budget is spent')
  parser.add_argument('--eval_games', type=int, default=20_000)
  parser.add_argument('--seed', type=int, default=0, help='the evaluation games\' key')
  parser.add_argument('--keep', action='store_true',
                      help='continue the run in --workdir instead of starting afresh')
  parser.add_argument('--evaluate_only', action='store_true',
                      help='only play the checkpoints already in --workdir')
  parser.add_argument('--out', default='', help='also write the table to this file')
  # Any other --config.<field>=<value> goes to the launcher (e.g. --config.traversals=1024).
  args, args.flags = parser.parse_known_args()
  bad = [f for f in args.flags if not f.startswith('--config.')]
  if bad:
    parser.error(f'unknown arguments {bad} (launcher flags are --config.<field>=<value>)')
  if not 0 < args.interrupt_at < 1:
    parser.error('--interrupt_at must be in (0, 1)')
  if args.eval_games < 2 or args.eval_games % 2:
    parser.error('--eval_games must be an even number >= 2')
  args.workdir = os.path.abspath(args.workdir)
  if not args.evaluate_only:
    if not args.keep and os.path.exists(args.workdir):
      shutil.rmtree(args.workdir)
    os.makedirs(args.workdir, exist_ok=True)
    began = time.monotonic()
    train(args)
    print(f'training and start-up took {time.monotonic() - began:.0f} s of wall time',
          flush=True)
  table = evaluate(args)
  print(table)
  if args.out:
    with open(args.out, 'w') as f:
      f.write(table + '\n')


if __name__ == '__main__':
  main()
