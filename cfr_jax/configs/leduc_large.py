"""Leduc with 13 ranks (1.18M histories, 19,656 infosets) and DCFR.

    python -m launch.train --config=configs/leduc_large.py --workdir=runs/leduc_large
"""
from configs import leduc


def get_config():
  config = leduc.get_config()
  config.game = 'leduc(ranks=13)'
  config.max_iterations = 20_000
  config.chunk_iterations = 2_000
  config.eval_every = 1_000
  return config
