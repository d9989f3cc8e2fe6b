"""The command-line entry points (installed as console scripts; see pyproject.toml).

    cfr-train   train.py    trains a config in chunks, resumably (`python -m launch.train`)
    cfr-status  status.py   one table row per run or instance
    cfr-plot    plot.py     exploitability against iterations and time
    cfr-query   query.py    a trained hold'em subgame's strategy at one betting line
    cfr-export  export.py   a trained run's average policy as .npz or .json

Each module's `main()` is the console script; `launch/<name>.py` calls the
same function, so `python -m launch.<name>` from the repository root works too.
The logic lives in the functions next to `main()`, importable without
defining any flag.
"""
import sys

from absl import app
from absl import flags

EXIT_USAGE, EXIT_INTERRUPTED = 1, 75  # as the launcher's (training.EXIT_*)
_HELP = ('--help', '-?', '--helpshort', '--helpfull', '--helpxml')


def parse_flags(argv: list) -> list:
  """absl's parser, with a mistyped flag or value in one line (`error: ...`)
  and exit 1, where absl prints two lines ('FATAL Flags parsing error'), and
  --help exiting 0 (absl: 1), as cfr-train's does."""
  try:
    return flags.FLAGS(argv)
  except SystemExit as e:  # absl's --help exits 1 after printing the usage
    if e.code == 1 and any(a.split('=')[0] in _HELP for a in argv[1:]):
      sys.exit(0)
    raise
  except flags.Error as e:
    message = (str(e).strip().splitlines() or [''])[0]
    print(f'error: {message.removeprefix("ERROR:: ")}', file=sys.stderr)
    sys.exit(EXIT_USAGE)


def run(main) -> None:
  """app.run(main) for cfr-query, cfr-export, cfr-status and cfr-plot: flag
  mistakes in one line (`parse_flags`), and Ctrl-C (while JAX loads a run,
  say) one line and exit 75, never a KeyboardInterrupt traceback."""
  try:
    app.run(main, flags_parser=parse_flags)
  except KeyboardInterrupt:
    print('SIGINT: exiting', file=sys.stderr)  # (the launcher's words)
    sys.exit(EXIT_INTERRUPTED)
