"""`python -m launch.query` = `cfr-query`: see cfr_jax/cli/query.py."""
from cfr_jax.cli.query import main

if __name__ == '__main__':
  main()
