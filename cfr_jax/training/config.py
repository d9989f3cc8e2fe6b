"""Run configuration: validation, exit codes, and the game and solver a config describes."""
from __future__ import annotations

import difflib
import errno
import importlib
import json
import math
import os
import re

from absl import flags
import jax
import ml_collections

import cfr_jax
from cfr_jax import cli
from cfr_jax import solver as solver_lib
from cfr_jax.checks import checked_int64, checked_seed
from cfr_jax.sampled import solver as sampled_lib
from cfr_jax.training import game_cache


EXIT_COMPLETE = 0  # the iteration or time budget was reached
EXIT_USAGE = 1  # bad configuration or flags; nothing was run
EXIT_FAILURE = 2  # a real failure (non-finite values, checkpoint I/O, a failed instance)
EXIT_INTERRUPTED = 75  # SIGINT/SIGTERM: saved, run the same command again to resume

_POSITIVE = ('max_iterations', 'time_budget_minutes', 'chunk_iterations', 'chunk_minutes',
             'eval_every', 'progress_seconds', 'num_instances', 'keep_checkpoints')


_TARGETS = ('target_exploitability', 'target_pot_percent')
_MAX_ITERATIONS = 2**31 - 1  # solvers' states count iterations in int32


class ConfigError(ValueError):
  """A user mistake in the configuration: reported in one line, exit code 1."""


class TrainingFailure(RuntimeError):
  """The run cannot go on (non-finite values, ...): exit code 2."""


# ----------------------------------------------------------------------------
# Configuration.


def check_finite(config: ml_collections.ConfigDict, prefix: str = 'config') -> None:
  """ConfigError naming the first float field (or tuple element) that is NaN
  or infinite: JSON (config.json, progress.json) cannot hold them, and no
  budget, size or hyperparameter means anything as nan or inf."""
  for name, value in config.items():
    path = f'{prefix}.{name}'
    if isinstance(value, ml_collections.ConfigDict):
      check_finite(value, path)
      continue
    for x in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(x, float) and not math.isfinite(x):
        hint = (' (for no limit, give a large number)'
                if 'budget' in name or 'minutes' in name else '')
        raise ConfigError(f'{path} must be a finite number, got {x}{hint}')


# The games a config names by a word of its own (hold'em: config.holdem's
# subgame), and the prefixes of the others.
_GAME_WORDS = ('holdem', 'kuhn', 'kuhn_poker', 'leduc', 'leduc_poker', 'openspiel', 'env')


def _validate_game(config: ml_collections.ConfigDict) -> None:
  """ConfigError for a config.game spelt otherwise than the run reads it:
  'Holdem' or 'LEDUC' said "unknown game 'Holdem'; try kuhn, leduc, ...", and
  ' holdem' said "unknown game 'holdem'" (the run compares it exactly; only
  the game loader strips it)."""
  game = config.get('game')
  if not isinstance(game, str) or not game.strip():
    raise ConfigError(f'config.game must name a game (kuhn, leduc, holdem, '
                      f'openspiel:<name>, env:<name>), got {game!r}')
  text = game.strip()
  word = re.match(r'[^(:]*', text).group(0)
  fixed = word.strip().lower() + text[len(word):]
  if word.lower().strip() in _GAME_WORDS and (word != word.lower().strip() or (
      fixed == 'holdem' and game != 'holdem')):
    raise ConfigError(f'config.game={game!r}: game names are lower case, without spaces; '
                      f'give --config.game={fixed}')


def _validate_target(config: ml_collections.ConfigDict) -> None:
  for name in _TARGETS:
    value = config.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
      raise ConfigError(f'config.{name} must be a number >= 0 (0: off), got {value!r}')
  chips, percent = (config.get(name, 0.0) for name in _TARGETS)
  if chips and percent:
    raise ConfigError('set one of config.target_exploitability (chips) and '
                      'config.target_pot_percent (hold\'em), not both')
  if percent and config.game != 'holdem':
    raise ConfigError(f'config.target_pot_percent is for hold\'em subgames (a share of '
                      f'config.holdem.pot); {config.game!r} has no pot: set '
                      'config.target_exploitability (chips) instead')
  if (chips or percent) and str(config.game).strip().startswith('env:'):
    raise ConfigError(f'an exploitability target needs exact exploitability, and '
                      f'{config.game!r} is a generative env (measured by play): set '
                      'config.max_iterations or config.time_budget_minutes instead')


def target(config: ml_collections.ConfigDict) -> float | None:
  """The exploitability (chips) at or below which a run is complete, or None."""
  chips, percent = (float(config.get(name, 0.0)) for name in _TARGETS)
  if percent:
    return percent / 100 * float(config.holdem.pot)
  return chips or None


