"""The training job: restore -> chunks under budgets -> save -> progress, resumable.

`run(config, workdir)` is what `launch/train.py` and notebooks call; it returns
an exit code (see `EXIT_*`). Every chunk ends in a verified checkpoint, so a
run killed at any moment continues from its last complete chunk, and since
`Solver.run` is chunking-invariant, the final state is bit for bit the one an
uninterrupted run reaches (on CPU).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np

import cfr_jax
from cfr_jax import checkpoint as checkpoint_lib

EXIT_COMPLETE = 0  # the iteration or time budget was reached
EXIT_USAGE = 1  # bad configuration or flags; nothing was run
EXIT_FAILURE = 2  # a real failure (non-finite values, checkpoint I/O, a failed instance)
EXIT_INTERRUPTED = 75  # SIGINT/SIGTERM: saved, run the same command again to resume

_POSITIVE = ('max_iterations', 'time_budget_minutes', 'chunk_iterations', 'chunk_minutes',
             'eval_every', 'progress_seconds', 'num_instances', 'keep_checkpoints')


class ConfigError(ValueError):
  """A user mistake in the configuration: reported in one line, exit code 1."""


class TrainingFailure(RuntimeError):
  """The run cannot go on (non-finite values, ...): exit code 2."""


# ----------------------------------------------------------------------------
# Configuration.


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field."""
  for name in _POSITIVE:
    value = config.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
      raise ConfigError(f'config.{name} must be a positive number, got {value!r}')
    if name not in ('time_budget_minutes', 'chunk_minutes', 'progress_seconds') and (
        int(value) != value):
      raise ConfigError(f'config.{name} must be a whole number, got {value!r}')
  if config.dtype not in ('float32', 'float64'):
    raise ConfigError(f'config.dtype must be float32 or float64, got {config.dtype!r}')
  try:
    cfr_jax.regret.get_algorithm(config.algorithm)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  if config.sweep_field:
    if config.sweep_field not in config or config.sweep_field in ('sweep_field', 'sweep_values'):
      raise ConfigError(f'config.sweep_field {config.sweep_field!r} is not a config field')
    if not config.sweep_values:
      raise ConfigError('config.sweep_field needs config.sweep_values (comma-separated)')


def _hyperparameters(config) -> dict:
  return {k: config[k] for k in ('alpha', 'beta', 'gamma') if config.get(k) is not None}


def build_solver(config) -> cfr_jax.Solver:
  """The game and solver a config describes (ConfigError for user mistakes)."""
  if config.dtype == 'float64':
    jax.config.update('jax_enable_x64', True)
  try:
    game = cfr_jax.load_game(config.game)
    return cfr_jax.make_solver(game, config.algorithm, alternating=config.alternating,
                               dtype=config.dtype, **_hyperparameters(config))
  except (ValueError, TypeError, ImportError) as e:
    raise ConfigError(str(e).splitlines()[0]) from None


def _split(text: str) -> list[str]:
  return [p.strip() for p in str(text or '').split(',') if p.strip()]


# ----------------------------------------------------------------------------
# Progress, metrics, signals.


def write_json_atomic(path: str, payload: dict) -> None:
  """Writes JSON so that a concurrent reader sees the old or the new file, whole."""
  tmp = f'{path}.tmp.{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(payload, f, indent=1, allow_nan=False, default=str)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


class MetricsWriter:
  """metrics.jsonl always; TensorBoard event files when tensorboardX is installed."""

  def __init__(self, workdir: str):
    self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')
    try:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'))
    except ImportError:
      self._tb = None

  def write(self, iteration: int, **scalars) -> None:
    record = {'iteration': iteration, 'time': time.time(), **scalars}
    self._jsonl.write(json.dumps(record, default=float) + '\n')
    self._jsonl.flush()
    if self._tb is not None:
      for k, v in scalars.items():
        if isinstance(v, (int, float)) and v is not None:
          self._tb.add_scalar(k, v, iteration)

  def close(self) -> None:
    self._jsonl.close()
    if self._tb is not None:
      self._tb.close()


class StopSignals:
  """First SIGINT/SIGTERM asks the loop to save and stop; a second exits at once.

  SIGUSR1 asks for the same graceful stop but never escalates: job scripts and
  the multi-instance parent forward stops with it, so a process signalled
  both directly (a cluster preempting every process of a job) and by its
  parent still saves.
  """

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.received is not None and signum == signal.SIGUSR1:
      return
    if self.received is not None and self.received != 'SIGUSR1':
      sys.stderr.write(f'second signal ({signal.Signals(signum).name}): exiting now, '
                       'the last complete checkpoint is kept\n')
      os._exit(EXIT_INTERRUPTED)  # pylint: disable=protected-access
    self.received = signal.Signals(signum).name
    sys.stderr.write(f'{self.received}: saving at the iteration reached, then exiting '
                     f'(code {EXIT_INTERRUPTED}); send it again to exit at once\n')

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


