"""The training job: restore -> chunks under budgets -> save -> progress, resumable.

`run(config, workdir)` is what `launch/train.py` and notebooks call; it returns
an exit code (see `EXIT_*`). Every chunk ends in a verified checkpoint, so a
run killed at any moment continues from its last complete chunk, and since
`Solver.run` is chunking-invariant, the final state is bit for bit the one an
uninterrupted run reaches (on CPU).

Modules, by concern:
  config     validation, exit codes, the game and solver a config describes
  loop       the chunk loop over one instance or many vmapped ones
  resume     restore in the solver's layout; `load_run` for tools and notebooks
  outputs    progress.json, metrics.jsonl / TensorBoard, the terminal display
  signals    graceful stop on the first signal, immediate exit on the second
  lock       one live launcher per workdir
  instances  many instances as child processes that die with their parent
"""
from cfr_jax.training.config import (EXIT_COMPLETE, EXIT_FAILURE, EXIT_INTERRUPTED,
                                     EXIT_USAGE, ConfigError, TrainingFailure, build_solver,
                                     check_finite, check_run_shape,
                                     initialize_distributed, validate, _load_game)
from cfr_jax.training.loop import run, run_vmapped
from cfr_jax.training.outputs import MetricsWriter, write_json_atomic, _duration
from cfr_jax.training.resume import AVERAGE_ONLY, load_run, restore_state
from cfr_jax.training.signals import StopSignals
