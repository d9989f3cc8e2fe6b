r"""Trains a CFR-family solver in chunks under time and iteration budgets, resumably.

    cfr-train --config=leduc --workdir=runs/leduc \
        --config.algorithm=dcfr --config.max_iterations=100000 \
        --config.chunk_iterations=5000 --config.chunk_minutes=10 \
        --config.time_budget_minutes=600 --config.num_instances=1 --config.seed=0

(`python -m launch.train` from the repository root is the same program.)
--config is a shipped config by name (leduc, the default; kuhn, holdem_turn,
...) or a config file (configs/kuhn.py, my_config.py); --config.<field>=<value>
overrides a field, and --help lists them all. Running the same command again
resumes from the best usable checkpoint.

Exit codes: 0 complete (iteration or time budget reached); 1 bad flags or
config; 2 failure (diverged, checkpoint I/O); 75 interrupted by SIGINT/SIGTERM
(or SIGUSR1, which never escalates) after saving: run the same command again
to resume. A second SIGINT/SIGTERM exits at once, keeping the last checkpoint.
"""
from __future__ import annotations

import difflib
import importlib.machinery
import importlib.util
import os
import re
import sys
import traceback

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags

from cfr_jax import cli
from cfr_jax import configs as configs_lib
from cfr_jax import training
from cfr_jax.solver import solver_kind
from cfr_jax.training import config as config_lib
from cfr_jax.training import signals as signals_lib
from cfr_jax.training.config import check_fields, expected, field_type, fields
from cfr_jax.training.config import paths as _paths

ConfigError = training.ConfigError

_HELP = cli.SHORT_HELP
_HELPFULL = ('--helpfull', '-helpfull')
_CONFIG_ARG = re.compile(r'^--?config(=(?P<value>.*))?$')
_OVERRIDE_ARG = re.compile(r'^--?(no)?config\.(?P<path>[^=]+)(=.*)?$')


# ----------------------------------------------------------------------------
# Config files.


def resolve_config(spec: str) -> str:
  """The file `--config=<spec>` names: a path, or a shipped config's short name.

  A trailing ':<arg>' (ml_collections' parameterised configs) is kept.
  Raises ConfigError, listing the shipped configs, when there is no such file.
  """
  spec = os.path.expanduser(spec)
  # The file's part: a parameterised config's ':<arg>' may hold spaces.
  problem = cli.path_typo(spec if os.path.isfile(spec) else spec.partition(':')[0])
  if problem:
    raise ConfigError(f'--config={problem}')
  file, sep, arg = spec, '', ''
  if not os.path.isfile(spec) and ':' in spec:
    file, sep, arg = spec.partition(':')
  if os.path.isfile(file):
    return spec
  name = file[:-3] if file.endswith('.py') else file
  if name and os.sep not in name and '/' not in name and name in configs_lib.names():
    return configs_lib.path(name) + sep + arg
  shipped = ', '.join(configs_lib.names())
  if not file:
    raise ConfigError(f'--config needs a value: a shipped config ({shipped}) or a file')
  what = 'is a directory, not a config file' if os.path.isdir(file) else 'does not exist'
  raise ConfigError(f'config file {file} {what} (from {os.getcwd()}); shipped configs, by '
                    f'name: {shipped}, e.g. --config={configs_lib.DEFAULT}')


