"""The run loop: restore -> chunks under budgets -> save -> progress, resumable.

`run(config, workdir)` is what `launch/train.py` and notebooks call; it returns
an exit code (see `EXIT_*`). Every chunk ends in a verified checkpoint, so a
run killed at any moment continues from its last complete chunk, and since
`Solver.run` is chunking-invariant, the final state is bit for bit the one an
uninterrupted run reaches (on CPU).
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging as std_logging
import math
import os
import shlex
import socket
import sys
import threading
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
from cfr_jax.holdem import subgame as subgame_lib
from cfr_jax.training.config import (
    EXIT_COMPLETE, EXIT_FAILURE, EXIT_INTERRUPTED, ConfigError, TrainingFailure, _distributed,
    _instance_configs, _split, build_solver, check_run_shape, check_workdir,
    initialize_distributed, mirror_dir, path_problem, target, unread_fields, use_compilation_cache,
    validate)
from cfr_jax.training.outputs import (FOUND_CONFIG, MetricsWriter, _Display, read_text,
                                      replace_config, write_json_atomic, write_starting,
                                      write_text_atomic)
from cfr_jax.training import resume as resume_lib
from cfr_jax.training.resume import _foreign_reasons, restore_state
from cfr_jax.training import game_cache
from cfr_jax.training import lock as lock_lib
from cfr_jax.training.instances import check_memory, run_instances
from cfr_jax.training.signals import StopSignals


@dataclasses.dataclass
class _Run:
  """Mutable bookkeeping of one training process (the solver state is not here)."""
  config: Any
  workdir: str
  started: float
  elapsed_before: float
  restored_from: dict | None
  rejected: list
  restore_warnings: list = dataclasses.field(default_factory=list)
  compile_seconds: float = 0.0  # start-up compilation, not charged to the budget
  compilations: Any = None  # _Compilations since start-up
  status: str = 'running'
  chunk: int = 0
  chunk_started: float = 0.0
  iteration: int = 0
  solve_seconds: float = 0.0  # time inside jitted steps, this process
  solve_iterations: int = 0
  exploitability: float | None = None
  exploitability_iteration: int | None = None
  # Games that do not compile: the solver's `evaluate` (head-to-head play
  # against uniform and against the previous evaluation's policy) instead of
  # exact exploitability, with the iteration it was measured at.
  evaluation: dict | None = None
  last_checkpoint: dict | None = None
  error: str | None = None
  clock: Any = time.monotonic  # `_Processes.now` under jax.distributed

  def elapsed(self) -> float:
    return self.elapsed_before + self.clock() - self.started

  def rate(self) -> float | None:
    return self.solve_iterations / self.solve_seconds if self.solve_seconds > 0 else None

  def target_met(self) -> bool:
    """Whether the last evaluation met the config's exploitability target."""
    goal = target(self.config)
    return goal is not None and self.exploitability is not None and self.exploitability <= goal

  def pot_percent(self) -> float | None:
    """The last exploitability as a percentage of a hold'em subgame's pot."""
    holdem = self.config.get('holdem') if self.config.game == 'holdem' else None
    if self.exploitability is None or holdem is None or not float(holdem.pot) > 0:
      return None
    return 100 * self.exploitability / float(holdem.pot)

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
        # 0 before this process's first chunk (a run resumed at its end runs none)
        'elapsed_seconds_chunk': self.clock() - self.chunk_started if self.chunk else 0.0,
        'elapsed_seconds': self.elapsed(), 'time_budget_seconds': budget,
        'time_budget_left_seconds': time_left, 'eta_seconds': eta,
        'exploitability': self.exploitability,
        'exploitability_iteration': self.exploitability_iteration,
        'exploitability_pot_percent': self.pot_percent(),
        'target_exploitability': target(self.config),
        'evaluation': self.evaluation,
        'last_checkpoint': self.last_checkpoint, 'restored_from': self.restored_from,
        'rejected': self.rejected, 'restore_warnings': self.restore_warnings,
        'compile_seconds': self.compile_seconds,
        'compiled_programs': self.compilations.programs if self.compilations else None,
        'compile_cache_hits': self.compilations.cache_hits if self.compilations else None,
        'game': self.config.game,
        'algorithm': self.config.algorithm, 'workdir': self.workdir,
        'error': self.error, 'pid': os.getpid(),
        'updated_at': time.strftime('%Y-%m-%dT%H:%M:%S%z')}


