"""OpenSpiel's liar's dice (294,883 histories, 24,576 infosets) with Deep CFR;
needs the open-spiel extra (the networks read its information-state tensors).

    python -m launch.train --config=configs/liars_dice_deep_cfr.py \
        --workdir=/tmp/liars_dice_deep_cfr
"""
from cfr_jax.configs import leduc_deep_cfr


def get_config():
  config = leduc_deep_cfr.get_config()
  config.game = 'openspiel:liars_dice'
  config.hidden = (128, 128)
  config.traversals = 512
  config.advantage_steps = 500
  config.policy_steps = 200
  config.batch_size = 512
  config.advantage_memory = 400_000
  config.policy_memory = 800_000
  config.max_iterations = 100
  config.chunk_iterations = 10
  config.eval_every = 10
  return config
