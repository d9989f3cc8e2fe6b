"""Liar's dice with OpenSpiel's rules (`liars_dice`, bidding rule reset-face).

Each player rolls their dice in secret (player 0's first, one die per chance
step, outcome slot = face - 1). Players alternate, player 0 first, each bid
(quantity q, face f), slot (q - 1) * sides + (f - 1), higher than the last;
or, once a bid stands, call "liar" (the last slot). The highest face is wild.
The bid holds if at least q dice show f or the wild face; the caller loses
(payoff -1, the bidder +1) if it holds, and wins otherwise.
"""
from __future__ import annotations

from flax import struct
import jax
import jax.numpy as jnp

from cfr_jax.envs.core import CHANCE, TERMINAL, Env


@struct.dataclass
class LiarsDiceState:
  dice: jax.Array  # [D] int32 faces - 1 (player 0's dice first), -1 until rolled
  rolled: jax.Array  # [] int32
  last_bid: jax.Array  # [] int32, -1 before the first bid
  bids: jax.Array  # [] int32 bitmask of the bids made (they only increase)
  moves: jax.Array  # [] int32 bids and calls made
  called: jax.Array  # [] bool, "liar" was called


@struct.dataclass
class LiarsDice(Env):
  """Liar's dice with `dice[p]` dice for player p and `sides` faces."""
  dice: tuple = struct.field(pytree_node=False, default=(1, 1))
  sides: int = struct.field(pytree_node=False, default=6)

  def __post_init__(self):
    if len(self.dice) != 2 or min(self.dice) < 1 or self.sides < 2:
      raise ValueError(f'liars dice needs two players with >= 1 die each and >= 2 '
                       f'sides, got dice={self.dice}, sides={self.sides}')
    if self.num_codes > 2 ** 31 - 1:
      raise ValueError(f'liars dice infoset codes of dice={self.dice}, sides={self.sides} '
                       'do not fit an int32')

  @property
  def spec(self) -> str:
    """The `envs.load_env` name of this game."""
    d = self.dice
    dice = d[0] if d[0] == d[1] else f'{d[0]}:{d[1]}'
    return f'liars_dice(dice={dice},sides={self.sides})'

  @property
  def total_dice(self) -> int:
    return sum(self.dice)

  @property
  def num_bids(self) -> int:
    return self.total_dice * self.sides

  @property
  def liar(self) -> int:
    return self.num_bids

  @property
  def num_actions(self) -> int:
    return self.num_bids + 1

  @property
  def num_outcomes(self) -> int:
    return self.sides

  @property
  def max_depth(self) -> int:
    return self.total_dice + self.num_bids + 1

  @property
  def num_codes(self) -> int:
    return 2 * (self.sides + 1) ** max(self.dice) * 2 ** self.num_bids

  def root(self) -> LiarsDiceState:
    z = jnp.zeros((), jnp.int32)
    return LiarsDiceState(dice=jnp.full(self.total_dice, -1, jnp.int32), rolled=z,
                          last_bid=z - 1, bids=z, moves=z, called=jnp.zeros((), bool))

  def current_player(self, s):
    return jnp.where(s.rolled < self.total_dice, CHANCE,
                     jnp.where(s.called, TERMINAL, s.moves % 2)).astype(jnp.int32)

  def legal_mask(self, s):
    slots = jnp.arange(self.num_actions)
    mask = jnp.where(slots == self.liar, s.last_bid >= 0, slots > s.last_bid)
    p = self.current_player(s)
    return mask & (p < 2)

  def chance_probs(self, s):
    chance = self.current_player(s) == CHANCE
    return jnp.where(chance, jnp.full(self.sides, 1.0 / self.sides), 0.0).astype(jnp.float32)

  def step(self, s, a):
    a = jnp.asarray(a, jnp.int32)
    roll = s.replace(dice=s.dice.at[jnp.minimum(s.rolled, self.total_dice - 1)].set(a),
                     rolled=s.rolled + 1)
    is_liar = a == self.liar
    bid = jnp.left_shift(jnp.int32(1), jnp.minimum(a, self.num_bids - 1))
    act = s.replace(last_bid=jnp.where(is_liar, s.last_bid, a),
                    bids=jnp.where(is_liar, s.bids, s.bids | bid),
                    moves=s.moves + 1, called=is_liar)
    chance = self.current_player(s) == CHANCE
    return jax.tree.map(lambda x, y: jnp.where(chance, x, y), roll, act)

  def returns(self, s):
    quantity = s.last_bid // self.sides + 1
    face = s.last_bid % self.sides
    wild = self.sides - 1
    count = jnp.sum((s.dice == face) | (s.dice == wild))
    caller = (s.moves - 1) % 2
    winner = jnp.where(count >= quantity, 1 - caller, caller)
    u = jnp.where(winner == 0, 1.0, -1.0)
    u = jnp.where(self.current_player(s) == TERMINAL, u, 0.0).astype(jnp.float32)
    return jnp.stack([u, -u])

  def infoset_code(self, s):
    p = self.current_player(s)
    width = max(self.dice)
    base = self.sides + 1

    def own(lo, n):  # a player's dice sorted (the infoset ignores their order), padded
      d = jnp.sort(s.dice[lo:lo + n])
      return jnp.concatenate([d, jnp.full(width - n, self.sides, jnp.int32)])
    dice = jnp.where(p == 0, own(0, self.dice[0]), own(self.dice[0], self.dice[1]))
    powers = base ** jnp.arange(width - 1, -1, -1, dtype=jnp.int32)
    code = (p * base ** width + jnp.sum(dice * powers)) * 2 ** self.num_bids + s.bids
    return jnp.where(p < 2, code, -1).astype(jnp.int32)


  def observation(self, s):
    """[2 + sides + 2 * num_bids]: the acting player (one-hot), how many of
    their own dice show each face, the bids made so far (the bitmask, which
    is the whole public history: bids only increase) and the standing bid
    (one-hot; zeros before the first)."""
    p = self.current_player(s)
    deciding = p < 2
    me = jnp.clip(p, 0, 1)
    owner = jnp.where(jnp.arange(self.total_dice) < self.dice[0], 0, 1)
    mine = (owner == me) & (s.dice >= 0)
    counts = jnp.sum(mine[:, None] & (s.dice[:, None] == jnp.arange(self.sides)), 0)
    bits = jnp.right_shift(s.bids, jnp.arange(self.num_bids, dtype=jnp.int32)) & 1
    last = jnp.arange(self.num_bids) == s.last_bid
    out = jnp.concatenate([jax.nn.one_hot(me, 2), counts.astype(jnp.float32),
                           bits.astype(jnp.float32), last.astype(jnp.float32)])
    return jnp.where(deciding, out, 0.0).astype(jnp.float32)


def liars_dice_env(dice=(1, 1), sides: int = 6) -> LiarsDice:
  """Liar's dice; `dice`: an int (each player's) or one count per player."""
  if isinstance(dice, int):
    dice = (dice, dice)
  return LiarsDice(dice=tuple(int(d) for d in dice), sides=int(sides))
