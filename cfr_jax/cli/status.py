"""One table row per run or instance, read from their progress.json files.

    cfr-status runs/             (or python -m launch.status runs/)
"""
import json
import os
import sys

from absl import app

from cfr_jax.training.outputs import _duration, rate_text  # pylint: disable=protected-access


def find_progress_files(roots):
  for root in roots:
    if os.path.isfile(root):
      yield root
      continue
    for dirpath, dirnames, filenames in os.walk(root):
      dirnames[:] = sorted(d for d in dirnames if d not in ('checkpoints', 'tensorboard'))
      if 'progress.json' in filenames:
        yield os.path.join(dirpath, 'progress.json')


def _alive(pid) -> bool:
  try:
    os.kill(int(pid), 0)
    return True
  except (OSError, TypeError, ValueError):
    return False


def row(path: str) -> list[str]:
  try:
    with open(path) as f:
      p = json.load(f)
  except (OSError, ValueError) as e:
    return [os.path.dirname(path), f'unreadable ({e.__class__.__name__})'] + [''] * 5
  status = p.get('status', '?')
  if status == 'running' and not _alive(p.get('pid')):
    status = 'dead'  # killed without a chance to say so; rerun to resume
  expl = p.get('exploitability')
  score = '-' if expl is None else f'{expl:.3e}'
  if p.get('evaluation'):  # a game that does not compile: head-to-head against uniform
    score = f'vs uniform {p["evaluation"]["vs_uniform"]:+.3f}'
  rate = p.get('iterations_per_second')
  return [os.path.dirname(path), status, f'{p.get("iteration", 0)}/{p.get("max_iterations", "?")}',
          rate_text(rate), score,
          _duration(p.get('eta_seconds')) if status == 'running' else '-',
          p.get('updated_at', '')]


def _main(argv):
  roots = argv[1:] or ['runs']
  rows = [row(p) for p in find_progress_files(roots)]
  if not rows:
    print(f'no progress.json under {" ".join(roots)}', file=sys.stderr)
    return 1
  header = ['run', 'status', 'iteration', 'speed', 'exploitability', 'ETA', 'updated']
  widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
  for r in [header] + rows:
    print('  '.join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
  return 0


def main() -> None:
  """The `cfr-status` console script."""
  app.run(_main)


if __name__ == '__main__':
  main()
