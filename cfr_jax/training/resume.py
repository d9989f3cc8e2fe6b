"""Finding a run's state again: restore in the solver's layout, and `load_run` for tools."""
from __future__ import annotations

import contextlib
import json
import logging as std_logging
import os

from absl import logging
import jax
import ml_collections
import numpy as np

import cfr_jax
from cfr_jax import checkpoint as checkpoint_lib
from cfr_jax.training.config import (ConfigError, build_solver, check_workdir, instance_dirs,
                                     mirror_dir, run_holding,
                                     path_problem, _split, use_compilation_cache)


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
  if saved_game.get('isomorphism') != game.get('isomorphism'):
    how = lambda s: (f'one card per suit class ({s} interchangeable)' if s
                     else 'every card')
    out.append(f"it was trained dealing {how(saved_game.get('isomorphism'))} at chance "
               f"nodes, this run deals {how(game.get('isomorphism'))} (chance isomorphism: "
               'its rows are other nodes, so it is never loaded); to continue it, set '
               f"--config.holdem.isomorphism={'true' if saved_game.get('isomorphism') else 'false'}")
  out += [f'game.{k} was {saved_game.get(k)!r}, here {game.get(k)!r}'
          for k in sorted((set(saved_game) | set(game)) - {'buckets', 'isomorphism'})
          if saved_game.get(k) != game.get(k)]
  # Only between two hold'em subgames: a kuhn run in a hold'em run's workdir
  # was told 'it has state layout 6 ..., this version of cfr_jax uses layout
  # 1 ...: finish it with the cfr_jax version that wrote it' (the game is what
  # differs, said above; the layout is the game's, not the version's).
  if saved.get('layout') != now.get('layout') and saved_game.get('game') == game.get('game'):
    out.append(f'it has state layout {saved.get("layout") or 1} of hold\'em subgames, this '
               f'version of cfr_jax uses layout {now.get("layout") or 1} (rows in another '
               'order, other arrays); cfr_jax does not migrate it, so it is never loaded: finish '
               'it with the cfr_jax version that wrote it, or start this run afresh')
  out += [f'{k} was {saved.get(k)!r}, here {now.get(k)!r}'
          for k in sorted((set(saved) | set(now)) - {'game', 'layout'})
          if saved.get(k) != now.get(k)]
  return out


def finite(state) -> bool:
  """Whether every value of the state is finite."""
  # An array spread over processes is reduced on its devices (no host holds it).
  return all(bool(np.isfinite(np.asarray(x)).all()) if x.is_fully_addressable else
             bool(jax.numpy.isfinite(x).all()) for x in jax.tree.leaves(state))


def sanity_check(state, iteration: int) -> str | None:
  """Why a loaded solver state cannot be what training saved, or None.

  A checksum mismatch alone is a minor issue (the damage may be harmless), so
  the state it came with is loaded; these checks catch the damage that would
  poison the run: training never saves non-finite values (regrets, sums,
  network parameters, optimizer moments, memories), the iteration counter
  matches the step it was saved as, strategy sums (tabular and sampled
  states) only grow from zero by non-negative amounts, and a Deep CFR memory
  only holds samples weighted by iterations 1 ... t (0: an empty slot).
  """
  if int(state.iteration) != iteration:
    return f'its iteration counter says {int(state.iteration)}, its directory {iteration}'
  if not finite(state):
    return 'it holds non-finite values'
  strategy_sum = getattr(state, 'strategy_sum', None)
  if strategy_sum is not None and bool(jax.numpy.any(strategy_sum < 0)):
    return 'its strategy sums are negative somewhere'
  for name in ('advantage_memory', 'policy_memory'):
    memory = getattr(state, name, None)
    if memory is not None and (bool(jax.numpy.any(memory.weights < 0)) or
                               bool(jax.numpy.any(memory.weights > np.float32(iteration))) or
                               bool(jax.numpy.any(memory.seen < 0))):
      return f'its {name.replace("_", " ")} holds samples of iterations it has not run'
  return None


