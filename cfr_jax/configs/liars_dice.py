"""OpenSpiel's liar's dice (294,883 histories) with PCFR+; needs the open-spiel extra.

    cfr-train --config=liars_dice --workdir=runs/liars_dice
"""
from cfr_jax.configs import leduc


def get_config():
  config = leduc.get_config()
  config.game = 'openspiel:liars_dice'
  config.algorithm = 'pcfr+'
  config.max_iterations = 20_000
  config.chunk_iterations = 2_000
  config.eval_every = 1_000
  return config
