"""A hold'em turn subgame: turn and river betting, the river card dealt.

    cfr-train --config=holdem_turn --workdir=runs/holdem_turn
    cfr-query runs/holdem_turn --node="kb10c/7h/"

1,740 decision nodes x 275 hands; 0.1% of the pot after about 160
iterations, some 3 s on 2 CPU cores (bench/holdem.py, bench/RESULTS.md).
"""
from cfr_jax.configs import holdem_river


def get_config():
  config = holdem_river.get_config()
  config.holdem.board = 'Ks 9s 8h 3d'
  config.holdem.pot = 20.0
  config.holdem.stack = 40.0
  config.holdem.range0 = '22+,A2s+,K9s+,Q9s+,J9s+,T8s+,97s+,87s,76s,A9o+,KTo+,QTo+,JTo'
  config.holdem.range1 = '22+,A2s+,KTs+,QTs+,JTs,T9s,98s,ATo+,KJo+'
  config.max_iterations = 1_000
  config.chunk_iterations = 100
  config.eval_every = 50
  return config