def load_config(spec: str) -> tuple[ml_collections.ConfigDict, str]:
  """(config, file) for `--config=<spec>`: runs the file's `get_config()`.

  Any error in the file (syntax, import, exception, no get_config, not a
  ConfigDict) is a ConfigError naming the file and line.
  """
  resolved = resolve_config(spec)
  file, _, arg = resolved.partition(':') if not os.path.isfile(resolved) else (resolved, '', '')
  file = os.path.abspath(file)
  try:
    # Loaded as Python source whatever its name ends in: spec_from_file_location
    # alone returns None for a file not named .py ("'NoneType' object has no
    # attribute 'loader'").
    module_spec = importlib.util.spec_from_file_location(
        'cfr_jax_user_config', file,
        loader=importlib.machinery.SourceFileLoader('cfr_jax_user_config', file))
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    get_config = getattr(module, 'get_config', None)
    if not callable(get_config):
      raise ConfigError(f'config file {file} defines no get_config() function')
    config = get_config(arg) if arg else get_config()
  except ConfigError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(f'config file {file} failed to load: {_describe(e, file)}') from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f'config file {file}: get_config() returned {type(config).__name__}, '
                      'not an ml_collections.ConfigDict')
  check_fields(config, f'config file {file}: its config')
  return config, file


def _describe(e: BaseException, file: str) -> str:
  """'<Type>: <first line> (line N)', the line in `file` where it happened."""
  message = (str(e).strip().splitlines() or [''])[0]
  line = getattr(e, 'lineno', None) if isinstance(e, SyntaxError) else None
  if isinstance(e, SyntaxError):
    message = e.msg
  for frame in traceback.extract_tb(e.__traceback__):
    if os.path.abspath(frame.filename) == file:
      line = frame.lineno
  where = f' (line {line})' if line else ''
  return f'{type(e).__name__}: {message}{where}' if message else f'{type(e).__name__}{where}'


def config_name(file: str) -> str:
  """'leduc' for .../leduc.py (the default workdir is runs/<config name>)."""
  return os.path.splitext(os.path.basename(file.partition(':')[0]))[0]


# ----------------------------------------------------------------------------
# Fields.


def _node(config, path: str):
  """The field or block at dotted `path` (which `_has`)."""
  for part in path.split('.'):
    config = config[part]
  return config


def _has(config, path: str) -> bool:
  node = config
  for part in path.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return False
    node = node[part]
  return True


def check_overrides(config: ml_collections.ConfigDict, argv: list[str], file: str) -> None:
  """ConfigError for the first `--config.<path>` that names no field of `config`."""
  for arg in argv:
    m = _OVERRIDE_ARG.match(arg)
    if not m or '[' in m['path'] or _has(config, m['path']):
      continue
    path = m['path']
    close = difflib.get_close_matches(path, _paths(config), n=1, cutoff=0.6)
    block, _, _ = path.rpartition('.')
    if path in config_lib.known_fields():  # a real field, of another config or solver
      hint = _elsewhere(config, argv, file, path)
    elif close and close[0] != block:
      hint = f'did you mean --config.{close[0]}?'
    elif block and _has(config, block) and isinstance(_node(config, block),
                                                       ml_collections.ConfigDict):
      # A field of a block that has none of that name ('holdem.buckets.bins'
      # was "did you mean --config.holdem.buckets?"): its fields.
      hint = f'config.{block} has {", ".join(sorted(_node(config, block).keys()))}'
    else:
      hint = _elsewhere(config, argv, file, path)
    raise ConfigError(f'unknown config field --config.{path} in {config_name(file)}: {hint}')


