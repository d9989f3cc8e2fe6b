"""Kuhn poker with Deep CFR: a small smoke run (tests use it with tinier settings).

    python -m launch.train --config=configs/kuhn_deep_cfr.py --workdir=/tmp/kuhn_deep_cfr
"""
from cfr_jax.configs import leduc_deep_cfr


def get_config():
  config = leduc_deep_cfr.get_config()
  config.game = 'kuhn'
  config.hidden = (64, 64)
  config.traversals = 128
  config.advantage_steps = 200
  config.policy_steps = 100
  config.batch_size = 256
  config.advantage_memory = 20_000
  config.policy_memory = 40_000
  config.max_iterations = 30  # exploitability about 0.02-0.03 (tests/test_neural.py)
  config.chunk_iterations = 10
  config.eval_every = 5
  return config
