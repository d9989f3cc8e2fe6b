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
import socket
import subprocess
import sys
import time
from typing import Any

from absl import logging
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

import cfr_jax
from cfr_jax import checkpoint as checkpoint_lib
from cfr_jax import solver as solver_lib

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
  if config.get('storage', '') not in ('', 'float32', 'bfloat16'):
    raise ConfigError(f"config.storage must be '' (the dtype) or bfloat16, "
                      f"got {config.get('storage')!r}")
  if config.get('storage') == 'bfloat16' and config.dtype != 'float32':
    raise ConfigError('config.storage=bfloat16 needs config.dtype=float32')
  devices = config.get('devices', 1)
  if isinstance(devices, bool) or not isinstance(devices, int) or devices < 0:
    raise ConfigError(f'config.devices must be a whole number >= 0 (0: all), got {devices!r}')
  mode = config.get('instances_mode', 'process')
  if mode not in ('process', 'vmap'):
    raise ConfigError(f"config.instances_mode must be 'process' or 'vmap', got {mode!r}")
  if mode == 'vmap' and devices != 1:
    raise ConfigError('config.instances_mode=vmap runs on one device: set config.devices=1')
  _validate_distributed(config)
  if config.sweep_field:
    if config.sweep_field not in config or config.sweep_field in ('sweep_field', 'sweep_values'):
      raise ConfigError(f'config.sweep_field {config.sweep_field!r} is not a config field')
    if not config.sweep_values:
      raise ConfigError('config.sweep_field needs config.sweep_values (comma-separated)')


def _validate_distributed(config) -> None:
  dist = config.get('distributed')
  if dist is None:
    return
  if not isinstance(dist.get('enabled'), bool):
    raise ConfigError(f'config.distributed.enabled must be true or false, '
                      f'got {dist.get("enabled")!r}')
  if not dist.enabled:
    return
  if config.num_instances > 1 or config.sweep_field:
    raise ConfigError('config.distributed runs one instance over every process: set '
                      'config.num_instances=1 and no config.sweep_field')
  num, pid = dist.get('num_processes', 0), dist.get('process_id', -1)
  if isinstance(num, bool) or not isinstance(num, int) or num < 0:
    raise ConfigError(f'config.distributed.num_processes must be a whole number >= 0 '
                      f'(0: from the environment), got {num!r}')
  if isinstance(pid, bool) or not isinstance(pid, int) or pid < -1 or (num and pid >= num):
    raise ConfigError(f'config.distributed.process_id must be -1 (from the environment) or '
                      f'0 ... num_processes - 1, got {pid!r}')
  address = str(dist.get('coordinator_address') or '')
  host, _, port = address.rpartition(':')
  if address and not (host and port.isdigit() and 0 < int(port) < 65536):
    raise ConfigError(f"config.distributed.coordinator_address must be 'host:port', "
                      f'got {address!r}')
  if not all(x.isdigit() for x in _split(dist.get('local_device_ids'))):
    raise ConfigError('config.distributed.local_device_ids must be comma-separated '
                      f'device numbers, got {dist.get("local_device_ids")!r}')


def _distributed(config) -> bool:
  dist = config.get('distributed')
  return bool(dist is not None and dist.get('enabled'))


def initialize_distributed(config) -> None:
  """Joins the `jax.distributed` job that `config.distributed` describes.

  Call it before any other JAX call; later calls (a notebook running twice)
  do nothing. Empty fields fall back to JAX_COORDINATOR_ADDRESS,
  JAX_NUM_PROCESSES and JAX_PROCESS_ID, then to JAX's cluster detection
  (SLURM, Open MPI, TPU), which fills in whatever is still unset.
  """
  if not _distributed(config) or jax.distributed.is_initialized():
    return
  dist = config.distributed

  def from_env(name):
    text = os.environ.get(name, '').strip()
    if text and not text.isdigit():
      raise ConfigError(f'{name} must be a whole number, got {text!r}')
    return int(text) if text else None

  address = dist.coordinator_address or os.environ.get('JAX_COORDINATOR_ADDRESS') or None
  num = dist.num_processes or from_env('JAX_NUM_PROCESSES')
  pid = dist.process_id if dist.process_id >= 0 else from_env('JAX_PROCESS_ID')
  ids = [int(x) for x in _split(dist.local_device_ids)] or None
  try:
    jax.distributed.initialize(address, num, pid, local_device_ids=ids)
  except RuntimeError as e:  # JAX is already running single-process here
    raise ConfigError(f'config.distributed: {str(e).splitlines()[0]} (start a fresh '
                      'process)') from None
  except ValueError as e:  # nothing given and no cluster detected
    raise ConfigError(f'config.distributed: {str(e).splitlines()[0]} (set '
                      'coordinator_address, num_processes and process_id, or run under '
                      'SLURM, Open MPI or on TPU)') from None


