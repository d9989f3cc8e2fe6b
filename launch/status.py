"""`python -m launch.status` = `cfr-status`: see cfr_jax/cli/status.py."""
from cfr_jax.cli.scripts import status

if __name__ == '__main__':
  status()
