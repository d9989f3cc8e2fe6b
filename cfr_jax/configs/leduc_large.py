"""Leduc with 13 ranks (1.18M histories, 19,656 infosets) and DCFR.

    cfr-train --config=leduc_large --workdir=runs/leduc_large
"""
from cfr_jax.configs import leduc


def get_config():
  config = leduc.get_config()
  config.game = 'leduc(ranks=13)'
  config.max_iterations = 20_000
  config.chunk_iterations = 2_000
  config.eval_every = 1_000
  return config
