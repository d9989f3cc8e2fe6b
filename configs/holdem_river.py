"""A hold'em river subgame (public tree x 1,081 hands) with DCFR.

    python -m launch.train --config=configs/holdem_river.py --workdir=runs/holdem_river \
        --config.river.board="Ks 9s 8h 3d 2c" --config.river.range1="TT+,AJ+"

Exploitability is reported in chips; the pot is config.river.pot.
"""
import ml_collections

from configs import leduc


def get_config():
  config = leduc.get_config()
  config.game = 'river'
  config.river = ml_collections.ConfigDict(dict(
      board='Ks 9s 8h 3d 2c',
      pot=10.0,  # chips in the pot; each player put in half
      stack=50.0,  # effective stack behind
      range0='22+,A2s+,K9s+,Q9s+,J9s+,T8s+,97s+,A9o+,KTo+,QTo+,JTo',  # acts first
      range1='22+,A2s+,KTs+,QTs+,JTs,ATo+,KJo+',
      bet_sizes='0.5,1',  # fractions of the pot; all-in is always available
      raise_sizes='1',  # fractions of the pot after calling
      max_raises=1))
  config.max_iterations = 2_000
  config.chunk_iterations = 500
  config.eval_every = 100
  return config