class _Display:
  """A progress bar on a terminal; plain periodic lines otherwise."""

  def __init__(self, every_seconds: float):
    self.tty = sys.stderr.isatty()
    self.every = every_seconds
    self._last = -math.inf

  def update(self, p: dict, force: bool = False) -> None:
    now = time.monotonic()
    if not force and now - self._last < (0.2 if self.tty else self.every):
      return
    self._last = now
    it, total = p['iteration'], p['max_iterations']
    expl = p['exploitability']
    text = (f'it {it}/{total} {p["iterations_per_second"] or 0:,.0f} it/s '
            f'expl {"-" if expl is None else f"{expl:.3e}"} '
            f'ETA {_duration(p["eta_seconds"])}')
    if self.tty:
      done = int(30 * it / max(total, 1))
      sys.stderr.write(f'\r[{"#" * done}{"." * (30 - done)}] {text}\x1b[K')
      sys.stderr.flush()
    else:
      print(text, flush=True)

  def close(self):
    if self.tty:
      sys.stderr.write('\n')


def _duration(seconds) -> str:
  if seconds is None or not math.isfinite(seconds):
    return '-'
  seconds = int(seconds)
  return f'{seconds // 3600}h{seconds // 60 % 60:02d}m' if seconds >= 3600 else (
      f'{seconds // 60}m{seconds % 60:02d}s')


# ----------------------------------------------------------------------------
# One instance.


@dataclasses.dataclass
class _Run:
  """Mutable bookkeeping of one training process (the solver state is not here)."""
  config: Any
  workdir: str
  started: float
  elapsed_before: float
  restored_from: dict | None
  rejected: list
  status: str = 'running'
  chunk: int = 0
  chunk_started: float = 0.0
  iteration: int = 0
  solve_seconds: float = 0.0  # time inside jitted steps, this process
  solve_iterations: int = 0
  exploitability: float | None = None
  exploitability_iteration: int | None = None
  last_checkpoint: dict | None = None
  error: str | None = None

  def elapsed(self) -> float:
    return self.elapsed_before + time.monotonic() - self.started

  def rate(self) -> float | None:
    return self.solve_iterations / self.solve_seconds if self.solve_seconds > 0 else None

  def progress(self) -> dict:
    budget = self.config.time_budget_minutes * 60
    rate = self.rate()
    left = self.config.max_iterations - self.iteration
    eta = left / rate if rate else None
    time_left = max(0.0, budget - self.elapsed())
    if eta is not None:
      eta = min(eta, time_left)
    return {
        'status': self.status, 'iteration': self.iteration,
        'max_iterations': self.config.max_iterations, 'chunk': self.chunk,
        'iterations_per_second': rate,
        'elapsed_seconds_chunk': time.monotonic() - self.chunk_started,
        'elapsed_seconds': self.elapsed(), 'time_budget_seconds': budget,
        'time_budget_left_seconds': time_left, 'eta_seconds': eta,
        'exploitability': self.exploitability,
        'exploitability_iteration': self.exploitability_iteration,
        'last_checkpoint': self.last_checkpoint, 'restored_from': self.restored_from,
        'rejected': self.rejected, 'game': self.config.game,
        'algorithm': self.config.algorithm, 'workdir': self.workdir,
        'error': self.error, 'pid': os.getpid(),
        'updated_at': time.strftime('%Y-%m-%dT%H:%M:%S%z')}


def _prepare_workdir(workdir: str) -> str:
  workdir = os.path.abspath(os.path.expanduser(workdir))
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f'.write_probe.{os.getpid()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f'cannot write to workdir {workdir}: {e.strerror or e}') from None
  return workdir


def _finite(state) -> bool:
  return all(bool(np.isfinite(np.asarray(x)).all()) for x in jax.tree.leaves(state))


