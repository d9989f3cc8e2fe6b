"""Kuhn and Leduc poker (and the Leduc family of `games.LeducRules`) as envs.

Rules, action slots and chance orders are those of the compiled games in
cfr_jax/games/poker.py (OpenSpiel's): a card is dealt per chance step, its
outcome slot being the card's index, so the compiled game's k-th chance
child is the k-th card still in the deck.
"""
from __future__ import annotations

from flax import struct
import jax
import jax.numpy as jnp

from cfr_jax.envs.core import CHANCE, TERMINAL, Env
from cfr_jax.games.poker import CALL, FOLD, RAISE, LeducRules

_INT32_CODES = 2 ** 31 - 1


def _select(pred, a, b):
  """The pytree `a` where `pred` (a scalar), else `b`."""
  return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


# ----------------------------------------------------------------------------
# Kuhn poker.


@struct.dataclass
class KuhnState:
  cards: jax.Array  # [2] int32, -1 until dealt
  dealt: jax.Array  # [] int32
  history: jax.Array  # [3] int32 actions (0 pass, 1 bet), -1 padded
  length: jax.Array  # [] int32


@struct.dataclass
class Kuhn(Env):
  """Kuhn poker: 3 cards, ante 1, one bet of 1. Slots: 0 = pass, 1 = bet."""
  num_actions: int = struct.field(pytree_node=False, default=2)
  num_outcomes: int = struct.field(pytree_node=False, default=3)
  max_depth: int = struct.field(pytree_node=False, default=5)
  num_codes: int = struct.field(pytree_node=False, default=27)

  def root(self) -> KuhnState:
    return KuhnState(cards=jnp.full(2, -1, jnp.int32), dealt=jnp.zeros((), jnp.int32),
                     history=jnp.full(3, -1, jnp.int32), length=jnp.zeros((), jnp.int32))

  def _terminal(self, s):
    h = s.history
    # Every history of length 3 ends (pbp, pbb); of length 2 all but pb.
    return (s.length == 3) | ((s.length == 2) & ~((h[0] == 0) & (h[1] == 1)))

  def current_player(self, s):
    return jnp.where(s.dealt < 2, CHANCE,
                     jnp.where(self._terminal(s), TERMINAL, s.length % 2)).astype(jnp.int32)

  def legal_mask(self, s):
    p = self.current_player(s)
    return jnp.broadcast_to((p == 0) | (p == 1), (2,))

  def chance_probs(self, s):
    free = jnp.all(jnp.arange(3)[:, None] != s.cards[None, :], axis=1)
    return jnp.where((s.dealt < 2) & free, 1.0 / (3 - s.dealt), 0.0).astype(jnp.float32)

  def step(self, s, a):
    a = jnp.asarray(a, jnp.int32)
    deal = s.replace(cards=s.cards.at[jnp.minimum(s.dealt, 1)].set(a), dealt=s.dealt + 1)
    act = s.replace(history=s.history.at[jnp.minimum(s.length, 2)].set(a),
                    length=s.length + 1)
    return _select(s.dealt < 2, deal, act)

  def returns(self, s):
    h = s.history
    last_two_bets = (h[jnp.maximum(s.length - 2, 0)] == 1) & (h[jnp.maximum(s.length - 1, 0)] == 1)
    stake = jnp.where(last_two_bets, 2.0, 1.0)
    showdown = jnp.where(s.cards[0] > s.cards[1], stake, -stake)
    bp = (s.length == 2) & (h[0] == 1) & (h[1] == 0)
    pbp = (s.length == 3) & (h[2] == 0)
    u = jnp.where(bp, 1.0, jnp.where(pbp, -1.0, showdown))
    u = jnp.where(self.current_player(s) == TERMINAL, u, 0.0).astype(jnp.float32)
    return jnp.stack([u, -u])

  def infoset_code(self, s):
    p = self.current_player(s)
    digits = jnp.where(jnp.arange(2) < s.length, s.history[:2] + 1, 0)
    code = s.cards[jnp.clip(p, 0, 1)] * 9 + digits[0] * 3 + digits[1]
    return jnp.where(p < 2, code, -1).astype(jnp.int32)


  def observation(self, s):
    """[9]: the acting player (one-hot), their card (one-hot), the two
    actions so far (one-hot pass/bet each, zeros if not taken yet)."""
    p = self.current_player(s)
    me = jnp.clip(p, 0, 1)
    taken = jnp.arange(2) < s.length
    acts = jnp.where(taken[:, None], jax.nn.one_hot(s.history[:2], 2), 0.0).reshape(-1)
    out = jnp.concatenate([jax.nn.one_hot(me, 2), jax.nn.one_hot(s.cards[me], 3), acts])
    return jnp.where(p < 2, out, 0.0).astype(jnp.float32)

  @property
  def payoff_scale(self) -> float:
    return 2.0

  spec = 'kuhn'


