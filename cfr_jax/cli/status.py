"""One table row per run or instance, read from their progress.json files.

    cfr-status runs/             (or python -m launch.status runs/)
"""
import json
import math
import os
import socket
import sys

from cfr_jax import cli
from cfr_jax import processes
from cfr_jax.training.outputs import _duration, rate_text, score_text  # pylint: disable=protected-access


def find_progress_files(roots, missing=None):
  """The progress.json files under `roots` (a file is taken as one), each
  once however many roots hold it (`cfr-status runs runs/a` listed runs/a
  twice); roots with none are appended to `missing` when given."""
  seen = set()
  for root in roots:
    if os.path.isfile(root):
      if cli.first_time(root, seen):
        yield root
      continue
    found = False
    for dirpath, dirnames, filenames in os.walk(root):
      dirnames[:] = sorted(d for d in dirnames if d not in ('checkpoints', 'tensorboard'))
      if 'progress.json' in filenames:
        found = True
        path = os.path.join(dirpath, 'progress.json')
        if cli.first_time(path, seen):
          yield path
    if not found and missing is not None:
      missing.append(root)


def _other_host(workdir: str) -> str | None:
  """The host of the launcher that holds `workdir` (its .lock, as
  `training.lock` writes it: read here without importing JAX) when it is not
  this one: its pid means nothing here, and a run on a cluster node was 'dead'
  on the login node."""
  try:
    with open(os.path.join(workdir, '.lock')) as f:
      host = json.load(f).get('host')
  except (OSError, ValueError, AttributeError):
    return None
  return host if isinstance(host, str) and host and host != socket.gethostname() else None


_NUMBERS = ('iteration', 'max_iterations', 'exploitability', 'iterations_per_second',
            'eta_seconds', 'exploitability_pot_percent')


def _number_or_none(x, allow_none: bool = True) -> bool:
  """Whether x is a finite number (or None where allowed). Training writes no
  NaN or infinity (allow_nan=False): one is a hand edit or another program's
  file, and printed 'nan/?' as the iteration or a rate of 300 digits."""
  return (x is None and allow_none) or (isinstance(x, (int, float)) and not isinstance(x, bool)
                                        and math.isfinite(x))


def _saved(p: dict) -> str:
  """', saved N' where a stopped run's last checkpoint is behind its
  iteration: progress is written during a chunk, so a run SIGKILLed at
  90000 read 'dead 90000/300000' and resumed from 80000."""
  last = p.get('last_checkpoint')
  saved = last.get('iteration') if isinstance(last, dict) else None
  if not _number_or_none(saved, allow_none=False):
    return ', nothing saved' if p.get('iteration') else ''
  return f', saved {saved}' if saved != p.get('iteration') else ''


def row(path: str, read: dict | None = None) -> list[str]:
  """The table's row of progress file `path`. read: `cli.instance_label`'s
  configs read so far (one dict for a whole table)."""
  # A run is named by its workdir (an instance with what sets it apart:
  # 'runs/sweep/instance_1 (algorithm=dcfr)'); a file given by another name,
  # by itself.
  name = os.path.dirname(path) if os.path.basename(path) == 'progress.json' else path
  if name != path and (label := cli.instance_label(name, read)):
    name = f'{name} ({label})'
  try:
    with open(path) as f:
      p = json.load(f)
    if not isinstance(p, dict):
      raise ValueError('not a JSON object')
  except (OSError, ValueError) as e:
    return [name, f'unreadable ({e.__class__.__name__})'] + [''] * 5
  # A file given by another name that holds no progress (a run's config.json
  # was a row of a run at '?', iteration 0/20).
  if name == path and 'status' not in p and 'iteration' not in p:
    return [name, 'unreadable (no status or iteration: not a progress.json)'] + [''] * 5
  # A field of the wrong type (edited by hand, another program's file) made
  # the whole table a traceback: this row names it; the other rows print.
  bad = [k for k in _NUMBERS if not _number_or_none(p.get(k))]
  evaluation = p.get('evaluation')
  if evaluation and not (isinstance(evaluation, dict) and
                         _number_or_none(evaluation.get('vs_uniform'), allow_none=False)):
    bad.append('evaluation')
  if bad:
    return [name, f'unreadable ({", ".join(bad)}: not a finite number)'] + [''] * 5
  texts = [k for k in ('status', 'updated_at') if not isinstance(p.get(k, ''), str)]
  if texts:  # printed as Python's repr ("['x']", "{'a': 1}")
    return [name, f'unreadable ({", ".join(texts)}: not a string)'] + [''] * 5
  status = p.get('status', '?')
  live = status in ('running', 'starting')  # 'starting': building, compiling, restoring
  host = _other_host(os.path.dirname(path)) if live else None
  if host:
    # As it last said, unchecked: its pid means nothing here (a killed run stays so)
    status = f'{status}? (on {host})'
  elif live and not processes.alive(p.get('pid')):
    status = 'dead'  # killed without a chance to say so; rerun to resume
  if status in ('dead', 'failed'):
    status += _saved(p)
  score = score_text(p)
  rate = p.get('iterations_per_second')
  return [name, str(status), f'{p.get("iteration", 0)}/{p.get("max_iterations", "?")}',
          rate_text(rate), score,
          _duration(p.get('eta_seconds')) if status.startswith('running') else '-',
          str(p.get('updated_at', ''))]


def _main(argv):
  roots = argv[1:] or ['runs']
  absent = [r for r in roots if not os.path.lexists(r)]
  if len(absent) == len(roots):  # (was "no progress.json under runs/typo")
    print(f'error: {cli.absent(absent)}', file=sys.stderr)
    return 1
  missing = []
  read = {}  # each sweep's instance configs, read once for all its rows
  rows = [row(p, read) for p in find_progress_files(roots, missing)]
  # An instance that failed before it ran has no progress.json: its row, and why.
  failed = cli.failed_instances(roots)
  for d, _ in failed:
    label = cli.instance_label(d, read)
    rows.append([f'{d} ({label})' if label else d, 'failed, nothing run', '0/?', '-', '-',
                 '-', ''])
  for root in missing if rows else ():  # a mistyped path among several: said, not dropped
    if root in absent:
      print(f'note: {cli.absent([root])}', file=sys.stderr)
    elif not any(d.startswith(root) for d, _ in failed):
      print(f'note: no progress.json under {cli.path_typo(root) or root}', file=sys.stderr)
  if not rows:
    print(f'error: no progress.json under {" ".join(roots)}', file=sys.stderr)
    return 1
  header = ['run', 'status', 'iteration', 'speed', 'exploitability', 'ETA', 'updated']
  widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
  for r in [header] + rows:
    print('  '.join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
  for d, why in failed:
    print(f'note: {d} failed before it ran: {why} (its log.txt)', file=sys.stderr)
  return 0


def main() -> None:
  """The `cfr-status` console script."""
  cli.run(_main)


if __name__ == '__main__':
  main()