def restore_state(store: checkpoint_lib.CheckpointStore, solver: cfr_jax.Solver,
                  skip: tuple = ()) -> tuple:
  """`store.restore` in `solver`'s layout; (state or None, RestoreReport).
  skip: state fields not read (None in the state; `CheckpointStore.restore`).

  A checkpoint written with another device count has another infoset padding
  (`Solver.num_rows`), so the store rejects its shape. When such a checkpoint
  is newer than what restored (or nothing did), it is read in its own shape on
  one device and re-laid out with `Solver.place`: runs move freely between
  device counts, at the price of one unsharded read.
  """
  abstract = solver.abstract_state()
  state, report = store.restore(abstract, check=sanity_check, skip=skip)
  have = -1 if state is None else report.iteration
  # The regret table's shape: [rows, A] (tree games, sampled solvers), or
  # [cells] (hold'em subgames); neural solvers have none.
  want = getattr(getattr(abstract, 'regrets', None), 'shape', None)
  real = getattr(solver, 'real_rows', None) or getattr(solver.game, 'num_infosets', 0)
  other = {}
  for c in report.candidates:
    shape = (((c.metadata or {}).get('arrays') or {}).get('regrets') or {}).get('shape')
    if (c.status == 'rejected' and shape and want is not None and len(shape) == len(want)
        and c.iteration is not None and c.iteration > have and shape[0] != solver.num_rows
        and shape[0] >= real and tuple(shape[1:]) == tuple(want[1:])):
      other[shape[0]] = max(other.get(shape[0], -1), c.iteration)
  for rows in sorted(other, key=other.get, reverse=True):
    found, found_report = store.restore(solver.abstract_state(num_rows=rows),
                                        check=sanity_check, skip=skip)
    if found is not None and found_report.iteration > have:
      return solver.place(found), found_report
  return state, report


# The state fields that the average strategy (what tools read) never uses.
AVERAGE_ONLY = ('regrets', 'last_regrets')


@contextlib.contextmanager
def _held_log_records():
  """The absl logger's records meanwhile, collected instead of printed."""
  held = []

  class Hold(std_logging.Filter):

    def filter(self, record):
      held.append(record)
      return False

  logger, hold = logging.get_absl_logger(), Hold()
  logger.addFilter(hold)
  try:
    yield held
  finally:
    logger.removeFilter(hold)


def _check_not_instances(workdir: str) -> None:
  """ConfigError naming an instance to read where `workdir` is the parent of
  several (num_instances or a sweep): cfr-query said it held no readable
  config.json, 'is it the --workdir of a cfr-train run?' (it was)."""
  instances = instance_dirs(workdir)
  if instances:
    raise ConfigError(f'{workdir} holds {len(instances)} instance run(s) (num_instances or a '
                      f'sweep): give one of them, e.g. {os.path.join(workdir, instances[0])}')


def _starting(workdir: str) -> str | None:
  """What to say of a run that is still starting (its progress.json says
  'starting' and nothing is saved: not even config.json yet), or None."""
  try:
    with open(os.path.join(workdir, 'progress.json')) as f:
      progress = json.load(f)
  except (OSError, ValueError):
    return None
  if not isinstance(progress, dict) or progress.get('status') != 'starting':
    return None
  from cfr_jax import processes  # pylint: disable=g-import-not-at-top
  if not processes.alive(progress.get('pid')):
    return (f'{workdir} is a run that was stopped while starting (its progress.json says '
            'starting, and its process is gone): nothing was saved; run its cfr-train '
            'command again')
  return (f'{workdir} is a run still starting (building, compiling or restoring): nothing is '
          'saved yet; try again after its first checkpoint (cfr-status shows its progress)')