def _hyperparameters(config) -> dict:
  return {k: config[k] for k in ('alpha', 'beta', 'gamma') if config.get(k) is not None}


def build_solver(config) -> cfr_jax.Solver:
  """The game and solver a config describes (ConfigError for user mistakes)."""
  if config.dtype == 'float64':
    jax.config.update('jax_enable_x64', True)
  try:
    game = _load_game(config)
    devices = config.get('devices', 1)
    mesh = None if devices == 1 else solver_lib.make_mesh(devices)
    return cfr_jax.make_solver(game, config.algorithm, alternating=config.alternating,
                               dtype=config.dtype, mesh=mesh,
                               storage=config.get('storage') or None,
                               **_hyperparameters(config))
  except (ValueError, TypeError, ImportError) as e:
    raise ConfigError(str(e).splitlines()[0]) from None


def _load_game(config):
  """`config.game` by name, or the hold'em subgame that `config.holdem` describes."""
  if config.game != 'holdem':
    return cfr_jax.load_game(config.game)
  spec = config.get('holdem')
  if spec is None:
    raise ConfigError("config.game='holdem' needs a config.holdem block (see "
                      "configs/holdem_river.py)")
  from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top

  def sizes(field):  # "0.5,1" for every street, or "0.33,0.75;0.5,1;1" per street
    try:
      streets = [tuple(float(x) for x in _split(part)) for part in str(spec[field]).split(';')]
    except ValueError:
      raise ConfigError(f'config.holdem.{field} must be fractions of the pot separated by '
                        f'commas (";" between streets), got {spec[field]!r}') from None
    return streets[0] if len(streets) == 1 else tuple(streets)

  buckets = spec.get('buckets')
  buckets = dict(buckets) if buckets is not None and buckets.get('method') else None
  return subgame.compile_subgame(subgame.SubgameSpec(
      board=spec.board, pot=float(spec.pot), stack=float(spec.stack),
      ranges=(spec.range0, spec.range1), bet_sizes=sizes('bet_sizes'),
      raise_sizes=sizes('raise_sizes'), max_raises=int(spec.max_raises),
      buckets=buckets))


def _foreign_reasons(candidate, solver: cfr_jax.Solver) -> list:
  """What differs between a foreign checkpoint and this run, when it says."""
  saved = (candidate.metadata or {}).get('describe')
  if candidate.status != 'foreign' or not isinstance(saved, dict):
    return []
  now = json.loads(json.dumps(solver.describe(), default=str))
  saved_game, game = saved.get('game') or {}, now.get('game') or {}
  out = []
  if saved_game.get('buckets') != game.get('buckets'):
    h = lambda b: (b or {}).get('hash', 'none')[:12] if isinstance(b, dict) else 'none'
    out.append(f'it was trained on another card abstraction (bucket table '
               f'{h(saved_game.get("buckets"))} here {h(game.get("buckets"))}): '
               'its regrets mean nothing under this one')
  out += [f'game.{k} was {saved_game.get(k)!r}, here {game.get(k)!r}'
          for k in sorted((set(saved_game) | set(game)) - {'buckets'})
          if saved_game.get(k) != game.get(k)]
  out += [f'{k} was {saved.get(k)!r}, here {now.get(k)!r}'
          for k in sorted((set(saved) | set(now)) - {'game'}) if saved.get(k) != now.get(k)]
  return out


