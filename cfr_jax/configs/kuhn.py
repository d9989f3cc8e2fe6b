"""Kuhn poker with CFR+: a seconds-long smoke run.

    cfr-train --config=kuhn --workdir=runs/kuhn
"""
from cfr_jax.configs import leduc


def get_config():
  config = leduc.get_config()
  config.game = 'kuhn'
  config.algorithm = 'cfr+'
  config.max_iterations = 10_000
  config.chunk_iterations = 5_000
  config.eval_every = 1_000
  return config