def _elsewhere(config, argv: list[str], file: str, path: str) -> str:
  """Where the field `path` that `config` lacks is to be had, for the
  algorithm the run will have (its --config.algorithm, else the config's):
  the shipped configs of its solver kind that have it (--config.batch_size
  for es-mccfr pointed to kuhn_deep_cfr), or who reads it, where that
  algorithm does not (--config.epsilon for os-mccfr pointed to a Deep CFR
  config), or how to set it in a config file."""
  algorithm = str(config.get('algorithm'))
  for arg in argv:
    m = re.match(r'^--?config\.algorithm=(?P<value>.*)$', arg)
    if m:
      algorithm = m['value']
  kind = solver_kind(algorithm)
  elsewhere = {}
  for n in configs_lib.names():
    other = load_config(n)[0]
    if n != config_name(file) and _has(other, path):
      elsewhere[n] = solver_kind(other.get('algorithm'))
  right = [n for n, k in elsewhere.items() if k == kind]
  if right:
    return f'it is a field of the {", ".join(right)} config(s): --config={right[0]}'
  probe = ml_collections.ConfigDict({'algorithm': algorithm, 'game': config.get('game')})
  if path in config_lib.SOLVER_FIELDS and not config_lib.reads(probe, path):
    same = config_lib.SAME_SETTING.get(path)
    same = (f"; {algorithm}'s exploration is config.{same}"
            if same in config_lib.SOLVER_FIELDS and config_lib.reads(probe, same) else '')
    shipped = (f' (a field of the {", ".join(elsewhere)} config(s))'
               if elsewhere and not same else '')
    return (f'config.{path} is read by {config_lib.SOLVER_FIELDS[path][0]}, not by '
            f'{algorithm}{same}{shipped}')
  if path in config_lib.SOLVER_FIELDS:  # read, but in no shipped config of the kind
    return (f'{algorithm} reads it, but {config_name(file)} has no such field: set it in a '
            f'config file (config.{path} = ...) that starts from {config_name(file)}')
  if elsewhere:
    return (f'it is a field of the {", ".join(elsewhere)} config(s): '
            f'--config={next(iter(elsewhere))}')
  return f'--help lists the fields of {config_name(file)}'


def _flag_error(e: Exception, config) -> str:
  """One line for an absl parsing error, saying what the field expects."""
  message = (str(e).strip().strip('"').splitlines() or [''])[0].removeprefix('ERROR:: ')
  m = re.match(r'flag --(?:no)?config\.(?P<path>[^=]+)=(?P<value>.*?): (?P<why>.*)$', message)
  if m and config is not None and _has(config, m['path']):
    kind = field_type(config, m['path'])
    why = '' if kind is bool else f' ({m["why"]})'
    return f'--config.{m["path"]}={m["value"]}: expected {expected(kind)}{why}'
  return message


# ----------------------------------------------------------------------------
# Help.


def _show(value) -> str:
  if isinstance(value, bool):
    return str(value).lower()
  if isinstance(value, str):
    return repr(value) if not value or ' ' in value or ',' in value or ';' in value else value
  return str(value)


def help_text(config: ml_collections.ConfigDict, file: str) -> str:
  """--help: usage, the flags, every config field with its default and meaning."""
  shipped = ', '.join(configs_lib.names())
  lines = [
      'usage: cfr-train [--config=<name or file>] [--workdir=<dir>] '
      '[--config.<field>=<value> ...]',
      '       (python -m launch.train ... from the repository root is the same program)',
      '',
      'Trains a CFR-family solver in chunks under time and iteration budgets; running the',
      'same command again resumes from the best usable checkpoint.',
      '',
      '  --config=<name or file>  a shipped config by name, or a config file (configs/kuhn.py,',
      f'                           my_config.py); default {configs_lib.DEFAULT}; shipped:',
      f'                           {shipped}',
      '  --workdir=<dir>          run directory (default runs/<config name>)',
      '  --helpfull               this, and every absl flag',
      '',
      f'Config fields of {config_name(file)} ({file}), set with --config.<field>=<value>:',
  ]
  order = {path: k for k, path in enumerate(configs_lib.FIELD_HELP)}
  listed = sorted(fields(config), key=lambda f: order.get(f[0], len(order)))
  for path, value in listed:
    lines.append(f'  --config.{path}={_show(value)}')
    meaning = configs_lib.FIELD_HELP.get(path)
    if meaning:
      lines.append(f'        {meaning}')
  lines += [
      '',
      'Exit codes: 0 complete (iteration or time budget reached); 1 bad flags or config',
      '(one line, nothing run); 2 failure (diverged, checkpoint I/O, an instance failed);',
      '75 interrupted by SIGINT/SIGTERM/SIGUSR1 after saving: run the same command to resume.',
  ]
  return '\n'.join(lines)