def load_run(workdir: str, compilation_cache: bool = False, skip: tuple = ()) -> tuple:
  """(solver, state) of a trained run, from its config.json and best
  checkpoint in any of the run's locations (its workdir, extra_locations and
  mirror_to), as training restores.

  For notebooks and tools (`launch.query`): the same game, solver and
  fingerprint as the run itself, so a foreign checkpoint is never loaded.
  compilation_cache: also point JAX's persistent compilation cache where the
  run's config does (`config.compilation_cache`), as the launcher does, so a
  tool's programs compile once (cfr-query: a line asked again, in any process).
  skip: state fields a reader never uses, not read from the checkpoint (None
  in the state): `AVERAGE_ONLY` for the average strategy alone
  (cfr-query, cfr-export: half of a flop state's 0.9 GB never loaded).
  Raises ConfigError when the workdir holds no run or no usable checkpoint.
  """
  if (isinstance(skip, str) or not isinstance(skip, (tuple, list, set, frozenset))
      or not all(isinstance(x, str) for x in skip)):  # 'regrets': r, e, ...; True: a TypeError
    raise ValueError(f'skip must be a tuple of state field names (e.g. training.AVERAGE_ONLY), '
                     f'got {skip!r}')
  check_workdir(workdir, reading=True)
  workdir = os.path.abspath(os.path.expanduser(workdir))  # as training.run reads it
  path = os.path.join(workdir, 'config.json')
  problem = path_problem(workdir) or (None if os.path.isdir(workdir) else
                                      f'{workdir} does not exist')
  if problem:
    owner = run_holding(workdir)
    raise ConfigError(f'{problem}: give the --workdir of a cfr-train run' +
                      (f' ({owner}, the run holding it?)' if owner else ''))
  try:
    with open(path) as f:
      raw = json.load(f)
    if not isinstance(raw, dict):
      raise ValueError('not a JSON object')
    config = ml_collections.ConfigDict(raw)
  except (OSError, ValueError) as e:
    _check_not_instances(workdir)
    owner = run_holding(workdir)
    if owner:
      raise ConfigError(f'{workdir} is inside the run in {owner}: give its workdir, {owner}')
    starting = _starting(workdir) if isinstance(e, FileNotFoundError) else None
    if starting:  # (was "holds no readable config.json (FileNotFoundError): is it ...")
      raise ConfigError(starting) from None
    raise ConfigError(f'{workdir} holds no readable config.json ({e.__class__.__name__}): '
                      'is it the --workdir of a cfr-train run?') from None
  try:
    if compilation_cache:
      use_compilation_cache(config)
    solver = build_solver(config)
    fingerprint = checkpoint_lib.make_fingerprint(**solver.describe())
    # Every location the run restores from, its mirror included (read only
    # here): a run whose workdir lost its checkpoints is still read.
    where = _split(config.extra_locations)
    if mirror_dir(config):
      where.append(mirror_dir(config))
  except (AttributeError, KeyError, TypeError) as e:
    # A config.json that cfr-train did not write whole (edited by hand, cut
    # short, another program's): a field missing or of the wrong type was an
    # AttributeError traceback from deep in the solver's construction.
    field = str(e.args[0] if e.args else e).strip('\'"')  # ConfigDict's "'dtype'"
    what = (f"has no field '{field}'" if isinstance(e, (AttributeError, KeyError))
            else f'has a field of the wrong type ({e})')
    raise ConfigError(f'{path} {what}: it is not a config cfr-train wrote; rerun cfr-train '
                      'with this --workdir and the run\'s --config to write it again') from None
  # A name that is no field was skipped in silence (everything read). AVERAGE_ONLY's
  # names are known to every solver: a state without them has nothing to skip.
  # The iteration is always read (skipped, it was a TypeError restoring).
  known = (set(checkpoint_lib.leaf_names(solver.abstract_state())) | set(AVERAGE_ONLY)) - {
      'iteration'}
  unknown = [x for x in skip if x not in known]
  if unknown:
    raise ValueError(f'skip names no state field of this run: {", ".join(map(repr, unknown))}; '
                     f'the names it takes: {", ".join(sorted(known))}')
  with _held_log_records() as held, checkpoint_lib.CheckpointStore(
      os.path.join(workdir, 'checkpoints'), extra_locations=where,
      fingerprint=fingerprint) as store:
    state, report = restore_state(store, solver, skip)
  if state is not None:  # what was passed over on the way (an older checkpoint is read),
    # not other runs' steps (another board's, in foreign/): never this run's to read
    foreign = {c.path for c in report.candidates if c.status == 'foreign'}
    for record in held:
      if not foreign & set(a for a in record.args or () if isinstance(a, str)):
        logging.get_absl_logger().handle(record)
  if state is None:  # the error names every candidate: their warnings ("starting fresh") dropped
    kept = os.path.join(workdir, 'checkpoints')
    if os.path.lexists(kept) and not os.path.isdir(kept):  # ("none saved yet")
      raise ConfigError(f'{kept} is not a directory, where the run keeps its checkpoints: '
                        'nothing of this run can be read there')
    raise ConfigError(f'no usable checkpoint of this run in {workdir}: ' + ('; '.join(
        f'{os.path.basename(p)}: {why}' for p, why in report.rejected) or 'none saved yet'))
  return solver, state

