"""A hold'em river subgame (public tree x hands) with DCFR.

    cfr-train --config=holdem_river --workdir=runs/holdem_river \
        --config.holdem.board="Ks 9s 8h 3d 2c" --config.holdem.range1="TT+,AJ+"
    cfr-query runs/holdem_river --node=b10

Exploitability is reported in chips; the pot is config.holdem.pot.
"""
import ml_collections

from cfr_jax.configs import leduc


def get_config():
  config = leduc.get_config()
  config.game = 'holdem'
  config.holdem = ml_collections.ConfigDict(dict(
      board='Ks 9s 8h 3d 2c',  # 3, 4 or 5 cards: a flop, turn or river subgame
      pot=10.0,  # chips in the pot; each player put in half
      stack=50.0,  # effective stack behind
      range0='22+,A2s+,K9s+,Q9s+,J9s+,T8s+,97s+,A9o+,KTo+,QTo+,JTo',  # acts first
      range1='22+,A2s+,KTs+,QTs+,JTs,ATo+,KJo+',
      # Fractions of the pot ("0.33" or, as Desktop Postflop writes it, "33%");
      # all-in is always available. One list for every street, or one per
      # street separated by ';' ("0.33,0.75;0.5,1;1").
      bet_sizes='0.5,1',
      raise_sizes='1',  # fractions of the pot after calling
      max_raises=1,  # per street
      # Card abstraction (cfr_jax.abstraction): method '' (none: every hand is
      # its own infoset), 'iso' (lossless suit isomorphism), 'ehs' or 'hist'
      # (k-means on expected hand strength or its histogram, fixed seed).
      buckets=ml_collections.ConfigDict(dict(
          method='', num_buckets=0, histogram_bins=8, seed=0, kmeans_iterations=50)),
      # Chance isomorphism: deal one card per suit class where the board and
      # ranges are suit-symmetric (turn and flop subgames); values unchanged.
      isomorphism=True,
      # Rake, as postflop-solver takes it: min(rake_rate x pot, rake_cap) of
      # every pot won (the winner pays; a tie splits it). 0: none; cap 0: no cap.
      rake_rate=0.0, rake_cap=0.0))
  config.max_iterations = 2_000
  config.chunk_iterations = 500
  config.eval_every = 100
  return config