# config.holdem's fields every hold'em config has; the others (buckets,
# isomorphism, rake_rate, rake_cap) came later, and a config.json from before
# them is read without them (`_load_game`).
_HOLDEM_FIELDS = ('board', 'pot', 'stack', 'range0', 'range1', 'bet_sizes', 'raise_sizes',
                  'max_raises')


def fields(config: ml_collections.ConfigDict, prefix: str = '') -> list[tuple[str, object]]:
  """[(dotted path, value)] of every leaf field, in the config's order."""
  out = []
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      out += fields(value, f'{prefix}{key}.')
    else:
      out.append((f'{prefix}{key}', value))
  return out


def paths(config) -> list[str]:
  """Every dotted path one may override: leaves and blocks."""
  leaves = [p for p, _ in fields(config)]
  blocks = {p.rsplit('.', k)[0] for p in leaves for k in range(1, p.count('.') + 1)}
  return leaves + sorted(blocks)


def _shipped() -> dict:
  """{dotted path: [its values in the shipped configs]} over every shipped config."""
  from cfr_jax import configs  # pylint: disable=g-import-not-at-top  (as check_fields' leduc)
  out = {}
  for name in configs.names():
    config = importlib.import_module(f'cfr_jax.configs.{name}').get_config()
    for path in paths(config):
      out.setdefault(path, [])
    for path, value in fields(config):
      out[path].append(_plain(value))
  return out


def _plain(value):
  """`value` as config.json holds it (a tuple is a list there)."""
  return list(value) if isinstance(value, tuple) else value


def known_fields() -> set:
  """Every dotted path cfr-train reads: the shipped configs' fields and
  blocks, and every solver's settings (`SOLVER_FIELDS`), whether or not a
  shipped config sets them (os-mccfr's exploration was called unread)."""
  return set(_shipped()) | set(SOLVER_FIELDS)


def unread_fields(config: ml_collections.ConfigDict, given=()) -> list[str]:
  """Note lines for `run` to say before it starts (it goes on: a config may
  carry notes of its own):

  - the fields of `config` that nothing in cfr_jax reads: a misspelt field
    (`config.max_iteration = 10**6` in a config file or a notebook) left its
    run on the default in silence;
  - the solver settings (`SOLVER_FIELDS`) that the run's algorithm does not
    read, where set: named in `given` (the launcher's --config.<field> flags,
    a sweep's field) or at a value no shipped config has
    (--config=leduc_mccfr --config.algorithm=dcfr --config.batch_size=4096
    ran dcfr in silence);
  - hold'em bet sizes that look like percentages typed without '%'.
  """
  shipped = _shipped()
  known = set(shipped) | set(SOLVER_FIELDS)
  given = set(given) | ({config.sweep_field} if config.get('sweep_field') else set())
  lines = []
  for path, value in fields(config):
    if path not in known:
      close = difflib.get_close_matches(path, sorted(known), n=1, cutoff=0.6)
      lines.append(f'config.{path} is no field cfr-train reads' +
                   (f': did you mean config.{close[0]}?' if close else ''))
    elif (path in SOLVER_FIELDS and value is not None and not reads(config, path) and
          (path in given or _plain(value) not in shipped.get(path, []))):
      shown = ','.join(map(str, value)) if isinstance(value, (tuple, list)) else value
      lines.append(f'config.{path}={shown} is read by {SOLVER_FIELDS[path][0]}, not by '
                   f'{_run_algorithm(config)}: ignored')
  return lines + _bet_size_notes(config)


def _run_algorithm(config) -> str:
  return str(config.get('algorithm'))


def _on_env(config) -> bool:
  return str(config.get('game', '')).strip().startswith('env:')


def _kind(config) -> str:
  return solver_lib.solver_kind(config.get('algorithm'))


# The settings only some solvers read (`_hyperparameters` passes them to those
# alone; the others ignore them): field -> (who reads them, in words; whether
# the run `config` describes does).
SOLVER_FIELDS = {
    'batch_size': ('es-mccfr, os-mccfr and deep-cfr', lambda c: _kind(c) != 'tabular'),
    'weighting': ('es-mccfr and os-mccfr', lambda c: _kind(c) == 'sampled'),
    'exploration': ('os-mccfr', lambda c: sampled_lib.canonical_name(c.algorithm) == 'os-mccfr'),
    **{name: ('deep-cfr', lambda c: _kind(c) == 'neural') for name in (
        'hidden', 'traversals', 'advantage_steps', 'policy_steps', 'advantage_memory',
        'policy_memory', 'learning_rate', 'reinitialize')},
    **{name: ('deep-cfr on env: games', lambda c: _kind(c) == 'neural' and _on_env(c))
       for name in ('epsilon', 'eval_games')},
    'subtrees': ("the tabular algorithms on hold'em subgames",
                 lambda c: _kind(c) == 'tabular' and c.get('game') == 'holdem'),
}
# What one kind's setting is called in another's (`check_overrides`' hints).
SAME_SETTING = {'epsilon': 'exploration', 'exploration': 'epsilon'}