def run(config: ml_collections.ConfigDict, workdir: str) -> int:
  """Trains under `config` in `workdir`; returns an `EXIT_*` code.

  Raises ConfigError for user mistakes (the launcher prints it in one line).
  """
  validate(config)
  workdir = _prepare_workdir(workdir)
  if config.num_instances > 1 or config.sweep_field:
    return run_instances(config, workdir)
  solver = build_solver(config)
  fingerprint = checkpoint_lib.make_fingerprint(**solver.describe())
  store = checkpoint_lib.CheckpointStore(
      os.path.join(workdir, 'checkpoints'), extra_locations=_split(config.extra_locations),
      fingerprint=fingerprint, mirror_to=config.mirror_to or None,
      max_to_keep=int(config.keep_checkpoints))
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(config.to_json(indent=1))
  with store, StopSignals() as signals:
    state, report = store.restore(solver.abstract_state())
    meta = report.metadata or {}
    # Compile the solver step and the evaluator before the clock starts: the
    # time budget counts training (steps, evaluations, saves), not start-up.
    state = solver.run(solver.init() if state is None else state, 0)
    cfr_jax.exploitability(solver.game, cfr_jax.uniform_policy(solver.game))
    r = _Run(config=config, workdir=workdir, started=time.monotonic(),
             elapsed_before=float(meta.get('elapsed_seconds') or 0.0),
             restored_from=(None if report.restored_from is None else
                            {'path': report.restored_from, 'iteration': report.iteration}),
             rejected=[{'path': p, 'reason': why} for p, why in report.rejected])
    for path, why in report.rejected:
      print(f'skipped checkpoint {path}: {why}', flush=True)
    if report.restored_from is None:
      print(f'STARTING FRESH: no usable checkpoint in {store.directory} '
            f'or the extra locations', flush=True)
    else:
      r.exploitability = meta.get('exploitability')
      r.exploitability_iteration = meta.get('exploitability_iteration')
      print(f'resumed from {report.restored_from} (iteration {report.iteration})', flush=True)
    r.iteration = int(state.iteration)
    metrics = MetricsWriter(workdir)
    display = _Display(config.progress_seconds)
    progress_path = os.path.join(workdir, 'progress.json')
    try:
      code = _train(solver, store, state, r, signals, metrics, display, progress_path)
    except (TrainingFailure, checkpoint_lib.CheckpointError, OSError) as e:
      r.status, r.error = 'failed', f'{type(e).__name__}: {e}'
      write_json_atomic(progress_path, r.progress())
      print(f'error: {e}', file=sys.stderr)
      code = EXIT_FAILURE
    finally:
      display.close()
      metrics.close()
  return code


