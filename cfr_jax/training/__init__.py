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

The names below are imported on first use (`cfr_jax.lazy`): `cfr-status`
reads outputs only, and starts without loading JAX.
"""
from cfr_jax import lazy

_API = {  # name: the module of cfr_jax.training that defines it
    **dict.fromkeys(('EXIT_COMPLETE', 'EXIT_FAILURE', 'EXIT_INTERRUPTED', 'EXIT_USAGE',
                     'ConfigError', 'TrainingFailure', 'build_solver', 'check_finite',
                     'check_run_shape', 'initialize_distributed', 'validate', '_load_game'),
                    'config'),
    'run': 'loop', 'run_vmapped': 'loop',
    'MetricsWriter': 'outputs', 'write_json_atomic': 'outputs', '_duration': 'outputs',
    'AVERAGE_ONLY': 'resume', 'load_run': 'resume', 'restore_state': 'resume',
    'StopSignals': 'signals'}

__getattr__, __dir__ = lazy.exports(__name__, _API)