def reads(config, path: str) -> bool:
  """Whether the run `config` describes reads its solver setting `path`."""
  return SOLVER_FIELDS[path][1](config)


def _bet_size_notes(config) -> list[str]:
  """Bet sizes of 10 or more (1000% of the pot and more: in practice all-in
  only) typed as percentages without '%' ('50,100' for '50%,100%')."""
  holdem = config.get('holdem') if config.get('game') == 'holdem' else None
  lines = []
  for name in ('bet_sizes', 'raise_sizes'):
    text = str(holdem.get(name, '')) if isinstance(holdem, ml_collections.ConfigDict) else ''
    try:
      _bet_sizes(text)
    except ValueError:
      continue  # (said as an error when the game is built)
    parts = [_split(part) for part in text.split(';')]
    if any(not x.endswith('%') and float(x) >= 10 for part in parts for x in part):
      typed = ';'.join(','.join(x if x.endswith('%') or float(x) < 10 else f'{x}%'
                                for x in part) for part in parts)
      lines.append(f'config.holdem.{name}={text!r} holds sizes of 10 or more, 1000% of the '
                   f'pot or more (all-in, in effect): fractions of the pot are 0.5 or 50%; '
                   f'did you mean {typed}?')
  return lines


def _bet_size(text: str) -> float:  # "0.33", or "33%" as Desktop Postflop writes it
  return float(text[:-1]) / 100 if text.endswith('%') else float(text)


def _bet_sizes(text: str) -> list[tuple]:
  """"0.5,1" (every street) or "0.33,0.75;0.5,1;1" (per street) as a list
  of tuples of fractions of the pot, one per street; ValueError if unreadable,
  or for a size left out between commas ('0.5,,1' was read as '0.5,1'; an
  empty street, '0.5;;1', is all-in only)."""
  streets = str(text).split(';')
  if any(part.strip() and len(_split(part)) != len(part.split(',')) for part in streets):
    raise ValueError(f'a size is empty in {text!r}')
  return [tuple(_bet_size(x) for x in _split(part)) for part in streets]


def check_fields(config: ml_collections.ConfigDict, what: str = 'the config') -> None:
  """ConfigError naming the fields of the default config (leduc's, which
  every shipped config starts from) that `config` lacks, and a hold'em
  config's of config.holdem: a config file built from scratch, or one that
  deletes a field, was an AttributeError traceback from whichever check read
  the field first (config.holdem's: from the build, the workdir made)."""
  from cfr_jax.configs import leduc  # pylint: disable=g-import-not-at-top
  # (training.run(None, ...) said "argument of type 'NoneType' is not
  # iterable"; a config's name, "'str' object has no attribute 'get'")
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f'{what} must be an ml_collections.ConfigDict (e.g. '
                      f'cfr_jax.configs.leduc.get_config()), got {type(config).__name__} '
                      f'{config!r:.60}')
  missing = [k for k in leduc.get_config() if k not in config]
  holdem = config.get('holdem') if config.get('game') == 'holdem' else None
  if not missing and isinstance(holdem, ml_collections.ConfigDict):  # (its own traceback)
    missing = _missing_holdem(holdem)
  if missing:
    raise _no_fields(what, missing)


def _missing_holdem(holdem: ml_collections.ConfigDict) -> list[str]:
  return [f'holdem.{k}' for k in _HOLDEM_FIELDS if k not in holdem]


