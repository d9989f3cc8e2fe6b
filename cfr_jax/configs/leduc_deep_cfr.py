"""Leduc hold'em with Deep CFR (cfr_jax/neural): flax MLPs trained with optax.

    python -m launch.train --config=configs/leduc_deep_cfr.py --workdir=/tmp/leduc_deep_cfr

An iteration is, for each player, `traversals` external-sampling traversals
into reservoir memories and `advantage_steps` Adam steps of that player's
advantage network, then `policy_steps` steps of the average-strategy network.
The state (parameters, optimizer states, memories, iteration, RNG key from
`seed`) is what is checkpointed, so a resumed run reproduces an uninterrupted
one bit for bit (CPU). Exploitability of the average-strategy network's
policy is exact (Leduc compiles). The settings are bench/deep_cfr.py's (ours).
"""
from cfr_jax.configs import leduc


def get_config():
  config = leduc.get_config()
  config.algorithm = 'deep-cfr'
  config.hidden = (64, 64)  # hidden layer widths of every network
  config.traversals = 256  # per player and iteration
  config.advantage_steps = 1000  # Adam steps per player and iteration
  config.policy_steps = 200  # Adam steps of the average-strategy network per iteration
  config.batch_size = 1024  # training minibatch
  config.advantage_memory = 200_000  # reservoir samples per player
  config.policy_memory = 400_000
  config.learning_rate = 3e-3
  config.reinitialize = True  # advantage networks from fresh parameters every iteration
  # An iteration here costs what thousands of tabular ones do.
  config.max_iterations = 200
  config.chunk_iterations = 20
  config.eval_every = 10
  return config
