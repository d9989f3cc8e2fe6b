"""What a run writes besides checkpoints: progress.json, metrics, the terminal display."""
from __future__ import annotations

import json
import math
import os
import sys
import time

from cfr_jax import atomic


def write_text_atomic(path: str, text: str) -> None:
  """Writes `text` so that a concurrent reader sees the old or the new file,
  whole (`atomic.replacing`); on any error the OSError is raised."""
  with atomic.replacing(path) as tmp, open(tmp, 'w') as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())


# A run's config.json as a start found it, where the start wrote another:
# kept until the start knows whether it was another run's (`replace_config`).
FOUND_CONFIG = 'config.found.json'


def read_text(path: str) -> str | None:
  """The text of the file at `path`; None where there is none to read."""
  try:
    with open(path, encoding='utf-8') as f:
      return f.read()
  except (OSError, UnicodeDecodeError):
    return None


def replace_config(workdir: str, text: str) -> str | None:
  """Writes `text` as the workdir's config.json, first keeping a config.json
  that differs as `FOUND_CONFIG` (unless one is there already: an earlier
  start's, which never decided); returns the found text, or None.

  Whether the found config was another run's, whose checkpoints and metrics
  may be left here, is known only once the run has tried to restore: the run
  loop then keeps it beside that run's metrics or drops it. cfr-train's
  instances parent writes each instance's config.json before the instance
  starts, so the instance finds the old one here, not in config.json."""
  path, found = os.path.join(workdir, 'config.json'), os.path.join(workdir, FOUND_CONFIG)
  old = read_text(path)
  if old is not None and old != text and not os.path.exists(found):
    write_text_atomic(found, old)  # a copy first: config.json is never missing
  write_text_atomic(path, text)
  kept = read_text(found)
  if kept == text:  # an undecided start's, of this very config: nothing to keep
    os.remove(found)
    return None
  return kept


# What a start keeps of the progress.json it finds, where that file is this
# run's (config.json holds this very config): what the run has done so far.
_KEPT_WHILE_STARTING = ('iteration', 'chunk', 'elapsed_seconds', 'exploitability',
                        'exploitability_iteration', 'exploitability_pot_percent',
                        'target_exploitability', 'evaluation', 'last_checkpoint',
                        'restored_from')


def write_starting(workdir: str, config, seconds: float) -> None:
  """progress.json while a run starts (building the game, compiling,
  restoring): status 'starting', this process's pid, `seconds` since the
  start began, and what the last progress.json said of this run's iterations
  and checkpoints. Until the first chunk a resumed run's file was the stopped
  process's ('running' with a dead pid: cfr-status said "dead"), and a new
  run had none, for the minutes a flop's first compilation takes."""
  path = os.path.join(workdir, 'progress.json')
  last = None
  if (read_text(os.path.join(workdir, 'config.json')) == config.to_json(indent=1)
      and not os.path.exists(os.path.join(workdir, FOUND_CONFIG))):
    try:
      last = json.loads(read_text(path) or 'null')
    except ValueError:
      last = None
  now = {'status': 'starting', 'starting_seconds': seconds,
         'max_iterations': config.max_iterations, 'game': config.game,
         'algorithm': config.algorithm, 'workdir': workdir, 'error': None,
         'pid': os.getpid(), 'updated_at': time.strftime('%Y-%m-%dT%H:%M:%S%z')}
  kept = {k: last[k] for k in _KEPT_WHILE_STARTING if k in last} if isinstance(
      last, dict) else {}
  try:
    text = json.dumps({'iteration': 0, **kept, **now}, indent=1, allow_nan=False)
  except (TypeError, ValueError):  # a hand-edited file's NaN or odd value: not kept
    text = json.dumps({'iteration': 0, **now}, indent=1)
  write_text_atomic(path, text)


def write_json_atomic(path: str, payload: dict) -> None:
  """`write_text_atomic` of `payload` as JSON (non-finite floats are an error)."""
  write_text_atomic(path, json.dumps(payload, indent=1, allow_nan=False, default=str))


def _last_run(path: str) -> str | None:
  """The 'run' of the last record of metrics file `path` that has one (its
  last 64 KiB are read); None when none does (files before 'run' existed)."""
  with open(path, 'rb') as f:
    f.seek(max(0, os.fstat(f.fileno()).st_size - 65536))
    lines = f.read().splitlines()
  for raw in reversed(lines):
    try:
      run = json.loads(raw.decode('utf-8')).get('run')
    except (ValueError, AttributeError):  # a line cut by a kill, or not an object
      continue
    if run is not None:
      return str(run)
  return None


