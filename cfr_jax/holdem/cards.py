"""Cards, the 1,326 hold'em hands, range text, card removal and hand strength.

Card c = 4 * rank + suit, ranks '23456789TJQKA', suits 'cdhs' (phevaluator's
numbering). Hand h is the pair `HANDS[h] = (low card, high card)`, ordered
by high card then low card. Everything here runs once, at compile time, on
the host.
"""
from __future__ import annotations

import functools
import itertools
import re

import numpy as np

RANKS = '23456789TJQKA'
SUITS = 'cdhs'
NUM_CARDS = 52


def _all_hands() -> np.ndarray:
  high, low = np.triu_indices(NUM_CARDS, k=1)[::-1]
  order = np.lexsort((low, high))
  return np.stack([low[order], high[order]], axis=1).astype(np.int32)


HANDS = _all_hands()  # [1326, 2]
NUM_HANDS = len(HANDS)
_HAND_INDEX = {(int(a), int(b)): i for i, (a, b) in enumerate(HANDS)}


def parse_card(text: str) -> int:
  """'As' -> 51."""
  if len(text) != 2 or text[0].upper() not in RANKS or text[1].lower() not in SUITS:
    raise ValueError(f'bad card {text!r}: expected rank {RANKS} and suit {SUITS}, e.g. "As"')
  return 4 * RANKS.index(text[0].upper()) + SUITS.index(text[1].lower())


def parse_cards(text: str) -> list[int]:
  """'AsKd7c' or 'As Kd 7c' -> [51, 46, 20]; duplicates are an error."""
  compact = re.sub(r'[\s,]', '', text)
  if len(compact) % 2:  # (said only "bad card list '10s 9s 8h'")
    ten = ' (a ten is T, as in Ts)' if '10' in compact else ''
    raise ValueError(f'bad card list {text!r}: expected two characters a card, rank '
                     f'{RANKS} and suit {SUITS}, e.g. "Ks 9s 8h"{ten}')
  out = [parse_card(compact[i:i + 2]) for i in range(0, len(compact), 2)]
  repeated = sorted({card_text(c) for c in out if out.count(c) > 1})
  if repeated:  # (said "repeats a card": which, in five?)
    raise ValueError(f'card list {text!r} repeats {" and ".join(repeated)}')
  return out


