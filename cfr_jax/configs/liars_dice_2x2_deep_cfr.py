"""Liar's dice with 2 dice each (6 sides; about 1e10 histories, it does not
compile) with Deep CFR on the generative env: sampled traversals, and progress
measured by head-to-head play against the uniform policy (no exact
exploitability exists here).

    python -m launch.train --config=configs/liars_dice_2x2_deep_cfr.py \
        --workdir=/tmp/liars_dice_2x2_deep_cfr

bench/beyond_memory.py runs it under a time budget, interrupts and resumes it,
and plays every saved checkpoint against the first one and against uniform.
"""
from cfr_jax.configs import leduc_deep_cfr


def get_config():
  config = leduc_deep_cfr.get_config()
  config.game = 'env:liars_dice(dice=2,sides=6)'
  config.hidden = (128, 128)
  config.traversals = 2048  # sampled trajectories per player and iteration
  config.epsilon = 0.5  # the traverser's exploration (cfr_jax/neural/env_traversal.py)
  config.advantage_steps = 300
  config.policy_steps = 200
  config.batch_size = 512
  config.advantage_memory = 200_000
  config.policy_memory = 400_000
  config.eval_games = 20_000  # per head-to-head evaluation
  config.max_iterations = 1000
  config.time_budget_minutes = 30.0
  # A checkpoint holds the memories (about 280 MB here): one per 50 iterations.
  config.chunk_iterations = 50
  config.chunk_minutes = 3.0
  config.eval_every = 10
  config.keep_checkpoints = 100  # bench/beyond_memory.py plays every one of them
  return config