def _no_fields(what: str, missing: list[str]) -> ConfigError:
  start = ('a shipped hold\'em config and override it (from cfr_jax.configs import '
           'holdem_river; config = holdem_river.get_config(); ..., as configs/'
           'holdem_turn.py does)' if missing[0].startswith('holdem.') else
           'a shipped config and override it (from cfr_jax.configs import leduc; config = '
           'leduc.get_config(); ..., as configs/kuhn.py does)')
  names = ', '.join(f'config.{k}' for k in missing[:5]) + (
      f' (and {len(missing) - 5} more fields)' if len(missing) > 5 else '')
  return ConfigError(f'{what} has no {names}: start from {start}')


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first bad field."""
  check_fields(config)
  check_finite(config)
  _validate_game(config)
  problem = cli.path_typo(str(config.mirror_to)) if config.get('mirror_to') else None
  if problem:  # as the workdir's (check_workdir)
    raise ConfigError(f'config.mirror_to {problem}')
  for name in _POSITIVE:
    value = config.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
      raise ConfigError(f'config.{name} must be a positive number, got {value!r}')
    if name not in ('time_budget_minutes', 'chunk_minutes', 'progress_seconds') and (
        int(value) != value):
      raise ConfigError(f'config.{name} must be a whole number, got {value!r}')
  for name in ('time_budget_minutes', 'chunk_minutes'):  # in seconds: 1e308 x 60 is inf,
    if not math.isfinite(float(config[name]) * 60):  # a traceback writing progress.json
      raise ConfigError(f'config.{name} must be a number of minutes whose seconds are '
                        f'finite, got {config[name]!r}; for no limit, give 1e9 (1,900 years)')
  if config.max_iterations > _MAX_ITERATIONS:
    raise ConfigError(f'config.max_iterations must be at most {_MAX_ITERATIONS:,} (the state '
                      f'counts iterations in int32), got {config.max_iterations:,}; to run '
                      'until a time is spent, set config.time_budget_minutes')
  _validate_target(config)
  count = config.num_instances if not config.sweep_field else len(sweep_values(config))
  try:  # instance k is seeded seed + k
    checked_seed(config.get('seed', 0), 'config.seed')
    checked_seed(config.get('seed', 0) + max(count, 1) - 1, 'config.seed + instances - 1')
  except ValueError as e:
    raise ConfigError(str(e)) from None
  if config.dtype not in ('float32', 'float64'):
    raise ConfigError(f'config.dtype must be float32 or float64, got {config.dtype!r}')
  kind = solver_lib.solver_kind(config.algorithm)
  try:
    if kind == 'tabular':
      cfr_jax.regret.get_algorithm(config.algorithm)
  except ValueError as e:
    raise ConfigError(f'{e}; sampled: {", ".join(sampled_lib.SAMPLED_ALGORITHMS)}; '
                      'neural: deep-cfr') from None
  if kind == 'neural':
    _validate_neural(config)
  if kind == 'sampled':
    _validate_sampled(config)
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
  # Sampled and neural solvers: one state, in its own dtype (run_many and
  # compact storage are the tabular Solver's); over `devices` (and the
  # processes of a jax.distributed job), sampled ones split each batch of
  # trajectories, neural ones each training minibatch (on compiled games; on
  # generative envs they run on one device of one process).
  if kind != 'tabular':
    if mode == 'vmap':
      raise ConfigError(f'config.algorithm={config.algorithm} runs no vmapped instances yet: '
                        "use config.instances_mode='process'")
    if kind == 'neural' and str(config.game).strip().startswith('env:'):
      if devices != 1:
        raise ConfigError(f'config.algorithm={config.algorithm} on a generative env runs on '
                          'one device: set config.devices=1')
      if _distributed(config):
        raise ConfigError(f'config.algorithm={config.algorithm} on a generative env runs in '
                          'one process: set config.distributed.enabled=false')
    if config.get('storage') == 'bfloat16':
      raise ConfigError(f'config.algorithm={config.algorithm} has no compact storage: set '
                        "config.storage=''")
  if mode == 'vmap' and devices != 1:
    raise ConfigError('config.instances_mode=vmap runs on one device: set config.devices=1')
  _validate_distributed(config)
  if config.game == 'holdem':
    _holdem_block(config)
  _validate_buckets(config)
  if config.sweep_field:
    if '.' in config.sweep_field:  # (was "is not a config field", as --config.holdem.pot is)
      raise ConfigError(f'config.sweep_field sweeps a top-level field (algorithm, alpha, seed, '
                        f'...), not one inside a block: got {config.sweep_field!r}')
    if config.sweep_field not in config:
      raise ConfigError(f'config.sweep_field {config.sweep_field!r} is not a config field')
    if isinstance(config[config.sweep_field], ml_collections.ConfigDict):  # was a traceback
      raise ConfigError(f'config.sweep_field {config.sweep_field!r} is a block of fields; a '
                        'sweep sets one top-level field (algorithm, alpha, seed, ...)')
    if config.sweep_field in _NOT_SWEPT:  # num_instances=2,3 ran instances of instances
      raise ConfigError(f'config.sweep_field {config.sweep_field!r} says how (or where) the '
                        'instances run, not what each trains; sweep another field (algorithm, alpha, '
                        'seed, ...)')
    values = sweep_values(config)
    sep = _sweep_separator(config)
    between = 'commas' if sep == ',' else "';'"
    if not values:  # (',' ran one instance, unswept, in silence)
      raise ConfigError(f'config.sweep_field needs config.sweep_values (comma-separated), '
                        f'got {config.sweep_values!r}')
    items = str(config.sweep_values).split(sep)
    if len(items) != len(values):  # '1.5,,2' ran two instances: a value left out?
      empty = next(k for k, p in enumerate(items, 1) if not p.strip())
      raise ConfigError(f'config.sweep_values={config.sweep_values!r}: value {empty} is empty; '
                        f'give each value between {between} (e.g. {sep.join(values)!r})')
    if ';' in str(config.sweep_values) and sep != ';':  # '8;8,16' was "got '8,;,8'"
      raise ConfigError(f'config.sweep_values={config.sweep_values!r}: sweep values are '
                        f'separated by commas; \';\' separates them only for a field of '
                        'several values (hidden: 64;64,64), and '
                        f'config.{config.sweep_field} holds one')
    if config.num_instances != 1:  # a sweep runs one instance per value: 3 ran 2 in silence
      raise ConfigError(f'config.num_instances={config.num_instances} and a sweep of '
                        f'{len(values)} value(s): a sweep runs one instance per value; leave '
                        'config.num_instances at 1 (repeat a value to run it twice)')
  elif str(config.sweep_values or '').strip(' ,;'):  # ignored in silence: one instance, unswept
    raise ConfigError(f'config.sweep_values={config.sweep_values!r} needs config.sweep_field '
                      '(the field they set, e.g. algorithm)')


# The fields that make the instances themselves: no sweep sets them.
# mirror_to: each instance's copies go to <mirror_to>/instance_<k> only when it is
# not swept; swept, two instances given one directory saved over each other.
_NOT_SWEPT = ('num_instances', 'instances_mode', 'sweep_field', 'sweep_values', 'mirror_to')


# Deep CFR's settings (config fields named as make_deep_cfr's arguments);
# `seed` seeds its networks' initialisation and its sampling.
NEURAL_FIELDS = ('hidden', 'traversals', 'advantage_steps', 'policy_steps', 'batch_size',
                 'advantage_memory', 'policy_memory', 'learning_rate', 'reinitialize',
                 # Deep CFR on a generative env (game='env:...') only:
                 'epsilon', 'eval_games')


def _validate_neural(config) -> None:
  """config.hidden's form; the other fields' ranges are make_deep_cfr's to
  check (build_solver reports them in one line)."""
  for name in ('traversals', 'advantage_steps', 'policy_steps', 'batch_size',
               'advantage_memory', 'policy_memory', 'eval_games'):
    value, low = config.get(name), 0 if name == 'policy_steps' else 1
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or
                              value < low):
      raise ConfigError(f'config.{name} must be a whole number >= {low}, got {value!r}')
  rate = config.get('learning_rate')
  if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or
                           not rate > 0):
    raise ConfigError(f'config.learning_rate must be a positive number, got {rate!r}')
  hidden = config.get('hidden')
  if hidden is None:
    return
  if not isinstance(hidden, (tuple, list)) or not hidden or not all(
      isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden):
    # As typed: "got ('64,x',)" showed the tuple ml_collections made of '64,x'.
    typed = ','.join(map(str, hidden)) if isinstance(hidden, (tuple, list)) else hidden
    raise ConfigError('config.hidden must be one or more positive layer widths '
                      f'(e.g. 64,64), got {typed!r}')


def _validate_sampled(config) -> None:
  """es-mccfr's and os-mccfr's settings, checked before anything runs (a
  sweep's batch_size=0 failed in its instance's process, once the others ran)."""
  from cfr_jax.sampled import solver as sampled  # pylint: disable=g-import-not-at-top
  batch = config.get('batch_size', 1024)
  if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
    raise ConfigError(f'config.batch_size must be a positive whole number (trajectories per '
                      f'player per iteration), got {batch!r}')
  weighting = str(config.get('weighting', 'linear')).strip().lower()
  if weighting not in sampled.WEIGHTINGS:
    raise ConfigError(f'config.weighting must be one of {", ".join(sampled.WEIGHTINGS)}, '
                      f'got {config.get("weighting")!r}')
  exploration = config.get('exploration')
  if exploration is not None and (isinstance(exploration, bool) or not isinstance(
      exploration, (int, float)) or not 0 < exploration <= 1):
    raise ConfigError(f'config.exploration must be in (0, 1], got {exploration!r}')


def _holdem_block(config) -> ml_collections.ConfigDict:
  """config.holdem, or a ConfigError naming what it lacks (`check_fields`) or
  holds of the wrong kind: pot=None in a config file said only "float()
  argument must be a string or a real number, not 'NoneType'"."""
  holdem = config.get('holdem')
  if holdem is None:
    raise ConfigError("config.game='holdem' needs a config.holdem block (see "
                      "configs/holdem_river.py)")
  if not isinstance(holdem, ml_collections.ConfigDict):
    raise ConfigError(f'config.holdem must be a block of fields (see configs/holdem_river.py), '
                      f'got {holdem!r}')
  if _missing_holdem(holdem):  # (`check_fields` says so first where a config is validated)
    raise _no_fields('the config', _missing_holdem(holdem))
  def number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)
  for name in ('pot', 'stack', 'max_raises', 'rake_rate', 'rake_cap'):
    value = holdem.get(name, 0)
    if name == 'rake_cap' and value is None:  # no cap, as SubgameSpec's None (0 here)
      continue
    if not number(value) or (name == 'max_raises' and not float(value).is_integer()):
      what = 'a whole number' if name == 'max_raises' else 'a number'
      raise ConfigError(f'config.holdem.{name} must be {what}, got {value!r}')
  return holdem