class MetricsWriter:
  """metrics.jsonl always; TensorBoard event files when tensorboardX is installed."""

  def __init__(self, workdir: str, run: str = '', fresh: bool = False):
    """run: the run's identity (its checkpoints' fingerprint), written in
    every record. fresh: the run starts from iteration 0 (nothing restored).
    A metrics.jsonl already there is another run's when the run is fresh
    (another config in this workdir, or checkpoints none of which loads) or
    when its last record names another run (a run resumed after another
    config used the workdir): it is then moved aside (`moved_aside`), so
    that the file and cfr-plot show one run's curve."""
    self.path = os.path.join(workdir, 'metrics.jsonl')
    self.moved_aside = None
    # Whether what was moved is this run's own (a start that saved no
    # checkpoint, killed at once, say): not "another run's".
    self.moved_own = False
    try:
      last = _last_run(self.path) if os.path.isfile(self.path) else None
    except OSError:  # unreadable: moved aside as another run's when fresh
      last = None
    if os.path.isfile(self.path) and os.path.getsize(self.path) and (
        fresh or last not in (None, run)):
      self.moved_own = bool(run) and last == run
      stem = os.path.join(workdir, time.strftime('metrics.before-%Y%m%dT%H%M%SZ', time.gmtime()))
      aside, n = f'{stem}.jsonl', 0
      while os.path.exists(aside):  # two fresh starts in one second keep both
        n += 1
        aside = f'{stem}-{n}.jsonl'
      os.replace(self.path, aside)
      self.moved_aside = aside
    self._run = run
    # Unbuffered appends of whole lines: nothing waits in a buffer to fail
    # again at close, and a line cut short by a full disk is cut back off.
    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'))
    except ImportError:
      self._tb = None

  def write(self, iteration: int, **scalars) -> None:
    record = {'iteration': iteration, 'time': time.time(), **scalars}
    if self._run:
      record['run'] = self._run
    line = (json.dumps(record, default=float) + '\n').encode()
    size = os.fstat(self._fd).st_size
    try:
      if os.write(self._fd, line) != len(line):
        raise OSError(28, os.strerror(28), self.path)  # ENOSPC: a short write
    except OSError as e:
      try:
        os.ftruncate(self._fd, size)
      except OSError:
        pass
      e.filename = e.filename or self.path
      raise
    if self._tb is not None:
      for k, v in scalars.items():
        if isinstance(v, (int, float)) and v is not None:
          self._tb.add_scalar(k, v, iteration)

  def close(self) -> None:
    os.close(self._fd)
    if self._tb is not None:
      self._tb.close()


class _Display:
  """A progress bar on a terminal; plain periodic lines otherwise."""

  def __init__(self, every_seconds: float):
    self.tty = sys.stderr.isatty()
    self.every = every_seconds
    self._last = -math.inf
    self._text = None

  def update(self, p: dict, force: bool = False) -> None:
    now = time.monotonic()
    if not force and now - self._last < (0.2 if self.tty else self.every):
      return
    self._last = now
    it, total = p['iteration'], p['max_iterations']
    score = score_text(p)
    score = score if p.get('evaluation') else f'expl {score}'
    text = (f'it {it}/{total} {rate_text(p["iterations_per_second"])} {score} '
            f'ETA {_duration(p["eta_seconds"])}')
    if text == self._text:
      return
    self._text = text
    if self.tty:
      done = int(30 * it / max(total, 1))
      sys.stderr.write(f'\r[{"#" * done}{"." * (30 - done)}] {text}\x1b[K')
      sys.stderr.flush()
    else:
      print(text, flush=True)

  def close(self):
    if self.tty:
      sys.stderr.write('\n')


def score_text(p: dict) -> str:
  """A progress record's last score: its exploitability (with its share of
  the pot in hold'em), or where the game does not compile its head-to-head
  result against the uniform policy; '-' before the first evaluation."""
  if p.get('evaluation'):
    return f'vs uniform {p["evaluation"]["vs_uniform"]:+.3f}'
  expl = p.get('exploitability')
  if expl is None:
    return '-'
  percent = p.get('exploitability_pot_percent')
  return f'{expl:.3e}' + ('' if percent is None else f' ({percent:.3g}% of the pot)')


def rate_text(rate) -> str:
  """Iterations per second, readable from 1e-3 to 1e7: a slow solver (a
  network iteration takes seconds) shows seconds per iteration, not 0 it/s."""
  if not rate:
    return '- it/s'
  if rate >= 100:
    return f'{rate:,.0f} it/s'
  if rate >= 1:
    return f'{rate:.1f} it/s'
  return f'{1 / rate:.1f} s/it'


def _duration(seconds) -> str:
  if seconds is None or not math.isfinite(seconds):
    return '-'
  seconds = int(seconds)
  return f'{seconds // 3600}h{seconds // 60 % 60:02d}m' if seconds >= 3600 else (
      f'{seconds // 60}m{seconds % 60:02d}s')