# ----------------------------------------------------------------------------
# The program.


# The fields the command line sets (--config.<field>=...), for `training.run`'s notes.
_GIVEN: list[str] = []


def _fail(message: str):
  print(f'error: {message}', file=sys.stderr)
  sys.exit(training.EXIT_USAGE)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parser for cfr-train, with every user mistake in one line and exit 1.

  Loads the config itself (so a missing or broken file is one line), checks
  every --config.<field> against it, then lets ml_collections apply the
  overrides; --help / --helpfull print the fields and exit 0.
  """
  config = None
  try:
    argv = flags.FLAGS.read_flags_from_files(argv, force_gnu=False)
    specs, rest = [], [argv[0]]
    args = iter(argv[1:])
    for arg in args:
      m = _CONFIG_ARG.match(arg)
      if arg == '--':
        rest += [arg, *args]
      elif m:
        specs.append(m['value'] if m['value'] is not None else next(args, ''))
      else:
        rest.append(arg)
    if len(set(specs)) > 1:  # the last one was trained in silence: which was meant?
      raise ConfigError(f'--config is given {len(specs)} times ({", ".join(specs)}): give '
                        'one config, and --config.<field>=<value> to change its fields')
    spec = specs[-1] if specs else configs_lib.DEFAULT
    config, file = load_config(spec)
    if any(a in _HELP + _HELPFULL for a in rest):
      print(help_text(config, file))
      if any(a in _HELPFULL for a in rest):
        print('\nabsl flags:\n' + flags.FLAGS.get_help())
      sys.exit(0)
    check_overrides(config, rest, file)
    _GIVEN[:] = [m['path'] for m in map(_OVERRIDE_ARG.match, rest) if m]
    config_flags.DEFINE_config_dict('config', config, 'The config; see --help.',
                                    lock_config=True, sys_argv=rest)
    flags.DEFINE_string('workdir', None, 'Run directory (default runs/<config name>).')
    unparsed = flags.FLAGS(rest)  # training.run's validate checks the values
  except ConfigError as e:
    _fail(str(e))
  except IndexError as e:  # --config.hidden[0]=5 on a tuple: a traceback
    indexed = [a for a in rest if _OVERRIDE_ARG.match(a) and '[' in a]
    _fail(f'{indexed[0] if indexed else "--config.<field>[...]"}: {e}; set the whole value '
          'instead (--config.<field>=<value>, e.g. --config.hidden=64,64)')
  except (flags.Error, KeyError, AttributeError, ValueError, TypeError) as e:
    _fail(_flag_error(e, config))
  if len(unparsed) > 1:
    _fail(f'unexpected arguments: {" ".join(unparsed[1:])} (flags are --name=value)')
  if flags.FLAGS['workdir'].present and not (flags.FLAGS.workdir or '').strip():
    _fail(f'--workdir needs a value (left out: runs/{config_name(file)})')
  flags.FLAGS.workdir = flags.FLAGS.workdir or os.path.join('runs', config_name(file))
  return unparsed


def _main(argv) -> int:
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    return training.run(flags.FLAGS.config, flags.FLAGS.workdir, given=_GIVEN)
  except ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    return training.EXIT_USAGE


def main() -> None:
  """The `cfr-train` console script."""
  # Until the run's own handlers take over (and after they let go), a stop
  # signal has nothing to save: one line and exit 75, never a traceback.
  signals_lib.exit_at_once_on_signals()
  # `cfr-train | head`: the run goes on to its end, its output to /dev/null.
  cli.outlive_readers('the run goes on; cfr-status <workdir> or its progress.json follow it')
  try:
    app.run(_main, flags_parser=parse_flags)
  except SystemExit as e:
    signals_lib.exit_process(e.code)  # see there: no interpreter teardown


if __name__ == '__main__':
  main()
