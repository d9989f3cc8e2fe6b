"""Leduc hold'em with external-sampling MCCFR (cfr_jax/sampled), linear weighting.

    python -m launch.train --config=configs/leduc_mccfr.py --workdir=/tmp/leduc_mccfr

An iteration is `batch_size` sampled traversals per player (split over
`devices` when more than one: each device runs its share); `seed` is the
PRNG key's seed (it is in the state, so a resumed run draws what an
uninterrupted one draws). Exploitability is exact (Leduc compiles).
"""
from ml_collections import config_dict

from cfr_jax.configs import leduc


def get_config():
  config = leduc.get_config()
  config.algorithm = 'es-mccfr'
  config.batch_size = 1024  # trajectories per player per iteration
  # 'uniform' (plain MCCFR), 'linear' (linear CFR / Pluribus), 'discounted' (DCFR
  # alpha, beta, gamma: set config.alpha etc.)
  config.weighting = 'linear'
  # os-mccfr: the exploration (epsilon) of the sampling player's policy; None: 0.6.
  config.exploration = config_dict.placeholder(float)
  config.max_iterations = 2_000
  config.chunk_iterations = 500
  config.eval_every = 250
  return config