def restore_state(store: checkpoint_lib.CheckpointStore, solver: cfr_jax.Solver) -> tuple:
  """`store.restore` in `solver`'s layout; (state or None, RestoreReport).

  A checkpoint written with another device count has another infoset padding
  (`Solver.num_rows`), so the store rejects its shape. When such a checkpoint
  is newer than what restored (or nothing did), it is read in its own shape on
  one device and re-laid out with `Solver.place`: runs move freely between
  device counts, at the price of one unsharded read.
  """
  state, report = store.restore(solver.abstract_state())
  have = -1 if state is None else report.iteration
  other = {}
  for c in report.candidates:
    shape = (((c.metadata or {}).get('arrays') or {}).get('regrets') or {}).get('shape')
    if (c.status == 'rejected' and shape and len(shape) == 2 and c.iteration is not None
        and c.iteration > have and shape[0] != solver.num_rows
        and shape[0] >= solver.game.num_infosets and shape[1] == solver.game.num_actions):
      other[shape[0]] = max(other.get(shape[0], -1), c.iteration)
  for rows in sorted(other, key=other.get, reverse=True):
    found, found_report = store.restore(solver.abstract_state(num_rows=rows))
    if found is not None and found_report.iteration > have:
      return solver.place(found), found_report
  return state, report


