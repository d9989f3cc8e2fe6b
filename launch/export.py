"""`python -m launch.export` = `cfr-export`: see cfr_jax/cli/export.py."""
from cfr_jax.cli.scripts import export

if __name__ == '__main__':
  export()
