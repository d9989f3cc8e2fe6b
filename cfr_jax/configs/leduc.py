"""Leduc hold'em with DCFR: the default config.

    cfr-train --config=leduc --workdir=runs/leduc \
        --config.algorithm=dcfr --config.max_iterations=100000
"""
import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.game = 'leduc'  # cfr_jax.load_game spec
  # cfr, cfr+, linear_cfr, dcfr, dcfr+, pcfr+, pdcfr+, sapcfr+; scheduled: hs_dcfr, hs_pcfr+,
  # hs_pdcfr+, postflop_dcfr (README, "Hyperparameter schedules")
  config.algorithm = 'dcfr'
  # Algorithm hyperparameters; None keeps the algorithm's default.
  config.alpha = config_dict.placeholder(float)
  config.beta = config_dict.placeholder(float)
  config.gamma = config_dict.placeholder(float)
  # SAPCFR+: the prediction's step, 1 / (1 + asymmetry) (None: 1/3; 1 is PCFR+).
  config.prediction = config_dict.placeholder(float)
  # HS schedules: the iteration count the schedule is planned for (None: 1000).
  config.horizon = config_dict.placeholder(int)
  config.alternating = True
  config.dtype = 'float32'  # or float64
  # Compact storage: 'bfloat16' halves the state's memory (float32 arithmetic,
  # stochastically rounded regrets); it converges more slowly (bench/scale.py).
  config.storage = ''
  # The average strategy's compensated low-order sum (one more state-sized
  # array); None: on for tree games, off for hold'em subgames.
  config.compensated = config_dict.placeholder(bool)
  # Hold'em subgames: cards whose subtrees each half step passes over at a
  # time (less memory); None: 1 on states over 256 MB, else whole levels; 0: off.
  config.subtrees = config_dict.placeholder(int)

  # Budgets. The run is complete at max_iterations or when time_budget_minutes
  # of training (summed over restarts) are spent, whichever comes first.
  config.max_iterations = 100_000
  config.time_budget_minutes = 600.0
  # Or at the first evaluation (every eval_every iterations) whose exact
  # exploitability is at or below target_exploitability (chips), or in
  # hold'em at or below target_pot_percent of config.holdem.pot; 0: off.
  config.target_exploitability = 0.0
  config.target_pot_percent = 0.0
  # A chunk ends after chunk_iterations or chunk_minutes; then the state is
  # saved, progress and metrics are written, and the state is rebuilt from
  # the checkpoint.
  config.chunk_iterations = 20_000
  config.chunk_minutes = 10.0
  config.eval_every = 10_000  # exploitability every N iterations (and at the end)
  config.progress_seconds = 10.0  # longest time between progress updates
  # XLA programs compiled once are kept here and reused by later runs of the
  # same shapes (JAX's persistent compilation cache), and hold'em subgames slow
  # to build in its games/: '' is ~/.cache/cfr_jax/xla (or
  # $XDG_CACHE_HOME/cfr_jax/xla), 'none' turns both off.
  config.compilation_cache = ''

  # Checkpoints: <workdir>/checkpoints, plus read-only extra locations searched
  # on restore (comma-separated), and an optional mirror of every save.
  config.extra_locations = ''
  config.mirror_to = ''
  config.keep_checkpoints = 3

  # Many instances: N processes, each in <workdir>/instance_<k>. CFR is
  # deterministic, so instances differ by a sweep: sweep_field takes the
  # comma-separated sweep_values in turn (e.g. algorithm: cfr+,dcfr,pcfr+).
  config.num_instances = 1
  config.seed = 0  # recorded per instance (seed + k); CFR itself draws no randomness
  config.sweep_field = ''
  config.sweep_values = ''
  # 'process': one process per instance; 'vmap': all instances as one vmapped
  # program on one device (they may differ only by seed, alpha, beta, gamma).
  config.instances_mode = 'process'

  # Devices the state's infoset axis is sharded over (a 1-D jax.sharding.Mesh):
  # 1 keeps everything on the default device; 0 uses every device (of every
  # host, under jax.distributed). Checkpoints restore on any device count.
  config.devices = 1

  # Many hosts: one run across the processes of a jax.distributed job, its
  # state sharded over every device of every process (devices=1 then means
  # all of them). Empty fields come from JAX_COORDINATOR_ADDRESS,
  # JAX_NUM_PROCESSES, JAX_PROCESS_ID, or JAX's cluster detection (SLURM,
  # Open MPI, TPU). See launch/two_node_example.sh in the repository.
  config.distributed = ml_collections.ConfigDict(dict(
      enabled=False,
      coordinator_address='',  # host:port of process 0
      num_processes=0,  # 0: from the environment
      process_id=-1,  # -1: from the environment
      local_device_ids=''))  # comma-separated; '': every local device
  return config