def _validate_buckets(config) -> None:
  """--config.holdem.buckets.num_buckets=5 without a method was ignored in
  silence: the run solved the unabstracted subgame."""
  holdem = config.get('holdem') if config.get('game') == 'holdem' else None
  buckets = holdem.get('buckets') if holdem is not None else None
  if buckets is not None and not buckets.get('method') and buckets.get('num_buckets'):
    raise ConfigError(f'config.holdem.buckets.num_buckets={buckets.num_buckets} needs '
                      'config.holdem.buckets.method (ehs or hist): without one, no '
                      'abstraction is made and every hand is its own')
  # Likewise with 'iso', whose buckets are the suit classes, as many as they are.
  if buckets is not None and buckets.get('method') == 'iso' and buckets.get('num_buckets'):
    raise ConfigError(f'config.holdem.buckets.num_buckets={buckets.num_buckets} is for methods '
                      "ehs and hist: 'iso' buckets are the hands' suit classes, as many as "
                      'there are (leave num_buckets at 0)')


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


def check_workdir(workdir, reading: bool = False) -> None:
  """ConfigError unless `workdir` is a path (str or os.PathLike) with a name:
  training.run(config, '') (an unset variable, say) trained in the current
  directory, and None was a TypeError from os.path. reading: a run's reader
  (`load_run`) checks it, not a run to be trained there."""
  text = os.fspath(workdir) if isinstance(workdir, os.PathLike) else workdir
  if not isinstance(text, str) or not text.strip():
    raise ConfigError(f'workdir must name a directory (a str or os.PathLike), got {workdir!r}')
  problem = cli.path_typo(text)
  if problem:
    raise ConfigError(f'workdir {problem}')
  # In a run's checkpoints, a run mixed its files with that run's saves (whose
  # retention deletes a step with all it holds).
  owner = run_holding(os.path.abspath(os.path.expanduser(text)), inside='checkpoints')
  if owner:
    raise ConfigError(f'workdir {text} is in the checkpoints of the run in {owner}: that is '
                      'its workdir' + (f'; give {owner}' if reading else  # (not "a new run")
                                       '; a new run needs a directory of its own'))


