r"""Trains a CFR-family solver in chunks under time and iteration budgets, resumably.

    python -m launch.train --config=configs/leduc.py --workdir=runs/leduc \
        --config.algorithm=dcfr --config.max_iterations=100000 \
        --config.chunk_iterations=5000 --config.chunk_minutes=10 \
        --config.time_budget_minutes=600 --config.num_instances=1 --config.seed=0

Running the same command again resumes from the best usable checkpoint.
Exit codes: 0 complete (iteration or time budget reached); 1 bad flags or
config; 2 failure (diverged, checkpoint I/O); 75 interrupted by SIGINT/SIGTERM
(or SIGUSR1, which never escalates) after saving: run the same command again
to resume. A second SIGINT/SIGTERM exits at once, keeping the last checkpoint.
"""
import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from cfr_jax import training

_DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), '..', 'configs', 'leduc.py')
_CONFIG = config_flags.DEFINE_config_file(
    'config', os.path.normpath(_DEFAULT_CONFIG), 'Config file (configs/*.py); '
    'override fields with --config.<field>=<value>.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (default runs/<config name>).')


def _parse_flags(argv):
  """absl's parser, with every user mistake reported in one line and exit 1."""
  try:
    rest = flags.FLAGS(argv)
  except (flags.Error, KeyError, AttributeError, ValueError, TypeError) as e:
    message = str(e).strip().strip('"').splitlines()[0]
    if isinstance(e, (KeyError, AttributeError)):
      message = f'unknown config field {message}'
    print(f'error: {message}', file=sys.stderr)
    sys.exit(training.EXIT_USAGE)
  if len(rest) > 1:
    print(f'error: unexpected arguments: {" ".join(rest[1:])}', file=sys.stderr)
    sys.exit(training.EXIT_USAGE)
  return rest


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  config_path = config_flags.get_config_filename(flags.FLAGS['config'])
  workdir = _WORKDIR.value or os.path.join(
      'runs', os.path.splitext(os.path.basename(config_path))[0])
  try:
    return training.run(_CONFIG.value, workdir)
  except training.ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    return training.EXIT_USAGE


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