def load_run(workdir: str) -> tuple:
  """(solver, state) of a trained run, from its config.json and best checkpoint.

  For notebooks and tools (`launch.query`): the same game, solver and
  fingerprint as the run itself, so a foreign checkpoint is never loaded.
  Raises ConfigError when the workdir holds no run or no usable checkpoint.
  """
  workdir = os.path.abspath(workdir)
  try:
    with open(os.path.join(workdir, 'config.json')) as f:
      config = ml_collections.ConfigDict(json.load(f))
  except (OSError, ValueError) as e:
    raise ConfigError(f'{workdir} holds no readable config.json ({e.__class__.__name__}): '
                      'is it the --workdir of a launch.train run?') from None
  solver = build_solver(config)
  fingerprint = checkpoint_lib.make_fingerprint(**solver.describe())
  with checkpoint_lib.CheckpointStore(
      os.path.join(workdir, 'checkpoints'), extra_locations=_split(config.extra_locations),
      fingerprint=fingerprint) as store:
    state, report = restore_state(store, solver)
  if state is None:
    raise ConfigError(f'no usable checkpoint of this run in {workdir}: ' + '; '.join(
        f'{os.path.basename(p)}: {why}' for p, why in report.rejected) or 'none saved yet')
  return solver, state


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

  sigterm=False leaves SIGTERM alone: under jax.distributed it is JAX's
  preemption notice (see `_Processes`).
  """

  def __init__(self, sigterm: bool = True):
    self.received = None
    self._previous = {}
    self._signals = (signal.SIGINT, signal.SIGUSR1) + ((signal.SIGTERM,) if sigterm else ())

  def __enter__(self):
    for sig in self._signals:
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
    self._text = None

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
  clock: Any = time.monotonic  # `_Processes.now` under jax.distributed

  def elapsed(self) -> float:
    return self.elapsed_before + self.clock() - self.started

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
        'elapsed_seconds_chunk': self.clock() - self.chunk_started,
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
    probe = os.path.join(workdir, f'.write_probe.{socket.gethostname()}.{os.getpid()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f'cannot write to workdir {workdir}: {e.strerror or e}') from None
  return workdir


def _finite(state) -> bool:
  # An array spread over processes is reduced on its devices (no host holds it).
  return all(bool(np.isfinite(np.asarray(x)).all()) if x.is_fully_addressable else
             bool(jax.numpy.isfinite(x).all()) for x in jax.tree.leaves(state))


def run(config: ml_collections.ConfigDict, workdir: str) -> int:
  """Trains under `config` in `workdir`; returns an `EXIT_*` code.

  Raises ConfigError for user mistakes (the launcher prints it in one line).
  With `config.distributed.enabled`, every process of the job calls it alike
  and they train one state together (see `initialize_distributed`).
  """
  validate(config)
  initialize_distributed(config)  # before anything else touches JAX
  workdir = _prepare_workdir(workdir)
  if config.num_instances > 1 or config.sweep_field:
    if config.get('instances_mode', 'process') == 'vmap':
      return run_vmapped(config, workdir)
    return run_instances(config, workdir)
  if _distributed(config) and config.devices == 1:
    # One device of one process would leave the others idle: 1 means all here.
    config = ml_collections.ConfigDict(json.loads(config.to_json()))
    config.devices = 0
  return _run_batch([config], [workdir], vmapped=False)


def run_vmapped(config: ml_collections.ConfigDict, workdir: str) -> int:
  """Runs the instances of `config` as one vmapped program on one device.

  Each instance keeps what the process mode gives it: `<workdir>/instance_<k>/`
  with its config, checkpoints, progress.json and metrics. Instances may differ
  only by seed and the traced hyperparameters (alpha, beta, gamma): anything
  else changes the compiled program (ConfigError). Each instance computes what
  its separate run computes, to float rounding, not bit for bit (see
  `Solver.run_many`).
  """
  validate(config)
  workdir = _prepare_workdir(workdir)
  configs = _instance_configs(config)
  for field in ('game', 'algorithm', 'alternating', 'dtype', 'devices'):
    if config.sweep_field == field:
      raise ConfigError(f'config.instances_mode=vmap cannot sweep config.{field} (it '
                        "changes the compiled program); sweep alpha, beta, gamma or seed, "
                        "or use instances_mode=process")
  workdirs = []
  for k, c in enumerate(configs):
    d = os.path.join(workdir, f'instance_{k}')
    os.makedirs(d, exist_ok=True)
    workdirs.append(d)
  return _run_batch(configs, workdirs, vmapped=True)


@dataclasses.dataclass
class _Instance:
  """One instance of a run: its solver, store, bookkeeping and outputs."""
  solver: Any
  store: Any
  r: _Run
  metrics: Any = None
  progress_path: str = ''
  chunk_start_iteration: int = 0
  in_chunk: bool = False


class _States:
  """The solver states of a run's instances: one state, or one stacked state
  advanced by `Solver.run_many` (a leading [N] instance axis)."""

  def __init__(self, solver, states, vmapped: bool):
    self._solver, self.vmapped = solver, vmapped
    self._hp = None
    if vmapped:
      self._state = solver_lib.stack_states(states)
    else:
      (self._state,) = states

  def set_hyperparameters(self, solvers):
    names = solvers[0].hyperparameters
    self._hp = {k: np.asarray([s.hyperparameters[k] for s in solvers]) for k in names}

  def get(self, k: int):
    if not self.vmapped:
      return self._state
    return jax.tree.map(lambda x: x[k], self._state)

  def replace(self, k: int, state) -> None:
    if not self.vmapped:
      self._state = state
    else:
      self._state = jax.tree.map(lambda x, y: x.at[k].set(y), self._state, state)

  def drop(self) -> None:
    self._state = None

  def step(self, counts: list) -> None:
    if not self.vmapped:
      self._state = self._solver.run(self._state, counts[0])
    else:
      self._state = self._solver.run_many(self._state, counts, self._hp)
    jax.block_until_ready(self._state)


class _Processes:
  """What the processes of a `jax.distributed` run agree on, once per loop turn.

  Every process must take the same decisions (end a chunk, stop, how many
  iterations the next step runs), or they would enter different collectives
  and wait for each other forever. Decisions depend on the clock and on
  signals, so each turn one small all-gather makes process 0's clock and step
  size everyone's, and a stop anyone's: a signal to one process (SIGINT,
  SIGUSR1) or a preemption notice (SIGTERM, left to JAX's preemption service
  and read through Orbax's check) stops all at the same iteration. With one
  process nothing is exchanged and the clock is the local one.
  """

  def __init__(self):
    self.count = jax.process_count()
    self.primary = jax.process_index() == 0
    self._now = time.monotonic()
    self._turn = 0

  def now(self) -> float:
    return time.monotonic() if self.count == 1 else self._now

  def turn(self, signals: StopSignals, r: _Run, step: int) -> tuple[bool, int]:
    """(stop, step) for this turn; sets `r.solve_seconds` and `signals.received`."""
    if self.count == 1:
      return signals.received is not None, step
    seconds = lambda t: (int(t), int(t % 1 * 1e6))  # int32 whatever jax_enable_x64 says
    mine = np.asarray([*seconds(time.monotonic()), *seconds(r.solve_seconds), step,
                       signals.received is not None], np.int32)
    everyone = multihost_utils.process_allgather(mine)  # [processes, 6]
    first = everyone[0].tolist()
    self._now, r.solve_seconds = first[0] + first[1] / 1e6, first[2] + first[3] / 1e6
    preempted = checkpoint_lib.reached_preemption(self._turn)
    self._turn += 1
    # Decided from what was gathered alone: a signal landing after the
    # all-gather is everyone's at the next turn, not this process's now.
    stop = preempted or bool(everyone[:, 5].any())
    if stop and signals.received is None:
      signals.received = ('a preemption notice (SIGTERM)' if preempted else
                          f'a signal to process {int(np.argmax(everyone[:, 5]))}')
    return stop, first[4]


class _NoMetrics:
  """The metrics of processes other than 0 (process 0 writes the run's)."""

  def write(self, iteration: int, **scalars) -> None:
    del iteration, scalars

  def close(self) -> None:
    pass


def _run_batch(configs: list, workdirs: list, vmapped: bool) -> int:
  """Restores, trains and saves every instance (one, or many vmapped)."""
  solvers = [build_solver(c) for c in configs]
  processes = _Processes()
  with contextlib.ExitStack() as stack:
    # Several processes: SIGTERM stays with JAX's preemption service (see _Processes).
    signals = stack.enter_context(StopSignals(sigterm=processes.count == 1 or not (
        jax.config.jax_enable_preemption_service)))
    instances, states = [], []
    for config, workdir, solver in zip(configs, workdirs, solvers):
      fingerprint = checkpoint_lib.make_fingerprint(**solver.describe())
      store = stack.enter_context(checkpoint_lib.CheckpointStore(
          os.path.join(workdir, 'checkpoints'),
          extra_locations=_split(config.extra_locations), fingerprint=fingerprint,
          mirror_to=config.mirror_to or None, max_to_keep=int(config.keep_checkpoints)))
      if processes.primary:
        with open(os.path.join(workdir, 'config.json'), 'w') as f:
          f.write(config.to_json(indent=1))
      state, report = restore_state(store, solver)
      meta = report.metadata or {}
      r = _Run(config=config, workdir=workdir, started=0.0, clock=processes.now,
               elapsed_before=float(meta.get('elapsed_seconds') or 0.0),
               restored_from=(None if report.restored_from is None else
                              {'path': report.restored_from, 'iteration': report.iteration}),
               rejected=[{'path': c.path, 'reason': '; '.join(
                   c.reasons + _foreign_reasons(c, solver))} for c in report.candidates
                         if c.status in ('rejected', 'foreign')])
      tag = f'instance {len(instances)}: ' if vmapped else ''
      for rejected in r.rejected:
        print(f"{tag}skipped checkpoint {rejected['path']}: {rejected['reason']}", flush=True)
      if report.restored_from is None:
        print(f'{tag}STARTING FRESH: no usable checkpoint in {store.directory} '
              f'or the extra locations', flush=True)
      else:
        r.exploitability = meta.get('exploitability')
        r.exploitability_iteration = meta.get('exploitability_iteration')
        print(f'{tag}resumed from {report.restored_from} (iteration {report.iteration})',
              flush=True)
      states.append(solver.init() if state is None else state)
      r.iteration = int(states[-1].iteration)
      instances.append(_Instance(solver=solver, store=store, r=r,
                                 progress_path=os.path.join(workdir, 'progress.json')))
    batch = _States(solvers[0], states, vmapped)
    del states
    if vmapped:
      batch.set_hyperparameters(solvers)
    # Compile the solver step and the evaluator before the clock starts: the
    # time budget counts training (steps, evaluations, saves), not start-up.
    batch.step([0] * len(instances))
    cfr_jax.exploitability(solvers[0].game, cfr_jax.uniform_policy(solvers[0].game))
    processes.turn(signals, instances[0].r, 0)  # the same start on every process
    started = processes.now()
    for inst in instances:
      inst.r.started = started
      inst.metrics = stack.enter_context(contextlib.closing(
          MetricsWriter(inst.r.workdir) if processes.primary else _NoMetrics()))
    display = _Display(configs[0].progress_seconds)
    stack.callback(display.close)
    _train(instances, batch, signals, display, processes)
  codes = [_exit_code(inst.r) for inst in instances]
  if all(c == EXIT_COMPLETE for c in codes):
    return EXIT_COMPLETE
  if all(c in (EXIT_COMPLETE, EXIT_INTERRUPTED) for c in codes):
    return EXIT_INTERRUPTED
  return EXIT_FAILURE


def _exit_code(r: _Run) -> int:
  return {'completed': EXIT_COMPLETE, 'interrupted': EXIT_INTERRUPTED}.get(
      r.status, EXIT_FAILURE)


def _train(instances: list, batch: _States, signals, display, processes) -> None:
  """The chunk loop over every instance; sets each instance's final status.

  Instances step together (one call for all when vmapped), each with its own
  iteration count, so each keeps its own budgets, chunks and evaluations.
  """
  step = 100

  def report_progress(inst, force=False):
    if not processes.primary:
      return
    p = inst.r.progress()
    write_json_atomic(inst.progress_path, p)
    if inst is instances[0]:
      display.update(p, force)

  def diverged(inst, what):
    r, solver = inst.r, inst.solver
    last = r.last_checkpoint['path'] if r.last_checkpoint else 'none yet'
    return TrainingFailure(
        f'the solver diverged: {what} at iteration {r.iteration} ({solver.algorithm} '
        f'{solver.hyperparameters}, {r.config.dtype}); not saved; last good checkpoint: '
        f'{last}')

  def evaluate(k, inst):
    r = inst.r
    value = cfr_jax.exploitability(inst.solver.game,
                                   inst.solver.average_policy(batch.get(k)))
    if not math.isfinite(value):
      raise diverged(inst, f'exploitability is {value}')
    r.exploitability, r.exploitability_iteration = value, r.iteration
    extra = {}
    if getattr(inst.solver.game, 'bucket', None) is not None:  # a bucketed hold'em subgame
      extra['abstract_exploitability'] = cfr_jax.abstract_exploitability(
          inst.solver.game, inst.solver.average_policy(batch.get(k)))
    inst.metrics.write(r.iteration, exploitability=value, elapsed_seconds=r.elapsed(),
                       solve_seconds=r.solve_seconds, **extra)

  def end_chunk(k, inst):
    """Final evaluation if done, save, metrics, progress, rebuild from the save."""
    r = inst.r
    inst.in_chunk = False
    if r.exploitability_iteration != r.iteration and done(inst):
      evaluate(k, inst)  # the final value, however the run ends
    state = batch.get(k)
    if not _finite(state):
      raise diverged(inst, 'non-finite regrets or strategy sums')
    path = inst.store.save(state, r.iteration, {
        'elapsed_seconds': r.elapsed(), 'exploitability': r.exploitability,
        'exploitability_iteration': r.exploitability_iteration,
        'describe': inst.solver.describe()})  # says why a foreign restore is refused
    r.last_checkpoint = {'iteration': r.iteration, 'path': path}
    inst.metrics.write(r.iteration, iterations_per_second=r.rate(),
                       elapsed_seconds=r.elapsed(), chunk=r.chunk)
    report_progress(inst, force=True)
    # Rebuild from the checkpoint: frees the chunk's buffers and proves the save loads.
    del state
    if not batch.vmapped:
      batch.drop()
    state, rebuilt = inst.store.restore(inst.solver.abstract_state())
    if state is None or int(state.iteration) != r.iteration:
      raise checkpoint_lib.CheckpointError(
          f'the checkpoint just saved at iteration {r.iteration} does not restore '
          f'(got {rebuilt.restored_from})')
    batch.replace(k, state)

  def done(inst) -> bool:
    r = inst.r
    return (r.iteration >= r.config.max_iterations or
            r.elapsed() >= r.config.time_budget_minutes * 60)

  def fail(inst, e):
    r = inst.r
    r.status, r.error = 'failed', f'{type(e).__name__}: {e}'
    if processes.primary:
      write_json_atomic(inst.progress_path, r.progress())
    prefix = f'instance {instances.index(inst)}: ' if batch.vmapped else ''
    print(f'{prefix}error: {e}', file=sys.stderr)

  def guarded(k, inst, fn):
    try:
      fn(k, inst)
    except (TrainingFailure, checkpoint_lib.CheckpointError, OSError) as e:
      fail(inst, e)

  def live():
    return [(k, i) for k, i in enumerate(instances) if i.r.status == 'running']

  for inst in instances:
    report_progress(inst, force=True)
  while True:
    stop, step = processes.turn(signals, instances[0].r, step)
    if stop:
      break
    for k, inst in live():
      r, config = inst.r, inst.r.config
      if inst.in_chunk and (
          done(inst) or r.iteration - inst.chunk_start_iteration >= config.chunk_iterations
          or r.clock() - r.chunk_started >= config.chunk_minutes * 60):
        guarded(k, inst, end_chunk)
      if r.status == 'running' and not inst.in_chunk and not done(inst):
        r.chunk += 1
        r.chunk_started = r.clock()
        inst.chunk_start_iteration = r.iteration
        inst.in_chunk = True
    active = [(k, i) for k, i in live() if i.in_chunk and not done(i)]
    if not active:
      break
    counts = [0] * len(instances)
    for k, inst in active:
      r, config = inst.r, inst.r.config
      chunk_left = inst.chunk_start_iteration + config.chunk_iterations - r.iteration
      next_eval = (r.iteration // config.eval_every + 1) * config.eval_every
      n = min(step, chunk_left, config.max_iterations - r.iteration, next_eval - r.iteration)
      if r.rate():  # do not overshoot the time budget by more than a moment
        budget = config.time_budget_minutes * 60
        n = max(1, min(n, int(r.rate() * (budget - r.elapsed())) + 1))
      counts[k] = n
    start = time.monotonic()
    batch.step(counts)
    took = time.monotonic() - start
    for k, inst in active:
      r, config = inst.r, inst.r.config
      r.iteration += counts[k]
      r.solve_seconds += took
      r.solve_iterations += counts[k]
      if r.iteration % config.eval_every == 0 or r.iteration == config.max_iterations:
        guarded(k, inst, evaluate)
      if r.status == 'running':
        report_progress(inst)
    # Steps of at most about a second: progress and signals are handled
    # promptly, yet never per handful of iterations (>= 100 per step).
    n = max(counts)
    target = min(1.0, instances[0].r.config.progress_seconds / 4)
    step = int(min(max(100, n / max(took, 1e-6) * target), 10 ** 7))
  for k, inst in live():
    if inst.in_chunk:
      guarded(k, inst, end_chunk)
  for inst in instances:
    r = inst.r
    prefix = f'instance {instances.index(inst)}: ' if batch.vmapped else ''
    if r.status != 'running':
      continue
    if signals.received is not None and not done(inst):
      r.status = 'interrupted'
      report_progress(inst, force=True)
      print(f'{prefix}interrupted by {signals.received} at iteration {r.iteration}; saved to '
            f'{r.last_checkpoint["path"] if r.last_checkpoint else "-"}; run the same '
            'command again to resume', file=sys.stderr)
      continue
    r.status = 'completed'
    report_progress(inst, force=True)
    why = 'iteration budget' if r.iteration >= r.config.max_iterations else 'time budget'
    print(f'{prefix}completed ({why}): iteration {r.iteration}, exploitability '
          f'{r.exploitability:.4e}, checkpoints in {inst.store.directory}', flush=True)


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
