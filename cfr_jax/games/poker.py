"""Kuhn and Leduc poker with OpenSpiel's rules, and a parameterised Leduc family.

Action slots and infoset keys are OpenSpiel's (`information_state_string`), so
a policy solved here can be read with OpenSpiel's keys and exported to it.
"""
from __future__ import annotations

import dataclasses

from cfr_jax.games.tree import Chance, Decision, Game, Terminal, check_tree_size, compile_tree

FOLD, CALL, RAISE = 0, 1, 2


def kuhn() -> Game:
  """Kuhn poker: 3 cards, ante 1, one bet of 1. Slots: 0 = pass, 1 = bet."""
  terminal = {'pp', 'bb', 'bp', 'pbp', 'pbb'}

  def expand(state):
    cards, hist = state
    if len(cards) < 2:
      rest = [c for c in range(3) if c not in cards]
      return Chance([(1.0 / len(rest), (cards + (c,), '')) for c in rest])
    if hist in terminal:
      if hist in ('bp', 'pbp'):  # the player who passed after a bet folds
        return Terminal(1.0 if hist == 'bp' else -1.0)
      stake = 2.0 if hist.endswith('bb') else 1.0
      return Terminal(stake if cards[0] > cards[1] else -stake)
    player = len(hist) % 2
    return Decision(player, f'{cards[player]}{hist}',
                    [(0, (cards, hist + 'p')), (1, (cards, hist + 'b'))])

  return compile_tree(((), ''), expand, num_actions=2, info_kwargs=dict(
      name='kuhn', spec={'game': 'kuhn'}, openspiel_name='kuhn_poker'))


@dataclasses.dataclass(frozen=True)
class LeducRules:
  """Leduc hold'em generalised: `ranks` x `suits` cards, two betting rounds.

  Defaults are OpenSpiel's `leduc_poker`: 3 ranks x 2 suits, ante 1, fixed
  raises of 2 then 4, at most 2 raises per round, stacks of 100. A card's rank
  is `card // suits`; a pair with the public card beats any unpaired hand.
  """
  ranks: int = 3
  suits: int = 2
  ante: int = 1
  raise_sizes: tuple[int, int] = (2, 4)
  max_raises: int = 2
  stack: int = 100

  def __post_init__(self):
    if self.ranks < 1 or self.suits < 1 or self.ranks * self.suits < 3:
      raise ValueError(f'leduc needs at least 3 cards, got ranks={self.ranks}, '
                       f'suits={self.suits}')
    if len(self.raise_sizes) != 2:  # one was an IndexError building round 2, a third ignored
      raise ValueError(f'leduc raise_sizes are one per betting round, two (e.g. '
                       f'raise_sizes=2:4), got {tuple(self.raise_sizes)}')
    if self.max_raises < 0 or min(self.raise_sizes) <= 0 or self.ante < 0:
      raise ValueError(f'leduc needs max_raises >= 0, positive raise sizes, ante >= 0, got '
                       f'max_raises={self.max_raises}, raise_sizes={self.raise_sizes}, '
                       f'ante={self.ante}')
    worst = self.ante + self.max_raises * sum(self.raise_sizes)
    if worst > self.stack:
      raise ValueError(f'stack {self.stack} cannot cover the largest pot '
                       f'contribution {worst}')

  def num_histories(self) -> int:
    """The compiled tree's node count, counted without building it: the
    deals times each round's betting (which depends on max_raises alone)."""
    def betting(seq=()):  # (nodes, closing calls) of a round's tree below seq
      if seq and seq[-1] == FOLD:
        return 1, 0
      if len(seq) >= 2 and seq[-1] == CALL:
        return 0, 1  # the chance node or showdown it leads to
      children = [CALL] + [FOLD] * (seq[-1:] == (RAISE,))
      children += [RAISE] * (seq.count(RAISE) < self.max_raises)
      counts = [betting(seq + (a,)) for a in children]
      return 1 + sum(c[0] for c in counts), sum(c[1] for c in counts)
    n = self.ranks * self.suits
    nodes, calls = betting()
    return 1 + n + n * (n - 1) * (nodes + calls * (1 + (n - 2) * sum(betting())))


