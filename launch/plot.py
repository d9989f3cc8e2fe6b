"""`python -m launch.plot` = `cfr-plot`: see cfr_jax/cli/plot.py."""
from cfr_jax.cli.scripts import plot

if __name__ == '__main__':
  plot()
