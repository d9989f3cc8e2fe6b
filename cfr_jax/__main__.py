"""`python -m cfr_jax --game=leduc --algorithm=dcfr --iterations=5000`: a quick
solve (cfr_jax/cli/solve.py)."""
from cfr_jax.cli.scripts import solve

if __name__ == '__main__':
  solve()