def is_run_dir(directory: str) -> bool:
  """Whether `directory` is a cfr-train run's workdir: its config.json and
  progress.json (a project's config.json beside a 'checkpoints' folder is not)."""
  return all(os.path.isfile(os.path.join(directory, n)) for n in ('config.json', 'progress.json'))


def run_holding(path: str, inside: str | None = None) -> str | None:
  """The workdir of the nearest run above `path` (in its `inside` entry,
  e.g. 'checkpoints', where given), or None."""
  while os.path.dirname(path) != path:
    parent = os.path.dirname(path)
    if (inside is None or os.path.basename(path) == inside) and is_run_dir(parent):
      return parent
    path = parent
  return None


def instance_dirs(workdir: str) -> list[str]:
  """The instance runs' folders (instance_<k>) in `workdir`, in k's order
  (instance_2 before instance_10); [] where there are none or it is unreadable."""
  try:
    names = os.listdir(workdir)
  except OSError:
    return []
  return sorted((d for d in names if d.startswith('instance_') and
                 os.path.isdir(os.path.join(workdir, d))), key=lambda d: (len(d), d))


def check_run_shape(config, workdir: str) -> None:
  """ConfigError where `workdir` holds runs of the other shape than `config`
  makes: a resume of a sweep without its sweep flags trained a new single run
  beside the instances in silence (and a sweep in a single run's workdir put
  its instances inside that run)."""
  workdir = os.path.expanduser(os.fspath(workdir))
  try:
    names = os.listdir(workdir)
  except OSError:  # not there yet (or unreadable: the lock says so)
    return
  instances = instance_dirs(workdir)
  many = config.num_instances > 1 or bool(config.sweep_field)
  if not many and instances and 'config.json' not in names:
    raise ConfigError(f'{workdir} holds {len(instances)} instance run(s) (num_instances or a '
                      'sweep): to resume them, give the same num_instances or '
                      'sweep_field/sweep_values; for a single run, another workdir')
  if many and not instances and 'progress.json' in names:
    raise ConfigError(f'{workdir} holds a single run: its instances would be trained inside it; '
                      'give another workdir (or leave out num_instances and the sweep to '
                      'resume that run)')


def path_problem(path: str) -> str | None:
  """What keeps the absolute `path` from being (or becoming) a directory,
  naming the part of it at fault: a symbolic link that loops or leads nowhere
  (makedirs said only 'File exists', open 'Too many levels of symbolic
  links'), or a file on the way ('Not a directory'); None if nothing does (a
  part that does not exist yet is none: a workdir is made)."""
  parts = path.split(os.sep)
  for k in range(2, len(parts) + 1):
    part = os.sep.join(parts[:k])
    if os.path.islink(part) and not os.path.exists(part):
      try:
        os.stat(part)
      except OSError as e:
        if e.errno == errno.ELOOP:
          return f'{part} is a symbolic link that loops (to {os.readlink(part)})'
      return f'{part} is a symbolic link to {os.readlink(part)}, which does not exist'
    if not os.path.exists(part):
      return None
    if not os.path.isdir(part):
      return f'{part} is a file, not a directory'
  return None


