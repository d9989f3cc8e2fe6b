"""`python -m launch.query` = `cfr-query`: see cfr_jax/cli/query.py."""
from cfr_jax.cli.scripts import query

if __name__ == '__main__':
  query()