def card_text(c: int) -> str:
  return RANKS[c // 4] + SUITS[c % 4]


def hand_text(h: int) -> str:
  low, high = HANDS[h]
  return card_text(high) + card_text(low)


def hand_index(c1: int, c2: int) -> int:
  return _HAND_INDEX[(min(c1, c2), max(c1, c2))]


# ----------------------------------------------------------------------------
# Range text.


def _class_hands(hi: int, lo: int, kind: str) -> list[int]:
  """Hands of rank class (hi, lo): kind 's' suited, 'o' offsuit, '' both (pairs: '')."""
  out = []
  for s1 in range(4):
    for s2 in range(4):
      a, b = 4 * hi + s1, 4 * lo + s2
      if a == b or (hi == lo and s1 >= s2):
        continue
      if (kind == 's' and s1 != s2) or (kind == 'o' and s1 == s2):
        continue
      out.append(hand_index(a, b))
  return out


_TOKEN = re.compile(r'^([2-9TJQKA])([2-9TJQKA])([so]?)(\+?)$')


def _token_hands(token: str) -> list[int]:
  t = token.strip()
  if re.fullmatch(r'([2-9TJQKA][cdhs]){2}', t, re.IGNORECASE):  # one exact hand
    a, b = parse_cards(t)
    return [hand_index(a, b)]
  if '-' in t:  # "99-66", "K9s-K6s", "T9s-54s": a run of one kind of class
    first, last = (_parse_class(p, token) for p in t.split('-', 1))
    (h1, l1, k1), (h2, l2, k2) = first, last
    if k1 != k2 or (h1 == l1) != (h2 == l2):
      raise ValueError(f'bad range {token!r}: both ends must be the same kind of hand')
    if h1 == l1:
      return [h for r in range(min(h1, h2), max(h1, h2) + 1) for h in _class_hands(r, r, '')]
    if h1 == h2:  # the second rank runs: K9s, K8s, K7s, K6s
      return [h for r in range(min(l1, l2), max(l1, l2) + 1) for h in _class_hands(h1, r, k1)]
    if h1 - l1 == h2 - l2:  # both ranks run, one gap: T9s, 98s, ..., 54s
      return [h for d in range(abs(h1 - h2) + 1)
              for h in _class_hands(min(h1, h2) + d, min(l1, l2) + d, k1)]
    raise ValueError(f'bad range {token!r}: both ends must share their first rank '
                     '(K9s-K6s) or the gap between their ranks (T9s-54s)')
  hi, lo, kind = _parse_class(t.rstrip('+'), token)
  if not t.endswith('+'):
    return _class_hands(hi, lo, kind)
  if hi == lo:  # "77+": 77 up to AA
    return [h for r in range(hi, len(RANKS)) for h in _class_hands(r, r, '')]
  return [h for r in range(lo, hi) for h in _class_hands(hi, r, kind)]  # "A9s+": A9s..AKs


def _parse_class(text: str, token: str) -> tuple[int, int, str]:
  m = _TOKEN.match(text.strip().upper().replace('S', 's').replace('O', 'o'))
  if not m or m.group(4):
    raise ValueError(f'bad range token {token!r}: expected e.g. AA, AKs, QJo, T9, 22+, '
                     'A9s+, 99-66, K9s-K6s, T9s-54s or AhKh, optionally with :weight')
  hi, lo = sorted((RANKS.index(m.group(1)), RANKS.index(m.group(2))), reverse=True)
  if hi == lo and m.group(3):
    raise ValueError(f'bad range token {token!r}: a pair cannot be suited or offsuit')
  return hi, lo, m.group(3)


def parse_range(text: str) -> np.ndarray:
  """[1326] weights in [0, 1] from range text such as "AA,KK,AKs,QJo,T9s:0.5".

  Tokens: pairs (AA), classes (AKs suited, AKo offsuit, AK both), runs
  (22+, A9s+, 99-66, K9s-K6s, T9s-54s: connectors of one gap), exact hands
  (AhKh); ':w' sets their weight
  (default 1). A later token overrides an earlier one for the hands they share.
  """
  weights = np.zeros(NUM_HANDS)
  tokens = [t for t in str(text).split(',') if t.strip()]
  if not tokens:
    raise ValueError('empty range')
  for token in tokens:
    body, colon, weight = token.partition(':')
    if colon and not weight.strip():  # 'AK:' gave weight 1 in silence: a weight left out?
      raise ValueError(f'range token {token.strip()!r} has no weight after its \':\' '
                       '(give one in [0, 1], e.g. AK:0.5, or leave out the \':\')')
    try:
      w = float(weight) if colon else 1.0
    except ValueError:
      raise ValueError(f'bad weight in range token {token.strip()!r}') from None
    if not 0 <= w <= 1:
      raise ValueError(f'weight in range token {token.strip()!r} must be in [0, 1]')
    weights[_token_hands(body)] = w
  return weights


# ----------------------------------------------------------------------------
# Card removal and strength.


def blocked_by(board: list[int]) -> np.ndarray:
  """[1326] bool: hands that share a card with `board`."""
  on_board = np.zeros(NUM_CARDS, bool)
  on_board[list(board)] = True
  return on_board[HANDS].any(axis=1)


@functools.cache
def hands_conflict() -> np.ndarray:
  """[1326, 1326] bool: the two hands share a card (cannot be dealt together)."""
  holds = np.zeros((NUM_HANDS, NUM_CARDS), bool)
  holds[np.arange(NUM_HANDS)[:, None], HANDS] = True
  return (holds.astype(np.int32) @ holds.T.astype(np.int32)) > 0


def hand_strength(board: list[int], hands=None) -> np.ndarray:
  """[1326] int32 showdown strength on a 5-card board (higher wins, equal ties);
  -1 for hands blocked by the board. Uses phevaluator (the `holdem` extra).
  hands: [n] indices of the hands to evaluate (default: all 1326), for [n]
  strengths: a subgame needs only its ranges' (the flop config's ~800 boards:
  ~0.3M evaluations instead of ~1M)."""
  if len(board) != 5:
    raise ValueError(f'showdown strength needs a 5-card board, got {len(board)} cards')
  try:
    from phevaluator import evaluate_cards  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError('hand strength needs phevaluator: pip install "cfr_jax[holdem]"') from e
  blocked = blocked_by(board)
  hands = np.arange(NUM_HANDS) if hands is None else np.asarray(hands)
  # phevaluator ranks 1 (royal flush) .. 7462 (worst high card); flip to "higher wins".
  return np.array([-1 if blocked[h] else 7463 - evaluate_cards(*board, *map(int, HANDS[h]))
                   for h in hands], np.int32)


# ----------------------------------------------------------------------------
# Suit symmetries (chance isomorphism, `subgame.SubgameSpec.isomorphism`).


def permute_suits(c, perm) -> np.ndarray:
  """Card(s) c with each suit s replaced by perm[s] (perm: 4 suits, e.g. (3, 1, 2, 0)
  swaps clubs and spades)."""
  c = np.asarray(c)
  return 4 * (c // 4) + np.asarray(perm)[c % 4]


def permute_hands(perm) -> np.ndarray:
  """[1326] the index of each hand's image under the suit permutation perm."""
  mapped = permute_suits(HANDS, perm)
  return np.array([_HAND_INDEX[(int(min(a, b)), int(max(a, b)))] for a, b in mapped])


def inverse_suits(perm) -> tuple:
  """The inverse of a suit permutation."""
  inv = [0] * 4
  for s, t in enumerate(perm):
    inv[t] = s
  return tuple(inv)


def suit_symmetries(board, weights=()) -> list[tuple]:
  """The suit permutations (identity first) that map the board onto itself as
  a set and leave each [1326] weight vector in `weights` unchanged (a range
  weighing h and its image alike).

  Suits absent from the board permute freely (a two-tone flop leaves two
  interchangeable suits, a monotone one three); suits on the board swap only
  where their board cards have the same ranks (9c 9d 5h: clubs and diamonds).
  """
  board_set = {int(c) for c in board}
  out = []
  for perm in itertools.permutations(range(4)):
    if {int(permute_suits(c, perm)) for c in board_set} != board_set:
      continue
    image = permute_hands(perm) if len(weights) else None
    if all(np.array_equal(np.asarray(w)[image], np.asarray(w)) for w in weights):
      out.append(perm)
  return out


def suit_text(perms) -> str:
  """'clubs and spades' style text of the suits a group of permutations moves."""
  names = ('clubs', 'diamonds', 'hearts', 'spades')
  moved = [names[s] for s in sorted({s for p in perms for s in range(4) if p[s] != s})]
  return ', '.join(moved[:-1]) + ' and ' + moved[-1] if len(moved) > 1 else 'none'