def mirror_dir(config) -> str | None:
  """config.mirror_to as an absolute path ('~' expanded; None: no mirror)."""
  value = config.get('mirror_to')
  return os.path.abspath(os.path.expanduser(value)) if value else None


def compilation_cache_dir(config) -> str | None:
  """The persistent compilation cache `config.compilation_cache` names (None: off)."""
  value = str(config.get('compilation_cache', '') or '').strip()
  if value.lower() == 'none':
    return None
  if value:
    return os.path.abspath(os.path.expanduser(value))
  base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'cfr_jax', 'xla')


def use_compilation_cache(config) -> str | None:
  """Points JAX's persistent compilation cache at `compilation_cache_dir`.

  Every program is kept, however quick to compile (JAX's default skips those
  under a second): a second run of a same-shaped game then compiles nothing.
  An unusable directory only turns the cache off, with a note.
  """
  directory = compilation_cache_dir(config)
  if directory is not None:
    try:
      os.makedirs(directory, exist_ok=True)
    except OSError as e:  # (a file there said only "File exists")
      why = 'it is a file' if os.path.isfile(directory) else e.strerror or e
      print(f'note: compilation cache off: cannot create {directory} ({why})', flush=True)
      directory = None
  if directory is None:
    jax.config.update('jax_enable_compilation_cache', False)
    return None
  jax.config.update('jax_enable_compilation_cache', True)
  jax.config.update('jax_compilation_cache_dir', directory)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  return directory


def _hyperparameters(config) -> dict:
  hp = {k: config[k] for k in ('alpha', 'beta', 'gamma', 'prediction', 'horizon')
        if config.get(k) is not None}
  kind = solver_lib.solver_kind(config.algorithm)
  if kind == 'sampled':
    # Sampled solvers: their sampling settings, and the seed of their PRNG key.
    hp.update({k: config[k] for k in ('batch_size', 'weighting', 'exploration')
               if config.get(k) is not None})
  if kind == 'neural':
    # Deep CFR: its network and training settings (hidden: a list in config.json).
    hp.update({k: tuple(config[k]) if k == 'hidden' else config[k]
               for k in NEURAL_FIELDS if config.get(k) is not None})
  if kind != 'tabular':
    hp['seed'] = int(config.get('seed', 0))
  return hp


def build_solver(config) -> cfr_jax.Solver:
  """The game and solver a config describes (ConfigError for user mistakes)."""
  if config.dtype == 'float64':
    jax.config.update('jax_enable_x64', True)
  try:
    game = _load_game(config, cache=True)
    devices = config.get('devices', 1)
    mesh = None if devices == 1 else solver_lib.make_mesh(devices)
    return cfr_jax.make_solver(game, config.algorithm, alternating=config.alternating,
                               dtype=config.dtype, mesh=mesh,
                               storage=config.get('storage') or None,
                               compensated=config.get('compensated'),
                               subtrees=config.get('subtrees'),
                               **_hyperparameters(config))
  except (ValueError, TypeError, ImportError) as e:
    raise ConfigError(str(e).splitlines()[0]) from None


def _load_game(config, cache: bool = False):
  """`config.game` by name, or the hold'em subgame that `config.holdem` describes;
  'env:<name>' is a generative game (`envs.load_env`), never compiled. cache:
  a subgame slow to build is kept beside the compilation cache and loaded
  from there on later starts (`game_cache`)."""
  if str(config.game).strip().startswith('env:'):
    from cfr_jax import envs  # pylint: disable=g-import-not-at-top
    return envs.load_env(config.game)
  if config.game != 'holdem':
    return cfr_jax.load_game(config.game)
  spec = _holdem_block(config)
  from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top

  def sizes(field):  # "0.5,1" for every street, or "0.33,0.75;0.5,1;1" per street
    try:
      streets = _bet_sizes(spec[field])
    except ValueError:
      raise ConfigError(f'config.holdem.{field} must be fractions of the pot (0.33 or 33%) '
                        f'separated by commas (";" between streets; all-in is always '
                        f'available), got {spec[field]!r}') from None
    return streets[0] if len(streets) == 1 else tuple(streets)

  buckets = spec.get('buckets')
  buckets = dict(buckets) if buckets is not None and buckets.get('method') else None
  # A config without the field is a run's config.json from before chance
  # isomorphism (`load_run`, cfr-query): its checkpoints deal every card.
  isomorphism = bool(spec.get('isomorphism', False))
  # Likewise rake (a config.json from before it: none); a cap of 0 is no cap.
  rake_rate, rake_cap = float(spec.get('rake_rate', 0.0)), float(spec.get('rake_cap') or 0.0)
  spec = subgame.SubgameSpec(
      board=spec.board, pot=float(spec.pot), stack=float(spec.stack),
      ranges=(spec.range0, spec.range1), bet_sizes=sizes('bet_sizes'),
      raise_sizes=sizes('raise_sizes'), max_raises=int(spec.max_raises),
      buckets=buckets, isomorphism=isomorphism, rake_rate=rake_rate,
      rake_cap=rake_cap or None)
  directory = compilation_cache_dir(config) if cache else None
  return game_cache.load_or_build(spec, lambda: subgame.compile_subgame(spec),
                                  directory and os.path.join(directory, 'games'))