def _prepare_workdir(workdir: str, what: str = 'workdir', made: list | None = None) -> str:
  """The directory, made and proved writable; else a ConfigError (one line).
  made: a list, gets (the directory, the outermost one made) if made here."""
  workdir = os.path.abspath(os.path.expanduser(workdir))
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f'{what} {workdir} is not a directory')
  outermost = workdir
  while not os.path.exists(os.path.dirname(outermost)):
    outermost = os.path.dirname(outermost)
  try:
    if not os.path.exists(workdir):
      os.makedirs(workdir, exist_ok=True)
      if made is not None:
        made.append((workdir, outermost))
    probe = os.path.join(workdir, f'.write_probe.{socket.gethostname()}.{os.getpid()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as e:
    raise ConfigError(f'cannot write to {what} {workdir}: {_unusable(workdir, e)}') from None
  return workdir


def _unusable(path: str, error: OSError) -> str:
  """Why `path` cannot be made or written: `path_problem`'s answer, else the
  error's (and the path it names, where another)."""
  where = error.filename if error.filename not in (None, path) else None
  return path_problem(path) or f'{error.strerror or error}' + (f' ({where})' if where else '')


def _prepare_mirror(config, made: list | None = None) -> None:
  """config.mirror_to, like the workdir, must be a directory this process can
  write: refused before anything runs, not an error logged at every save."""
  if config.get('mirror_to'):
    _prepare_workdir(config.mirror_to, 'config.mirror_to', made)


# What a run writes in its workdir: a directory, or files (written atomically
# through a temporary file beside them).
OUTPUTS = (('checkpoints', True), ('config.json', False), ('progress.json', False),
           ('metrics.jsonl', False))


def _check_outputs(workdir: str) -> None:
  """ConfigError if one of the run's outputs exists as the wrong kind: a
  `checkpoints` file made the run start afresh (moving the metrics aside as
  another run's) and fail at its first save, a chunk later; a directory in
  place of a file failed after compiling and restoring."""
  workdir = os.path.abspath(os.path.expanduser(workdir))
  for name, directory in OUTPUTS:
    path = os.path.join(workdir, name)
    if os.path.lexists(path) and os.path.isdir(path) != directory:
      kind = ('is not a directory, where the run keeps its checkpoints' if directory else
              'is a directory, where the run writes a file')
      raise ConfigError(f'{path} {kind}: move it away and run again')


def _check_early(config, workdir: str) -> None:
  """Every check that needs neither a directory nor the game, done before
  anything is created (`_undo_on_config_error` takes back what a mistake
  found later leaves)."""
  check_workdir(workdir)
  validate(config)
  check_run_shape(config, workdir)
  _check_outputs(workdir)
  checkpoints = os.path.join(os.path.abspath(os.path.expanduser(workdir)), 'checkpoints')
  if mirror_dir(config) == checkpoints:
    raise ConfigError(f'config.mirror_to={config.mirror_to!r}: mirror_to must differ from '
                      f'the primary directory ({checkpoints})')
  if config.num_instances > 1 or config.sweep_field:
    if config.get('instances_mode', 'process') == 'vmap':
      _check_vmap_sweep(config)
    else:
      check_memory(config)
    _instance_configs(config)  # each validated


def _tree(directory: str) -> set:
  """Every path under `directory` (files and directories)."""
  return {os.path.join(d, n) for d, dirs, files in os.walk(directory) for n in dirs + files}


# What a run writes before it has run anything: its lock, config.json, a
# 'starting' progress.json, and an instance's log (the parent prints the
# error line it holds).
_DEBRIS = (lock_lib.LOCK_NAME, 'config.json', 'progress.json', 'log.txt')


@contextlib.contextmanager
def _undo_on_config_error(config, workdir: str, made: list):
  """A ConfigError out of the body (a mistake only found once the workdir is
  made and locked: an unknown game, a hold'em board, an instance's config)
  leaves the disk as it was: the files the body added to `workdir`, when
  they are only a lock, config.json and logs (nothing was run), are removed,
  and so are the directories in `made` (made by this invocation, see
  `_prepare_workdir`) once empty. Nothing else is: a pre-existing workdir, a
  checkpoint, any other file stays; a progress.json the start rewrote
  ('starting') says again what it said. Nothing is removed when another
  launcher holds the workdir, nor under jax.distributed (its processes share it)."""
  before = _tree(workdir)
  said = {p: read_text(p) for p in before if os.path.basename(p) == 'progress.json'}
  try:
    yield
  except lock_lib.WorkdirLocked:
    raise
  except ConfigError:
    if not _distributed(config):
      _remove_added(_tree(workdir) - before, made)
      for path, text in said.items():
        if text is not None and read_text(path) != text:
          with contextlib.suppress(OSError):
            write_text_atomic(path, text)
    raise


def _remove_added(added: set, made: list) -> None:
  """Removes the paths `added` (then the directories `made`, once empty)
  when they are only directories and `_DEBRIS`, and every lock among them
  can be taken: a lock that another launcher took meanwhile (started on an
  instance's folder, say) keeps its workdir whole, so that no second
  launcher could ever take that folder beside it."""
  if not all(os.path.isdir(p) or os.path.basename(p) in _DEBRIS for p in added):
    return
  with contextlib.ExitStack() as held:
    try:
      for path in added:
        if os.path.basename(path) == lock_lib.LOCK_NAME:
          held.enter_context(lock_lib.WorkdirLock(os.path.dirname(path)))
    except ConfigError:  # held by a live process (or unreadable): nothing is removed
      return
    for path in sorted(added, key=len, reverse=True):  # files and inner directories first
      with contextlib.suppress(OSError):
        (os.rmdir if os.path.isdir(path) else os.remove)(path)
  for directory, outermost in reversed(made):  # the last made first
    _remove_empty(directory, outermost)


def _remove_empty(directory: str, top: str) -> None:
  """Removes `directory` and its parents up to `top`, while they are empty."""
  while True:
    try:
      os.rmdir(directory)
    except OSError:
      return
    if directory == top:
      return
    directory = os.path.dirname(directory)


def run(config: ml_collections.ConfigDict, workdir: str, given=()) -> int:
  """Trains under `config` in `workdir`; returns an `EXIT_*` code.

  Raises ConfigError for user mistakes (the launcher prints it in one line).
  With `config.distributed.enabled`, every process of the job calls it alike
  and they train one state together (see `initialize_distributed`).
  given: the fields set explicitly (cfr-train's --config.<field> flags): one
  that the run's algorithm does not read is noted even at a shipped value.
  """
  _check_early(config, workdir)
  for line in unread_fields(config, given):  # before the run's output, where it is seen
    print(f'note: {line}', file=sys.stderr, flush=True)
  initialize_distributed(config)  # before anything else touches JAX
  made = []
  workdir = _prepare_workdir(workdir, made=made)
  use_compilation_cache(config)
  try:
    with _undo_on_config_error(config, workdir, made):
      _prepare_mirror(config, made)
      with _locked([workdir]):
        return _run_locked(config, workdir)
  finally:
    # The run's closures and solvers hold device arrays in reference cycles:
    # free them now, while the runtime is whole, rather than at interpreter
    # teardown, where freeing arrays raced XLA's threads (see
    # signals.exit_process, which launcher processes end with).
    gc.collect()


def _run_locked(config: ml_collections.ConfigDict, workdir: str) -> int:
  if config.num_instances > 1 or config.sweep_field:
    if config.get('instances_mode', 'process') == 'vmap':
      return _run_vmapped(config, workdir)
    return run_instances(config, workdir)
  if _distributed(config) and config.devices == 1:
    # One device of one process would leave the others idle: 1 means all here.
    config = ml_collections.ConfigDict(json.loads(config.to_json()))
    config.devices = 0
  return _run_batch([config], [workdir], vmapped=False)


@contextlib.contextmanager
def _locked(workdirs: list):
  """Holds every workdir's lock (`lock.WorkdirLock`) for the body.

  Under jax.distributed only process 0 holds it (the others share its
  workdir); they all learn whether it could, and refuse together.
  A child instance waits a while for its directory (`CFR_JAX_LOCK_WAIT`):
  the children of a killed parent may still be saving there.
  """
  wait = float(os.environ.get('CFR_JAX_LOCK_WAIT', '0') or 0)
  with contextlib.ExitStack() as stack:
    error = None
    if jax.process_index() == 0:
      try:
        for d in workdirs:
          stack.enter_context(contextlib.closing(lock_lib.WorkdirLock(d).acquire(wait)))
      except ConfigError as e:
        error = e
    if jax.process_count() > 1:
      ok = multihost_utils.broadcast_one_to_all(np.int32(error is None))
      if error is None and not int(ok):
        error = ConfigError(f'process 0 could not lock the workdir {workdirs[0]}')
    if error is not None:
      raise error
    yield


def run_vmapped(config: ml_collections.ConfigDict, workdir: str) -> int:
  """Runs the instances of `config` as one vmapped program on one device.

  Each instance keeps what the process mode gives it: `<workdir>/instance_<k>/`
  with its config, checkpoints, progress.json and metrics. Instances may differ
  only by seed and the traced hyperparameters (alpha, beta, gamma): anything
  else changes the compiled program (ConfigError). Each instance computes what
  its separate run computes, to float rounding, not bit for bit (see
  `Solver.run_many`).
  """
  _check_early(config, workdir)
  made = []
  workdir = _prepare_workdir(workdir, made=made)
  use_compilation_cache(config)
  with _undo_on_config_error(config, workdir, made):
    _prepare_mirror(config, made)
    with _locked([workdir]):
      return _run_vmapped(config, workdir)


def _check_vmap_sweep(config) -> None:
  for field in ('game', 'algorithm', 'alternating', 'dtype', 'devices'):
    if config.sweep_field == field:
      raise ConfigError(f'config.instances_mode=vmap cannot sweep config.{field} (it '
                        "changes the compiled program); sweep alpha, beta, gamma or seed, "
                        "or use instances_mode=process")


def _run_vmapped(config, workdir: str) -> int:
  configs = _instance_configs(config)  # (checked by `_check_early`)
  workdirs = []
  for k, c in enumerate(configs):
    d = os.path.join(workdir, f'instance_{k}')
    os.makedirs(d, exist_ok=True)
    workdirs.append(d)
  with _locked(workdirs):  # a launcher aimed at one instance directory is refused too
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
  # Games measured by play: (iteration, policy) of the previous evaluation (or
  # of the restored checkpoint), the opponent of the next one.
  previous: Any = None
  # config.json as this start found it, where it differs from this run's: the
  # config of the run whose checkpoints and metrics may be left here.
  found_config: str | None = None


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
  """Restores, trains and saves every instance (one, or many vmapped).

  A write error of progress, metrics or config (a full disk) ends the run like
  a failed save: one line, exit 2, the last checkpoint kept, no temp files.
  """
  began = time.monotonic()
  primary = jax.process_index() == 0

  def starting():  # progress.json says so until the first chunk (`write_starting`)
    if primary:
      for config, workdir in zip(configs, workdirs):
        write_starting(workdir, config, time.monotonic() - began)

  try:
    starting()
    # A flop subgame takes ~10 s to build: said before, timed after.
    game, spec = configs[0].game, configs[0].get('holdem')
    if game == 'holdem' and spec is not None:
      game = f"the hold'em subgame on {spec.get('board')}"
    print(f'building {game}...', flush=True)
    game_cache.outcomes.clear()
    solvers = [build_solver(c) for c in configs]
    print(game_cache.built_text(time.monotonic() - began), flush=True)
    spec = getattr(getattr(solvers[0].game, 'info', None), 'spec', None)
    if isinstance(spec, dict) and spec.get('game') == 'holdem':  # what the size strings became
      print(f'betting: {subgame_lib.betting_text(spec)}', flush=True)
    processes = _Processes()
    with contextlib.ExitStack() as stack:
      return _run_batch_in(stack, configs, workdirs, vmapped, solvers, processes, starting)
  except OSError as e:  # progress, metrics or config could not be written
    where = getattr(e, 'filename', None) or "the run's files"
    print(f'error: cannot write {where}: {e.strerror or e}; the run '
          'stopped, its last checkpoint is kept: free the space (or fix the path) and run '
          'the same command again to resume', file=sys.stderr)
    return EXIT_FAILURE


def _print_restore(tag: str, report, r: _Run, store) -> None:
  """What restore found, in a few lines; loud only when progress was lost."""
  for rejected in r.rejected:
    print(f"{tag}skipped checkpoint {rejected['path']}: {rejected['reason']}", flush=True)
  for warning in r.restore_warnings:
    print(f"{tag}warning: checkpoint {warning['path']}: {warning['warning']}", flush=True)
  if report.restored_from is not None:
    print(f'{tag}resumed from {report.restored_from} (iteration {report.iteration})',
          flush=True)
  elif report.candidates:
    print(f'{tag}STARTING FRESH: {len(report.candidates)} checkpoint(s) found in '
          f'{store.directory} or the extra locations, none usable by this run (reasons '
          'above); they are left where they are', flush=True)
  else:
    print(f'{tag}new run in {r.workdir}', flush=True)


def _run_batch_in(stack, configs, workdirs, vmapped, solvers, processes, starting) -> int:
  # Several processes: SIGTERM stays with JAX's preemption service (see _Processes).
  signals = stack.enter_context(StopSignals(sigterm=processes.count == 1 or not (
      jax.config.jax_enable_preemption_service)))
  compiled = _Compilations.start()
  compiling = lambda: (_heartbeat(configs[0].progress_seconds, compiled, on_beat=starting)
                       if processes.primary else contextlib.nullcontext())
  with compiling():
    compile_seconds = _compile_first(solvers[0], vmapped, processes.primary)
  instances, states = [], []
  for config, workdir, solver in zip(configs, workdirs, solvers):
    tag = f'instance {len(instances)}: ' if vmapped else ''
    fingerprint = checkpoint_lib.make_fingerprint(**solver.describe())
    extra = _split(config.extra_locations)
    for location in extra:
      if processes.primary and not os.path.isdir(location):
        what = 'is not a directory' if os.path.exists(location) else 'does not exist'
        print(f'{tag}note: extra location {location} {what}; nothing to restore '
              'from there', flush=True)
    try:
      store = stack.enter_context(checkpoint_lib.CheckpointStore(
          os.path.join(workdir, 'checkpoints'), extra_locations=extra,
          fingerprint=fingerprint,
          mirror_to=mirror_dir(config),
          max_to_keep=int(config.keep_checkpoints)))
    except ValueError as e:  # mirror_to is the checkpoint directory itself
      raise ConfigError(f'config.mirror_to={config.mirror_to!r}: {e} '
                        f'({os.path.join(workdir, "checkpoints")})') from None
    found_config = replace_config(workdir, config.to_json(indent=1)) if (
        processes.primary) else None
    with _absl_quiet():  # every candidate is reported below, once
      state, report = restore_state(store, solver)
    meta = report.metadata or {}
    r = _Run(config=config, workdir=workdir, started=0.0, clock=processes.now,
             elapsed_before=float(meta.get('elapsed_seconds') or 0.0),
             restored_from=(None if report.restored_from is None else
                            {'path': report.restored_from, 'iteration': report.iteration}),
             # The checkpoint holding the state until this process saves one
             # (an interruption before then said "saved to -")
             last_checkpoint=(None if report.restored_from is None else
                              {'iteration': report.iteration, 'path': report.restored_from}),
             rejected=[{'path': c.path, 'reason': '; '.join(
                 c.reasons + _foreign_reasons(c, solver))} for c in report.candidates
                       if c.status in ('rejected', 'foreign', 'unverified')],
             restore_warnings=[{'path': p, 'warning': w} for p, w in report.warnings
                               if p == report.restored_from])
    _print_restore(tag, report, r, store)  # every process: each has its own log
    note = getattr(getattr(solver.game, 'info', None), 'isomorphism', None)  # hold'em subgames
    if note and not note.startswith('none') and processes.primary:
      print(f'{tag}chance isomorphism {note}', flush=True)
    if report.restored_from is not None:
      r.exploitability = meta.get('exploitability')
      r.exploitability_iteration = meta.get('exploitability_iteration')
      r.evaluation = meta.get('evaluation')
    if state is None:
      state = solver.init()
      if solver.mesh is None:
        # Committed to its device like a restored state, so the first chunk's
        # compilation also serves every chunk after a reload from checkpoint.
        state = jax.device_put(state, jax.local_devices()[0])
    states.append(state)
    r.iteration = int(states[-1].iteration)
    instances.append(_Instance(solver=solver, store=store, r=r,
                               progress_path=os.path.join(workdir, 'progress.json'),
                               found_config=found_config))
    if _by_play(solver) and report.restored_from is not None:
      instances[-1].previous = (r.iteration, solver.snapshot(state))
  for inst in instances:  # opened before compiling: a bad metrics path fails at once
    inst.metrics = stack.enter_context(contextlib.closing(
        MetricsWriter(inst.r.workdir, run=inst.store.fingerprint[:16],
                      fresh=inst.r.restored_from is None)
        if processes.primary else _NoMetrics()))
    if getattr(inst.metrics, 'moved_aside', None):
      whose = ('of an earlier start of this run, which left no checkpoint to resume from,'
               if inst.metrics.moved_own else 'of another run')
      print(f'metrics {whose} moved from {inst.r.workdir} to {inst.metrics.moved_aside}',
            flush=True)
      if inst.found_config is not None:  # that run's config, which this start replaced
        aside = inst.metrics.moved_aside.replace('metrics.before-', 'config.before-')
        aside = aside[:-len('.jsonl')] + '.json'
        write_text_atomic(aside, inst.found_config)
        print(f'its config.json kept as {aside}', flush=True)
    if inst.found_config is not None:  # decided: kept above, or this run's own
      with contextlib.suppress(OSError):
        os.remove(os.path.join(inst.r.workdir, FOUND_CONFIG))
  batch = _States(solvers[0], states, vmapped)
  del states
  if vmapped:
    batch.set_hyperparameters(solvers)
  # Compile the solver step and the evaluator before the clock starts: the
  # time budget counts training (steps, evaluations, saves), not start-up.
  # (A single solver's are compiled already: these calls find them.)
  began = time.monotonic()
  with compiling():
    batch.step([0] * len(instances))
    if _by_play(solvers[0]):
      state = batch.get(0)
      solvers[0].evaluate(state, solvers[0].snapshot(state))  # both of its programs
    elif isinstance(solvers[0], solver_lib.Solver):  # what evaluations run (no [I, A] table
      _exploitability(solvers[0], batch.get(0))       # on split subgames)
    else:
      cfr_jax.exploitability(solvers[0].game, cfr_jax.uniform_policy(solvers[0].game))
  compile_seconds += time.monotonic() - began
  for inst in instances:
    inst.r.compile_seconds, inst.r.compilations = compile_seconds, compiled
  if processes.primary:
    cache = _cache_dir()
    print(f'compiled in {compile_seconds:.1f} s: {compiled.programs} program(s) compiled, '
          f'{compiled.cache_hits} loaded from the compilation cache'
          f'{f" ({cache})" if cache else " (off)"}', flush=True)
  processes.turn(signals, instances[0].r, 0)  # the same start on every process
  started = processes.now()
  for inst in instances:
    inst.r.started = started
  if processes.primary:
    signals.on_exit_now.append(lambda: _mark_interrupted(instances))
  display = _Display(configs[0].progress_seconds)
  stack.callback(display.close)
  _train(instances, batch, signals, display, processes)
  codes = [_exit_code(inst.r) for inst in instances]
  if all(c == EXIT_COMPLETE for c in codes):
    return EXIT_COMPLETE
  if all(c in (EXIT_COMPLETE, EXIT_INTERRUPTED) for c in codes):
    return EXIT_INTERRUPTED
  return EXIT_FAILURE


def _cache_dir() -> str | None:
  """JAX's persistent compilation cache directory; None where it is off."""
  return jax.config.jax_compilation_cache_dir if (
      jax.config.jax_enable_compilation_cache) else None


def _compile_first(solver, vmapped: bool, primary: bool) -> float:
  """Compiles a single solver's step and evaluator before its state exists
  (`Solver.compile`: a big program's compilation peaks at ~1 GB of host
  memory that then does not sit on the state), for the states this run
  holds: what a restore gives (`checkpoint.abstract`), sharded over its mesh
  or committed to this process's first device; a fresh state is put there
  too. Seconds."""
  if vmapped or not isinstance(solver, solver_lib.Solver):
    return 0.0
  if primary:  # a flop's first compilation takes minutes; restore comes after it
    cache = _cache_dir()
    print('compiling... (a new shape can take minutes: ~1-2 for a flop subgame on a 2-core '
          'CPU' + (f'; later starts load it from the compilation cache in {cache})'
                   if cache else ')'), flush=True)
  began = time.monotonic()
  solver.compile(checkpoint_lib.abstract(solver.abstract_state()))
  return time.monotonic() - began


# The shortest time between two "still compiling" lines (progress_seconds
# sets it, but a log needs no line a second for a minute of compilation).
MIN_HEARTBEAT_SECONDS = 15.0


@contextlib.contextmanager
def _heartbeat(every: float, compiled: '_Compilations', out=None, on_beat=None):
  """Prints how long the block has been compiling every `every` seconds
  (at least `MIN_HEARTBEAT_SECONDS`) until it ends: a flop subgame's first
  compilation is one to two minutes in which nothing else is printed, which a
  user, or a job watcher reading the log, cannot tell from a hang. `compiled`
  counts the programs ready so far. Lines go to `out` (default stdout) from a
  daemon thread; one that cannot be written (a closed pipe) ends the beats,
  not the run. `on_beat()` runs at each beat too (the run's progress.json,
  whose write errors the run meets again, and reports, at its first chunk)."""
  every = max(float(every), MIN_HEARTBEAT_SECONDS)
  stop = threading.Event()
  began = time.monotonic()

  def beat():
    while not stop.wait(every):
      ready = compiled.programs + compiled.cache_hits
      try:
        print(f'  still compiling: {time.monotonic() - began:.0f} s'
              + (f', {ready} program(s) ready' if ready else ''),
              file=out or sys.stdout, flush=True)
      except (OSError, ValueError):  # stdout closed or gone: stop beating
        return
      if on_beat is not None:
        with contextlib.suppress(OSError, ValueError):
          on_beat()

  thread = threading.Thread(target=beat, name='cfr-compile-heartbeat', daemon=True)
  thread.start()
  try:
    yield
  finally:
    stop.set()
    thread.join()


class _Compilations:
  """XLA compilations and persistent-cache hits of this process since `start`
  (read from jax.monitoring events: deterministic counts, not timings)."""
  _programs = 0
  _hits = 0
  _listening = False

  def __init__(self):
    self._base = (type(self)._programs, type(self)._hits)

  @classmethod
  def start(cls) -> '_Compilations':
    if not cls._listening:
      cls._listening = True

      def on_duration(event, duration, **kwargs):
        del duration, kwargs
        if event == '/jax/core/compile/backend_compile_duration':
          cls._programs += 1

      def on_event(event, **kwargs):
        del kwargs
        if event == '/jax/compilation_cache/cache_hits':
          cls._hits += 1
      jax.monitoring.register_event_duration_secs_listener(on_duration)
      jax.monitoring.register_event_listener(on_event)
    return cls()

  @property
  def programs(self) -> int:
    """Programs XLA compiled (the compile event also fires on a cache hit)."""
    return type(self)._programs - self._base[0] - self.cache_hits

  @property
  def cache_hits(self) -> int:
    return type(self)._hits - self._base[1]


def _mark_interrupted(instances) -> None:
  """progress.json of a run that a second signal ends at once: `interrupted`."""
  for inst in instances:
    if inst.r.status == 'running':
      inst.r.status = 'interrupted'
      try:
        write_json_atomic(inst.progress_path, inst.r.progress())
      except (OSError, ValueError):
        pass


@contextlib.contextmanager
def _absl_quiet():
  """absl warnings off: the caller reports what they would say, once."""
  # The logger's own level, not absl's verbosity: set_verbosity(get_verbosity())
  # would turn an inherited level into a fixed WARNING for the rest of the process.
  logger = logging.get_absl_logger()
  level = logger.level
  logger.setLevel(std_logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def _exit_code(r: _Run) -> int:
  return {'completed': EXIT_COMPLETE, 'interrupted': EXIT_INTERRUPTED}.get(
      r.status, EXIT_FAILURE)


def _train(instances: list, batch: _States, signals, display, processes) -> None:
  """The chunk loop over every instance; sets each instance's final status.

  Instances step together (one call for all when vmapped), each with its own
  iteration count, so each keeps its own budgets, chunks and evaluations.
  """
  # Iterations per step: one at first (an iteration of a flop subgame takes
  # seconds; a step is what a signal waits for), then what fills about a
  # quarter of progress_seconds (at most a second) at the rate measured.
  step = 1

  def report_progress(inst, force=False):
    if not processes.primary:
      return
    p = inst.r.progress()
    write_json_atomic(inst.progress_path, p)  # an OSError fails the instance (guarded)
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
    if _by_play(inst.solver):
      state = batch.get(k)
      scores = inst.solver.evaluate(state, inst.previous and inst.previous[1])
      if not all(math.isfinite(v) for v in scores.values()):
        raise diverged(inst, f'evaluation is {scores}')
      if inst.previous:
        scores['previous_iteration'] = inst.previous[0]
      inst.previous = (r.iteration, inst.solver.snapshot(state))
      r.evaluation = {**scores, 'iteration': r.iteration}
      inst.metrics.write(r.iteration, elapsed_seconds=r.elapsed(),
                         solve_seconds=r.solve_seconds, **scores)
      return
    value = _exploitability(inst.solver, batch.get(k))
    if not math.isfinite(value):
      raise diverged(inst, f'exploitability is {value}')
    r.exploitability, r.exploitability_iteration = value, r.iteration
    extra = {}
    if getattr(inst.solver.game, 'bucket', None) is not None:  # a bucketed hold'em subgame
      extra['abstract_exploitability'] = _exploitability(inst.solver, batch.get(k), True)
    inst.metrics.write(r.iteration, exploitability=value, elapsed_seconds=r.elapsed(),
                       solve_seconds=r.solve_seconds, **extra)

  def end_chunk(k, inst):
    """Final evaluation if done, save, metrics, progress, the save read back."""
    r = inst.r
    inst.in_chunk = False
    evaluated = (r.evaluation or {}).get('iteration') if _by_play(
        inst.solver) else r.exploitability_iteration
    if evaluated != r.iteration and done(inst):
      evaluate(k, inst)  # the final value, however the run ends
    state = batch.get(k)
    if not resume_lib.finite(state):
      raise diverged(inst, 'non-finite values in its state')
    with _absl_quiet():  # what it moves aside was reported at restore
      path = inst.store.save(state, r.iteration, {
          'elapsed_seconds': r.elapsed(), 'exploitability': r.exploitability,
          'exploitability_iteration': r.exploitability_iteration,
          'evaluation': r.evaluation,
          'describe': inst.solver.describe()})  # says why a foreign restore is refused
    r.last_checkpoint = {'iteration': r.iteration, 'path': path}
    inst.metrics.write(r.iteration, iterations_per_second=r.rate(),
                       elapsed_seconds=r.elapsed(), chunk=r.chunk)
    report_progress(inst, force=True)
    # Prove the save loads: read it back in slices and go on with the state
    # in memory, equal to it byte for byte (a load would hold the state beside
    # a copy of its largest array); where a process cannot tell, load it.
    same = inst.store.reads_back_as(path, state)
    if same is False:
      raise checkpoint_lib.CheckpointError(
          f'the checkpoint just saved at {path} does not read back as the state saved')
    del state
    if same:
      return
    if not batch.vmapped:
      batch.drop()
    state = inst.store.load(path, inst.solver.abstract_state())
    if int(state.iteration) != r.iteration:
      raise checkpoint_lib.CheckpointError(
          f'the checkpoint just saved at iteration {r.iteration} restores as iteration '
          f'{int(state.iteration)}')
    batch.replace(k, state)

  def done(inst) -> bool:
    r = inst.r
    return (r.iteration >= r.config.max_iterations or
            r.elapsed() >= r.config.time_budget_minutes * 60 or r.target_met())

  def fail(inst, e):
    r = inst.r
    r.status, r.error = 'failed', f'{type(e).__name__}: {e}'
    if isinstance(e, OSError) and not isinstance(e, checkpoint_lib.CheckpointError):
      # progress.json or metrics could not be written (a full disk, ...)
      where = getattr(e, 'filename', None) or "the run's files"
      e = (f'cannot write {where}: {e.strerror or e}; the last checkpoint is kept: free '
           'the space (or fix the path) and run the same command again to resume')
    if processes.primary:
      try:  # best effort: the disk may be what failed
        write_json_atomic(inst.progress_path, r.progress())
      except (OSError, ValueError):
        pass
    prefix = f'instance {instances.index(inst)}: ' if batch.vmapped else ''
    print(f'{prefix}error: {e}', file=sys.stderr)

  def guarded(k, inst, fn):
    try:
      fn(k, inst)
    except (TrainingFailure, checkpoint_lib.CheckpointError, OSError) as e:
      fail(inst, e)

  def live():
    return [(k, i) for k, i in enumerate(instances) if i.r.status == 'running']

  for k, inst in enumerate(instances):
    guarded(k, inst, lambda k, inst: report_progress(inst, force=True))
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
        guarded(k, inst, lambda k, inst: report_progress(inst))
    # Steps of at most about a second, however slow an iteration: progress
    # and signals are handled promptly (a floor of 100 iterations per step
    # made a flop run's SIGTERM wait for a whole 20-iteration chunk, ~40-60
    # s, past the 30 s a scheduler's grace period often gives). Fast games
    # still take thousands of iterations per step.
    n = max(counts)
    seconds = min(1.0, instances[0].r.config.progress_seconds / 4)
    step = int(min(max(1, n / max(took, 1e-6) * seconds), 10 ** 7))
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
    if r.target_met():
      percent = r.config.get('target_pot_percent', 0.0)
      why = (f'exploitability target, {percent:g}% of the pot' if percent else
             f'exploitability target, {target(r.config):g} chips')
    elif r.iteration > r.config.max_iterations:  # resumed past a lowered budget: nothing ran
      why = (f'iteration budget: the run was already past config.max_iterations='
             f'{r.config.max_iterations}; raise it to train on')
    else:
      why = 'iteration budget' if r.iteration >= r.config.max_iterations else 'time budget'
    print(f'{prefix}completed ({why}) at iteration {r.iteration}: '
          f'{_exploitability_text(r)}\n{_where_text(inst)}', flush=True)


def _exploitability(solver, state, abstract: bool = False) -> float:
  """The exact (or abstract) exploitability of `state`'s average strategy:
  tabular solvers compute it without an [I, A] table where they can
  (`Solver.exploitability`), the others through their average policy."""
  if isinstance(solver, solver_lib.Solver):
    return solver.exploitability(state, abstract)
  evaluate = cfr_jax.abstract_exploitability if abstract else cfr_jax.exploitability
  return evaluate(solver.game, solver.average_policy(state))


def _by_play(solver) -> bool:
  """A solver of a game that does not compile: progress is measured by play."""
  return solver.game is None and hasattr(solver, 'evaluate')


def _exploitability_text(r: _Run) -> str:
  """The final exploitability with its unit (and the pot's share in hold'em)."""
  if r.evaluation is not None:  # a game that does not compile
    e = r.evaluation
    text = (f'head-to-head against the uniform policy {e["vs_uniform"]:+.4f} '
            f'+- {e["vs_uniform_se"]:.4f} per game (standard error; no exact '
            'exploitability: the game does not compile)')
    if 'vs_previous' in e:
      text += (f', against iteration {e["previous_iteration"]}\'s policy '
               f'{e["vs_previous"]:+.4f} +- {e["vs_previous_se"]:.4f}')
    return text
  if r.exploitability is None:
    return 'exploitability not evaluated'
  text = f'exploitability {r.exploitability:.4e} chips (NashConv / 2, exact)'
  if r.pot_percent() is not None:
    text += f' = {r.pot_percent():.3g}% of the pot'
  return text


def _where_text(inst: _Instance) -> str:
  """Where a finished run's files are, and how to read its strategy."""
  w = inst.r.workdir
  return (f'  progress:    {os.path.join(w, "progress.json")}\n'
          f'  metrics:     {os.path.join(w, "metrics.jsonl")}\n'
          f'  checkpoints: {inst.store.directory}\n' + (
              '  strategy:    a network (the game does not compile): in Python, '
              'cfr_jax.training.load_run, then solver.policy(state)' if _by_play(inst.solver)
              # Quoted: a workdir with spaces is pasted into a shell whole.
              else f'  strategy:    cfr-export {shlex.quote(w)} --out=policy.npz  (or .json; '
              'in Python: cfr_jax.training.load_run)'))

