"""Writes the average policy of a trained run (any game) to .npz or .json.

    cfr-export runs/kuhn --out=kuhn_policy.json     (or python -m launch.export ...)
    cfr-export runs/leduc --out=leduc_policy.npz

JSON is {infoset key: {action label: probability}} over the legal actions
(labels: the game's action ids, or hold'em betting tokens like 'k', 'b10');
.npz is `TabularPolicy.save_npz` (read back with `TabularPolicy.load_npz`).
The run is restored as `training.load_run` does: its own config, the best
usable checkpoint of its own fingerprint.
"""
from __future__ import annotations

import os
import sys
import time

from absl import flags
from absl import logging

from cfr_jax import cli
from cfr_jax import training  # its names load JAX when first used: --help does not

FORMATS = ('.npz', '.json')


def export_policy(workdir: str, out: str) -> str:
  """Writes `workdir`'s average policy to `out` (.npz or .json); a summary line.

  Raises training.ConfigError for a workdir without a usable run or a bad
  `out`.
  """
  _check_not_the_runs(workdir, out)  # first: what it would overwrite matters most
  try:
    ext = '.' + cli.out_extension(out, [f[1:] for f in FORMATS], 'policy.npz', 'a policy file')
  except ValueError as e:
    raise training.ConfigError(str(e)) from None
  if ext not in FORMATS:
    raise training.ConfigError(f'--out={out}: the file name must end in .npz or .json')
  solver, state = training.load_run(workdir, skip=training.AVERAGE_ONLY)
  if solver.game is None:  # Deep CFR on a generative env: a network, no table
    raise training.ConfigError(
        f'{workdir} trained {solver.describe()["game"]}, a game that does not compile: its '
        'policy is a network over observations, not a table of infosets; load it in Python '
        '(cfr_jax.training.load_run, then solver.policy(state) or '
        'solver.average_policy_probs(state, env_states))')
  policy = solver.average_policy(state)
  last = time.monotonic()

  def progress(done, total):  # a flop subgame's JSON is 5e7 infosets, minutes of writing
    nonlocal last
    if time.monotonic() - last >= 10 and done < total:
      last = time.monotonic()
      print(f'  {done:,} of {total:,} infosets written', flush=True)

  try:
    if ext == '.json':
      policy.save_json(out, progress=progress)
    else:
      policy.save_npz(out)
  except OSError as e:
    raise training.ConfigError(f'cannot write {out}: {e.strerror or e}') from None
  return (f'wrote {out}: {len(policy.keys)} infosets of {solver.game.name}, '
          f'iteration {int(state.iteration)}')


def _check_not_the_runs(workdir: str, out: str) -> None:
  """ConfigError if `out` is one of the files a run keeps: the exported run's
  (--out=<workdir>/progress.json was written over the run's progress,
  config.json over the config its checkpoints are read by), or any other
  run's that holds `out`'s directory (--out=<another run>/config.json)."""
  from cfr_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top
  from cfr_jax.training import loop as loop_lib  # pylint: disable=g-import-not-at-top
  target, run = os.path.realpath(out), os.path.realpath(workdir)
  holder = config_lib.run_holding(target)  # the nearest run above it (runs do not nest)
  for owner in [run] + ([holder] if holder not in (None, run) else []):
    for name, directory in loop_lib.OUTPUTS:
      own = os.path.join(owner, name)
      if target == own or (directory and target.startswith(own + os.sep)):
        how = 'over' if target == own else 'into'
        what = f"the run's own {name}" if owner == run else f'{name} of the run in {owner}'
        raise training.ConfigError(f'--out={out} would write {how} {what}: '
                                   'give another file name')


def _main(argv, out: str) -> int:
  logging.set_verbosity(logging.WARNING)
  if cli.one_workdir(argv, 'cfr-export <workdir> --out=<policy.npz or .json>', 'out',
                     lambda a: os.path.splitext(a)[1].lower() in FORMATS) is None:
    return training.EXIT_USAGE
  try:
    print(export_policy(argv[1], out))
  except training.ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    return training.EXIT_USAGE
  return training.EXIT_COMPLETE


def main() -> None:
  """The `cfr-export` console script."""
  out = flags.DEFINE_string('out', 'policy.npz', 'File to write: .npz or .json.')
  cli.run(lambda argv: _main(argv, out.value))


if __name__ == '__main__':
  main()