def _split(text: str, sep: str = ',') -> list[str]:
  return [p.strip() for p in str(text or '').split(sep) if p.strip()]


def _sweep_separator(config) -> str:
  """What separates config.sweep_values: ';' for a field that holds several
  values (hidden: '64;64,64' sweeps (64,) and (64, 64)), ',' for the rest."""
  field = config.get('sweep_field')
  try:
    several = field and issubclass(field_type(config, field), (tuple, list))
  except (KeyError, AttributeError, TypeError):
    several = False
  return ';' if several and ';' in str(config.sweep_values or '') else ','


def sweep_values(config) -> list[str]:
  """The sweep's values, one per instance, as typed ([] without a sweep field)."""
  return _split(config.sweep_values, _sweep_separator(config)) if config.sweep_field else []


def _instances(config) -> tuple:
  """(how many instances config runs, the sweep's values or [])."""
  values = sweep_values(config)
  return (len(values) if values else int(config.num_instances)), values


def field_type(config: ml_collections.ConfigDict, path: str) -> type:
  """The type of config.<path> (dotted): its value's, or where it is None, the
  type a placeholder declares (`config_dict.placeholder(bool)`); NoneType for
  a plain None."""
  *parents, name = path.split('.')
  for part in parents:
    config = config[part]
  if config[name] is not None:
    return type(config[name])
  try:
    return config.get_ref(name).get_type()
  except ValueError:  # a plain None: no reference, no declared type
    return type(None)


def expected(kind: type) -> str:
  """What a field of type `kind` takes, in words."""
  if issubclass(kind, ml_collections.ConfigDict):
    return 'a block of fields: set them one by one, --config.<block>.<field>=<value>'
  return {bool: 'true or false', int: 'a whole number', float: 'a number',
          str: 'a string', tuple: 'comma-separated values (e.g. 64,64)',
          list: 'comma-separated values (e.g. 64,64)'}.get(kind, 'a value of its type')


def _sweep_value(config, field: str, text: str):
  """Instance k's config.<field> from its sweep value, read as the flag
  --config.<field>=<text> would be: a bool only from absl's words (true,
  false, t, f, 1, 0; 'on' was False in silence), a whole number only from
  one ('2.5' is refused, and a placeholder(int) took 0.0 before)."""
  kind = field_type(config, field)
  try:
    if kind is bool:
      return flags.BooleanParser().parse(text)
    if issubclass(kind, (tuple, list)):  # hidden: '64,64' (tuple('64') was ('6', '4'))
      now = config[field]
      item = type(now[0]) if now and not isinstance(now[0], bool) else str
      return kind(item(x) for x in _split(text))
    return (float if kind is type(None) else kind)(text)
  except (TypeError, ValueError):
    several = (f" (of several values, such as hidden: separate the values with ';' and "
               "each value's parts with commas, e.g. 64;64,64)"
               if issubclass(kind, (tuple, list)) else '')
    raise ConfigError(f'sweep value {text!r} does not fit config.{field}: expected '
                      f'{expected(kind)}{several}') from None


def _instance_configs(config) -> list:
  count, values = _instances(config)
  out = []
  for k in range(count):
    c = ml_collections.ConfigDict(json.loads(config.to_json()))
    c.num_instances, c.seed, c.sweep_field, c.sweep_values = 1, int(config.seed) + k, '', ''
    if config.get('mirror_to'):  # each its own, as its workdir: instance_<k> under both
      # (one shared mirror held every instance's saves of a step in turn, each
      # superseding the last: a lost instance was restored from another's)
      c.mirror_to = os.path.join(config.mirror_to, f'instance_{k}')
    if values:
      try:
        c[config.sweep_field] = _sweep_value(config, config.sweep_field, values[k])
      except TypeError:  # the field's own type check (ml_collections)
        raise ConfigError(f'sweep value {values[k]!r} does not fit '
                          f'config.{config.sweep_field}') from None
    try:
      validate(c)
    except ConfigError as e:  # 'config.batch_size must be ...': of which instance?
      which = f' ({config.sweep_field}={values[k]})' if values else ''
      raise ConfigError(f'instance {k}{which}: {e}') from None
    out.append(c)
  return out