def leduc(rules: LeducRules = LeducRules()) -> Game:
  """Compiles a Leduc-family game. Slots: 0 = fold, 1 = call/check, 2 = raise."""
  n_cards = rules.ranks * rules.suits
  rank = lambda c: c // rules.suits

  def showdown(cards, pot):
    p0, p1, board = cards
    s0 = (rank(p0) == rank(board), rank(p0))
    s1 = (rank(p1) == rank(board), rank(p1))
    return 0.0 if s0 == s1 else (pot if s0 > s1 else -pot)

  # state: (cards, round, seq1, seq2, contrib0, contrib1)
  def expand(state):
    cards, rnd, seq1, seq2, c0, c1 = state
    if len(cards) < 2 or (rnd == 2 and len(cards) < 3):
      rest = [c for c in range(n_cards) if c not in cards]
      return Chance([(1.0 / len(rest), (cards + (c,), rnd, seq1, seq2, c0, c1))
                     for c in rest])
    seq = seq1 if rnd == 1 else seq2
    if seq and seq[-1] == FOLD:  # the player who folded loses what they put in
      folder = (len(seq) - 1) % 2
      return Terminal(-c0 if folder == 0 else c1)
    # A round closes on a call that is not the round's opening check.
    if len(seq) >= 2 and seq[-1] == CALL:
      if rnd == 2:
        return Terminal(showdown(cards, c1))  # pots are equal: c0 == c1
      return Chance([(1.0 / (n_cards - 2), (cards + (c,), 2, seq1, seq2, c0, c1))
                     for c in range(n_cards) if c not in cards])
    player = len(seq) % 2
    mine, theirs = (c0, c1) if player == 0 else (c1, c0)
    key = _leduc_key(rules, player, cards, rnd, seq1, seq2, c0, c1)
    children = []

    def child(a, new_mine):
      cs = (new_mine, theirs) if player == 0 else (theirs, new_mine)
      s1, s2 = (seq1 + (a,), seq2) if rnd == 1 else (seq1, seq2 + (a,))
      children.append((a, (cards, rnd, s1, s2) + cs))

    if theirs > mine:
      child(FOLD, mine)
    child(CALL, theirs)
    if seq.count(RAISE) < rules.max_raises:
      child(RAISE, theirs + rules.raise_sizes[rnd - 1])
    return Decision(player, key, children)

  root = ((), 1, (), (), rules.ante, rules.ante)
  spec = {'game': 'leduc', **dataclasses.asdict(rules)}
  default = rules == LeducRules()
  name = 'leduc' if default else 'leduc({})'.format(','.join(
      f'{k}={v}' for k, v in dataclasses.asdict(rules).items()
      if v != getattr(LeducRules(), k)))
  check_tree_size(name, rules.num_histories(), advice=(
      '; fewer ranks or suits, or the generative env (game="env:leduc(...)", '
      'which Deep CFR samples and never builds)'))
  return compile_tree(root, expand, num_actions=3, info_kwargs=dict(
      name=name, spec=spec, openspiel_name='leduc_poker' if default else None))


def _leduc_key(rules, player, cards, rnd, seq1, seq2, c0, c1) -> str:
  """OpenSpiel's `information_state_string` for Leduc."""
  public = f'[Public: {cards[2]}]' if rnd == 2 else ''
  return (f'[Observer: {player}][Private: {cards[player]}][Round {rnd}]'
          f'[Player: {player}][Pot: {c0 + c1}]'
          f'[Money: {rules.stack - c0} {rules.stack - c1}]{public}'
          f'[Round1: {" ".join(map(str, seq1))}][Round2: {" ".join(map(str, seq2))}]')