def _train(solver, store, state, r: _Run, signals, metrics, display, progress_path) -> int:
  config = r.config
  game = solver.game
  budget = config.time_budget_minutes * 60
  step = 100
  abstract = solver.abstract_state()

  def report_progress(force=False):
    p = r.progress()
    write_json_atomic(progress_path, p)
    display.update(p, force)

  def diverged(what):
    last = r.last_checkpoint['path'] if r.last_checkpoint else 'none yet'
    return TrainingFailure(
        f'the solver diverged: {what} at iteration {r.iteration} ({solver.algorithm} '
        f'{solver.hyperparameters}, {config.dtype}); not saved; last good checkpoint: {last}')

  def evaluate():
    value = cfr_jax.exploitability(game, solver.average_policy(state))
    if not math.isfinite(value):
      raise diverged(f'exploitability is {value}')
    r.exploitability, r.exploitability_iteration = value, r.iteration
    metrics.write(r.iteration, exploitability=value, elapsed_seconds=r.elapsed(),
                  solve_seconds=r.solve_seconds)

  def save():
    if not _finite(state):
      raise diverged('non-finite regrets or strategy sums')
    path = store.save(state, r.iteration, {
        'elapsed_seconds': r.elapsed(), 'exploitability': r.exploitability,
        'exploitability_iteration': r.exploitability_iteration})
    r.last_checkpoint = {'iteration': r.iteration, 'path': path}

  def done() -> bool:
    return r.iteration >= config.max_iterations or r.elapsed() >= budget

  report_progress(force=True)
  while not done() and signals.received is None:
    r.chunk += 1
    r.chunk_started = time.monotonic()
    chunk_start_iteration = r.iteration
    while not done() and signals.received is None:
      chunk_left = chunk_start_iteration + config.chunk_iterations - r.iteration
      if chunk_left <= 0 or time.monotonic() - r.chunk_started >= config.chunk_minutes * 60:
        break
      next_eval = (r.iteration // config.eval_every + 1) * config.eval_every
      n = min(step, chunk_left, config.max_iterations - r.iteration, next_eval - r.iteration)
      if r.rate():  # do not overshoot the time budget by more than a moment
        n = max(1, min(n, int(r.rate() * (budget - r.elapsed())) + 1))
      start = time.monotonic()
      state = solver.run(state, n)
      state.regrets.block_until_ready()
      took = time.monotonic() - start
      r.iteration += n
      r.solve_seconds += took
      r.solve_iterations += n
      # Steps of at most about a second: progress and signals are handled
      # promptly, yet never per handful of iterations (>= 100 per step).
      target = min(1.0, config.progress_seconds / 4)
      step = int(min(max(100, n / max(took, 1e-6) * target), 10 ** 7))
      if r.iteration % config.eval_every == 0 or r.iteration == config.max_iterations:
        evaluate()
      report_progress()
    if r.exploitability_iteration != r.iteration and done():
      evaluate()  # the final value, however the run ends
    save()
    metrics.write(r.iteration, iterations_per_second=r.rate(), elapsed_seconds=r.elapsed(),
                  chunk=r.chunk)
    report_progress(force=True)
    # Rebuild from the checkpoint: frees the chunk's buffers and proves the save loads.
    del state
    state, rebuilt = store.restore(abstract)
    if state is None or int(state.iteration) != r.iteration:
      raise checkpoint_lib.CheckpointError(
          f'the checkpoint just saved at iteration {r.iteration} does not restore '
          f'(got {rebuilt.restored_from})')
  if signals.received is not None and not done():
    r.status = 'interrupted'
    report_progress(force=True)
    print(f'interrupted by {signals.received} at iteration {r.iteration}; saved to '
          f'{r.last_checkpoint["path"] if r.last_checkpoint else "-"}; run the same '
          'command again to resume', file=sys.stderr)
    return EXIT_INTERRUPTED
  r.status = 'completed'
  report_progress(force=True)
  why = 'iteration budget' if r.iteration >= config.max_iterations else 'time budget'
  print(f'completed ({why}): iteration {r.iteration}, exploitability '
        f'{r.exploitability:.4e}, checkpoints in {store.directory}', flush=True)
  return EXIT_COMPLETE


# ----------------------------------------------------------------------------
# Many instances, as processes.


def _instance_configs(config) -> list:
  values = _split(config.sweep_values) if config.sweep_field else []
  count = len(values) if values else int(config.num_instances)
  out = []
  for k in range(count):
    c = ml_collections.ConfigDict(json.loads(config.to_json()))
    c.num_instances, c.seed, c.sweep_field, c.sweep_values = 1, int(config.seed) + k, '', ''
    if values:
      field = config.sweep_field
      current = config[field]
      try:
        cast = (type(current) if current is not None and not isinstance(current, bool)
                else float)
        c[field] = (values[k].lower() in ('1', 'true', 'yes')
                    if isinstance(current, bool) else cast(values[k]))
      except (TypeError, ValueError):
        raise ConfigError(f'sweep value {values[k]!r} does not fit config.{field}') from None
    validate(c)
    out.append(c)
  return out


def run_instances(config, workdir: str) -> int:
  """Runs each instance as its own process in `<workdir>/instance_<k>`.

  A SIGINT/SIGTERM to this process is passed on to every instance (as
  SIGUSR1), which saves and exits; a failure in one does not stop the others.
  """
  configs = _instance_configs(config)
  children = []
  for k, c in enumerate(configs):
    d = os.path.join(workdir, f'instance_{k}')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'config.json'), 'w') as f:
      f.write(c.to_json(indent=1))
    log = open(os.path.join(d, 'log.txt'), 'a')
    # Own session: a terminal's Ctrl-C reaches only us, and we forward it once.
    proc = subprocess.Popen([sys.executable, '-m', 'cfr_jax.training', d], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    children.append((k, proc, log))
    print(f'instance {k}: pid {proc.pid}, {d}', flush=True)

  def forward(signum, frame):
    del signum, frame
    for _, proc, _ in children:
      if proc.poll() is None:
        proc.send_signal(signal.SIGUSR1)  # a graceful stop that never escalates

  codes = {}
  with contextlib.ExitStack() as stack:
    for sig in (signal.SIGINT, signal.SIGTERM):
      previous = signal.signal(sig, forward)
      stack.callback(signal.signal, sig, previous)
    while len(codes) < len(children):
      for k, proc, log in children:
        if k not in codes and proc.poll() is not None:
          codes[k] = proc.returncode
          log.close()
          print(f'instance {k}: {_describe_exit(proc.returncode)}', flush=True)
      time.sleep(0.2)
  if all(c == EXIT_COMPLETE for c in codes.values()):
    return EXIT_COMPLETE
  if all(c in (EXIT_COMPLETE, EXIT_INTERRUPTED) for c in codes.values()):
    return EXIT_INTERRUPTED
  return EXIT_FAILURE


def _describe_exit(code: int) -> str:
  if code < 0:
    return f'killed by {signal.Signals(-code).name}; rerun to resume from its last checkpoint'
  return {EXIT_COMPLETE: 'completed', EXIT_INTERRUPTED: 'interrupted (resumable)',
          EXIT_USAGE: 'configuration error'}.get(code, f'failed (exit code {code})')


def _instance_main(workdir: str) -> int:
  """Entry of one instance process started by `run_instances`."""
  with open(os.path.join(workdir, 'config.json')) as f:
    config = ml_collections.ConfigDict(json.load(f))
  try:
    return run(config, workdir)
  except ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_USAGE


if __name__ == '__main__':
  sys.exit(_instance_main(sys.argv[1]))
