"""`python -m launch.train` = `cfr-train`: see cfr_jax/cli/train.py (--help lists every field)."""
from cfr_jax.cli.scripts import train

if __name__ == '__main__':
  train()
