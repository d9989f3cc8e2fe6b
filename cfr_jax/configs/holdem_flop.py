"""A hold'em flop subgame in a 3-bet pot: flop, turn and river betting.

    cfr-train --config=holdem_flop --workdir=runs/holdem_flop

The ranges, flop, pot and stack of postflop-solver's `examples/basic.rs`
spot (b-inary/postflop-solver: Td9d6h, pot 200, effective stack 900).
basic.rs itself deals the turn Qc and solves from the turn with 60%,
geometric and all-in bets and a 50% river donk size; this config starts on
the flop with its own tree: bets of 60% of the pot or all-in on every
street, raises to 2.5x, at most two raises per street.

It is not Desktop Postflop's published benchmark preset (whose ranges and
later-street sizes are not published). Desktop Postflop's latest published
time on 16 threads, for a spot of similar size, is 12.6 s to 0.5% of the
pot (docs/design.md quotes 13.9 s in 1.22 GB): a reference for scale, not a
same-spot comparison.

The public tree has about 375,000 decision nodes and 650,000 terminals over
285 hands (228,000 decisions with chance isomorphism, the default), 180 in
the first player's range and 265 in the second's: the solver state (DCFR:
regrets and strategy sums, a row per decision and acting player's hand, its
legal actions only: 2 to 4) is 0.96 GB in float32; the process peaks at ~1.9 GB.
On a 2-core CPU an iteration takes ~1.6-1.9 s and 0.5% of the pot takes ~110
iterations, about 3 minutes (bench/RESULTS.md has the measurements). The run
stops at the first evaluation at or below 0.5% of the pot (the accuracy
postflop-solver's example solves to): `--config.target_pot_percent=0.1` goes
further, `=0` runs to max_iterations. Buckets (`--config.holdem.buckets.method=ehs
--config.holdem.buckets.num_buckets=50`) shrink the state ~6x, not the
per-hand tree passes, and their abstraction error stays in the real
exploitability.
"""
from cfr_jax.configs import holdem_river


def get_config():
  config = holdem_river.get_config()
  config.holdem.board = 'Td 9d 6h'
  config.holdem.pot = 200.0
  config.holdem.stack = 900.0
  config.holdem.range0 = '66+,A8s+,A5s-A4s,AJo+,K9s+,KQo,QTs+,JTs,96s+,85s+,75s+,65s,54s'
  config.holdem.range1 = ('QQ-22,AQs-A2s,ATo+,K5s+,KJo+,Q8s+,J8s+,T7s+,96s+,86s+,75s+,'
                          '64s+,53s+')
  config.holdem.bet_sizes = '0.6'
  config.holdem.raise_sizes = '0.41'  # raise to 2.5x a 60% bet: 0.9 / 2.2 of the pot after calling
  config.holdem.max_raises = 2
  config.max_iterations = 1_000
  config.target_pot_percent = 0.5  # done when solved that far: ~110 iterations, not 1,000
  config.chunk_iterations = 20
  config.eval_every = 20
  return config