# ----------------------------------------------------------------------------
# Leduc poker and its family.


@struct.dataclass
class LeducState:
  cards: jax.Array  # [3] int32: player 0's, player 1's, the board; -1 until dealt
  dealt: jax.Array  # [] int32
  round: jax.Array  # [] int32, 0 or 1
  seq: jax.Array  # [2, L] int32 actions of each round, -1 padded
  seq_len: jax.Array  # [2] int32
  contrib: jax.Array  # [2] int32 chips each player has put in
  folder: jax.Array  # [] int32, the player who folded, or -1
  done: jax.Array  # [] bool


@struct.dataclass
class Leduc(Env):
  """Leduc hold'em (`LeducRules`; OpenSpiel's by default).

  Slots 0 = fold, 1 = call/check, 2 = raise; chance outcome = card index.
  Infoset code: (player, private card, board or none, both rounds' actions
  as base-4 digits), dense up to `num_codes`; variants whose codes would not
  fit an int32 are refused.
  """
  rules: LeducRules = struct.field(pytree_node=False, default=LeducRules())

  @property
  def spec(self) -> str:
    r, d = self.rules, LeducRules()
    changed = [f'{k}={":".join(map(str, v)) if isinstance(v, tuple) else v}'
               for k, v in vars(r).items() if getattr(d, k) != v]
    return f'leduc({",".join(changed)})' if changed else 'leduc'

  @property
  def num_cards(self) -> int:
    return self.rules.ranks * self.rules.suits

  @property
  def _round_len(self) -> int:
    return self.rules.max_raises + 2  # check, raises, then the closing call or fold

  @property
  def num_actions(self) -> int:
    return 3

  @property
  def num_outcomes(self) -> int:
    return self.num_cards

  @property
  def max_depth(self) -> int:
    return 3 + 2 * self._round_len

  @property
  def num_codes(self) -> int:
    n = self.num_cards
    return 2 * n * (n + 1) * 4 ** (2 * self._round_len)

  def __post_init__(self):
    if self.num_codes > _INT32_CODES:
      raise ValueError(f'leduc infoset codes of {self.rules} do not fit an int32')

  def root(self) -> LeducState:
    z = jnp.zeros((), jnp.int32)
    ante = self.rules.ante
    return LeducState(cards=jnp.full(3, -1, jnp.int32), dealt=z, round=z,
                      seq=jnp.full((2, self._round_len), -1, jnp.int32),
                      seq_len=jnp.zeros(2, jnp.int32),
                      contrib=jnp.full(2, ante, jnp.int32), folder=z - 1,
                      done=jnp.zeros((), bool))

  def _is_chance(self, s):
    return (s.dealt < 2) | ((s.round == 1) & (s.dealt < 3))

  def current_player(self, s):
    actor = s.seq_len[s.round] % 2
    return jnp.where(self._is_chance(s), CHANCE,
                     jnp.where(s.done, TERMINAL, actor)).astype(jnp.int32)

  def legal_mask(self, s):
    p = self.current_player(s)
    me = jnp.clip(p, 0, 1)
    raises = jnp.sum(s.seq[s.round] == RAISE)
    mask = jnp.stack([s.contrib[1 - me] > s.contrib[me], jnp.asarray(True),
                      raises < self.rules.max_raises])
    return mask & (p < 2)

  def chance_probs(self, s):
    free = jnp.all(jnp.arange(self.num_cards)[:, None] != s.cards[None, :], axis=1)
    p = 1.0 / (self.num_cards - s.dealt)
    return jnp.where(self._is_chance(s) & free, p, 0.0).astype(jnp.float32)

  def step(self, s, a):
    a = jnp.asarray(a, jnp.int32)
    deal = s.replace(cards=s.cards.at[jnp.minimum(s.dealt, 2)].set(a), dealt=s.dealt + 1)
    me = jnp.clip(self.current_player(s), 0, 1)
    r = s.round
    sizes = jnp.asarray(self.rules.raise_sizes, jnp.int32)
    theirs = s.contrib[1 - me]
    mine = jnp.where(a == FOLD, s.contrib[me],
                     jnp.where(a == RAISE, theirs + sizes[r], theirs))
    n = s.seq_len[r] + 1
    closes = (a == CALL) & (n >= 2)  # a call that is not the round's opening check
    act = s.replace(
        seq=s.seq.at[r, jnp.minimum(n - 1, self._round_len - 1)].set(a),
        seq_len=s.seq_len.at[r].set(n), contrib=s.contrib.at[me].set(mine),
        round=jnp.where(closes, 1, r), folder=jnp.where(a == FOLD, me, -1),
        done=(a == FOLD) | (closes & (r == 1)))
    return _select(self._is_chance(s), deal, act)

  def returns(self, s):
    rank = s.cards // self.rules.suits
    paired = rank[:2] == rank[2]
    s0 = paired[0] * self.num_cards + rank[0]  # a pair beats any high card
    s1 = paired[1] * self.num_cards + rank[1]
    pot = s.contrib[1].astype(jnp.float32)
    showdown = jnp.where(s0 > s1, pot, jnp.where(s0 < s1, -pot, 0.0))
    u = jnp.where(s.folder == 0, -s.contrib[0].astype(jnp.float32),
                  jnp.where(s.folder == 1, s.contrib[1].astype(jnp.float32), showdown))
    u = jnp.where(self.current_player(s) == TERMINAL, u, 0.0).astype(jnp.float32)
    return jnp.stack([u, -u])

  def infoset_code(self, s):
    p = self.current_player(s)
    n, width = self.num_cards, 4 ** self._round_len
    digits = jnp.where(s.seq >= 0, s.seq + 1, 0)  # [2, L]
    powers = 4 ** jnp.arange(self._round_len - 1, -1, -1, dtype=jnp.int32)
    rounds = jnp.sum(digits * powers, axis=1)  # [2]
    board = jnp.where(s.round == 1, s.cards[2] + 1, 0)
    code = ((p * n + s.cards[jnp.clip(p, 0, 1)]) * (n + 1) + board) * width
    code = (code + rounds[0]) * width + rounds[1]
    return jnp.where(p < 2, code, -1).astype(jnp.int32)


  def observation(self, s):
    """[2 + 2 * cards + 2 * L * 3]: the acting player (one-hot), their card
    and the board (one-hot each; zeros before the flop), and each round's
    action sequence (one-hot fold/call/raise per position)."""
    p = self.current_player(s)
    me = jnp.clip(p, 0, 1)
    n = self.num_cards
    board = jnp.where(s.round == 1, jax.nn.one_hot(s.cards[2], n), 0.0)
    seq = jnp.where((s.seq >= 0)[..., None], jax.nn.one_hot(s.seq, 3), 0.0).reshape(-1)
    out = jnp.concatenate([jax.nn.one_hot(me, 2), jax.nn.one_hot(s.cards[me], n), board, seq])
    return jnp.where(p < 2, out, 0.0).astype(jnp.float32)

  @property
  def payoff_scale(self) -> float:
    r = self.rules
    return float(r.ante + r.max_raises * sum(r.raise_sizes))


def kuhn_env() -> Kuhn:
  return Kuhn()


def leduc_env(rules: LeducRules = LeducRules()) -> Leduc:
  return Leduc(rules=rules)
