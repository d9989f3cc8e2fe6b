"""Hold'em card abstraction: per public board, a map hand -> bucket, and its fingerprint.

Three methods (`BucketSettings.method`):

- 'iso': lossless suit isomorphism. Hands are bucketed by their orbit under the
  suit permutations that map the board onto itself (as a set), so hands in one
  bucket have identical strength on every runout.
- 'ehs': expected hand strength against a uniformly random opponent hand (card
  removal exact, ties count half), averaged over every runout to the river,
  clustered by 1-D k-means (Lloyd's, k-means++ init, fixed seed).
- 'hist': per hand, the histogram of its strength over the next card (turn
  board: river equity per river card; flop board: turn EHS per turn card),
  clustered by k-means on the cumulative histograms (L2 between CDFs, a cheap
  stand-in for earth mover's distance, as in Johanson et al., "Evaluating
  State-Space Abstractions in Extensive-Form Games", AAMAS 2013). A river board
  has no next card, so 'hist' clusters its EHS like 'ehs'.

Lossy buckets are numbered 0..B-1 in increasing mean EHS, so bucket order means
strength order. Everything is numpy on the host, run once at compile time, and
deterministic: the same boards and settings give the same table and hash.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import itertools
import json
import os
import tempfile
from typing import Sequence

import numpy as np

from cfr_jax.holdem import cards

METHODS = ('iso', 'ehs', 'hist')
_FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class BucketSettings:
  """How hands are bucketed; part of the fingerprint of every table built with it.

  Attributes:
    method: 'iso', 'ehs' or 'hist' (see the module docstring).
    num_buckets: the most buckets per board for 'ehs' and 'hist'; ignored by 'iso'.
    histogram_bins: 'hist' only: equal-width bins over equity [0, 1].
    seed: k-means++ seed.
    kmeans_iterations: the most Lloyd iterations (stops earlier once stable).
  """
  method: str
  num_buckets: int = 0
  histogram_bins: int = 8
  seed: int = 0
  kmeans_iterations: int = 50

  def __post_init__(self):
    if self.method not in METHODS:
      raise ValueError(f'unknown bucketing method {self.method!r}; expected one of {METHODS}')
    # Each is used as a count or a seed deep in the build: num_buckets=2.5
    # failed there with "'float' object cannot be interpreted as an integer",
    # seed=-1 with numpy's "expected non-negative integer" (the launcher's
    # whole line, no field named).
    for name in ('num_buckets', 'histogram_bins', 'seed', 'kmeans_iterations'):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'bucket setting {name} must be a whole number, got {value!r}')
    if self.seed < 0:
      raise ValueError(f'bucket setting seed must be >= 0, got {self.seed}')
    if self.method != 'iso' and self.num_buckets < 1:
      raise ValueError(f'method {self.method!r} needs num_buckets >= 1, got {self.num_buckets}')
    for name in ('histogram_bins', 'kmeans_iterations'):  # (named both, whichever it was)
      if getattr(self, name) < 1:
        raise ValueError(f'bucket setting {name} must be >= 1, got {getattr(self, name)}')


# ----------------------------------------------------------------------------
# Equity on the river and averaged over runouts.


def _check_board(board: Sequence[int] | str) -> tuple[int, ...]:
  out = tuple(cards.parse_cards(board) if isinstance(board, str) else (int(c) for c in board))
  if len(out) not in (3, 4, 5):
    raise ValueError(f'a board has 3, 4 or 5 cards, got {len(out)}: {out}')
  if len(set(out)) != len(out) or not all(0 <= c < cards.NUM_CARDS for c in out):
    raise ValueError(f'bad board {out}: cards must be distinct ints in [0, 52)')
  return out


@functools.lru_cache(maxsize=4096)  # ~45 MB; a flop needs 1,176 river boards.
def _river_equity(board: tuple[int, ...]) -> np.ndarray:
  """[1326] float64 share of opponent hands beaten (ties half) on a sorted 5-card board.

  Exact card removal without a [1326, 1326] loop: for hand (a, b), the opponents
  weaker than it are all live weaker hands minus those holding a or b (no weaker
  hand holds both), counted per strength rank with a cumulative sum per card.
  Blocked hands get 0.
  """
  strength = cards.hand_strength(list(board))
  idx = np.flatnonzero(strength >= 0)
  _, rank = np.unique(strength[idx], return_inverse=True)
  rank = rank.reshape(-1)
  num_ranks = int(rank.max()) + 1
  a, b = cards.HANDS[idx, 0], cards.HANDS[idx, 1]
  at_rank = np.bincount(rank, minlength=num_ranks)  # [R] live hands per rank
  card_at_rank = np.bincount(  # [52, R] live hands holding card c, per rank
      np.concatenate([a, b]) * num_ranks + np.concatenate([rank, rank]),
      minlength=cards.NUM_CARDS * num_ranks).reshape(cards.NUM_CARDS, num_ranks)
  below = np.cumsum(at_rank) - at_rank
  card_below = np.cumsum(card_at_rank, axis=1) - card_at_rank
  wins = below[rank] - card_below[a, rank] - card_below[b, rank]
  # Equal hands holding a or b: inclusion-exclusion adds back the hand itself.
  ties = at_rank[rank] - card_at_rank[a, rank] - card_at_rank[b, rank] + 1
  opponents = (cards.NUM_CARDS - 7) * (cards.NUM_CARDS - 8) // 2  # 990
  out = np.zeros(cards.NUM_HANDS)
  out[idx] = (wins + 0.5 * ties) / opponents
  out.flags.writeable = False
  return out


def _unseen(board: tuple[int, ...]) -> np.ndarray:
  return np.setdiff1d(np.arange(cards.NUM_CARDS), board)


def _flop_runouts(board: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
  """River equity of every hand on every (turn, river) runout of a flop.

  Returns:
    equity: [49, 49, 1326] over pairs of unseen cards (symmetric, zero on the
      diagonal and where the hand holds a runout card).
    live: [49, 49, 1326] bool, the runout is possible and the hand is live on it.
  """
  unseen = _unseen(board)
  n = len(unseen)
  eq = np.zeros((n, n, cards.NUM_HANDS))
  for i, j in itertools.combinations(range(n), 2):
    eq[i, j] = eq[j, i] = _river_equity(tuple(sorted(board + (int(unseen[i]), int(unseen[j])))))
  holds = _holds(unseen)
  live = ~cards.blocked_by(board)[None, None] & ~holds[:, None] & ~holds[None, :]
  live &= ~np.eye(n, dtype=bool)[..., None]
  return eq, live


def _holds(card_list: np.ndarray) -> np.ndarray:
  """[len(card_list), 1326] bool: hand h holds card c."""
  return (cards.HANDS[None, :, :] == np.asarray(card_list)[:, None, None]).any(-1)


def hand_equity(board: Sequence[int] | str) -> np.ndarray:
  """[1326] float64 expected hand strength (EHS) of every hand on a 3-5 card board.

  EHS is the chance of beating a uniformly random opponent hand (ties count
  half, card removal exact), averaged over every runout to the river. Hands
  blocked by the board get NaN.
  """
  board = _check_board(board)
  if len(board) == 5:
    out = np.array(_river_equity(tuple(sorted(board))))
    out[cards.blocked_by(board)] = np.nan
    return out
  return _next_card_values(board)[2]


def _next_card_values(board: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per next card, each hand's strength after it, plus the hands' EHS now.

  Returns:
    values: [N, 1326] river equity (turn board) or turn EHS (flop board).
    live: [N, 1326] bool, hand live on the board and not holding the next card.
    ehs: [1326] EHS on this board (NaN where blocked).
  """
  blocked = cards.blocked_by(board)
  if len(board) == 4:
    unseen = _unseen(board)
    values = np.stack([_river_equity(tuple(sorted(board + (int(r),)))) for r in unseen])
    live = ~blocked[None] & ~_holds(unseen)
    ehs = values.sum(0) / np.maximum(live.sum(0), 1)
  else:
    eq, live2 = _flop_runouts(board)
    values = eq.sum(1) / np.maximum(live2.sum(1), 1)  # [N, 1326] turn EHS
    live = live2.any(1)
    ehs = eq.sum((0, 1)) / np.maximum(live2.sum((0, 1)), 1)
  ehs[blocked] = np.nan
  return values, live, ehs


# ----------------------------------------------------------------------------
# Clustering.


def kmeans(points: np.ndarray, k: int, seed: int, iterations: int) -> np.ndarray:
  """[n] int labels of `points` [n, d] in at most k clusters (Lloyd's, k-means++ init).

  Identical points are merged first and weighted by their count, so fewer
  distinct points than k are returned as their own clusters (lossless), and the
  result depends only on the set of points, the seed and the iteration count.
  Labels are not dense: empty clusters leave gaps.
  """
  uniq, inverse, counts = np.unique(points, axis=0, return_inverse=True, return_counts=True)
  inverse = inverse.reshape(-1)
  n = len(uniq)
  if n <= k:
    return inverse
  rng = np.random.default_rng(seed)
  w = counts.astype(np.float64)
  chosen = [int(rng.choice(n, p=w / w.sum()))]
  d2 = ((uniq - uniq[chosen[0]]) ** 2).sum(1)
  for _ in range(1, k):
    p = w * d2  # a chosen point has d2 = 0, so centers stay distinct
    chosen.append(int(rng.choice(n, p=p / p.sum())))
    d2 = np.minimum(d2, ((uniq - uniq[chosen[-1]]) ** 2).sum(1))
  centers = uniq[chosen].astype(np.float64)
  labels = None
  for _ in range(iterations):
    new = ((uniq[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
    if labels is not None and np.array_equal(new, labels):
      break
    labels = new
    mass = np.bincount(labels, weights=w, minlength=k)
    sums = np.zeros_like(centers)
    np.add.at(sums, labels, uniq * w[:, None])
    filled = mass > 0
    centers[filled] = sums[filled] / mass[filled, None]
  return labels[inverse]


def _dense_by_ehs(labels: np.ndarray, ehs: np.ndarray) -> np.ndarray:
  """Renumbers cluster labels 0..B-1 in increasing mean EHS (ties: old label)."""
  ids, dense = np.unique(labels, return_inverse=True)
  mean = np.bincount(dense, weights=ehs) / np.bincount(dense)
  order = np.lexsort((ids, mean))
  rank = np.empty(len(ids), np.int64)
  rank[order] = np.arange(len(ids))
  return rank[dense.reshape(-1)]


# ----------------------------------------------------------------------------
# Bucketing one board.


def suit_symmetries(board: Sequence[int]) -> list[tuple[int, ...]]:
  """The suit permutations p (suit s -> p[s]) that map the board onto itself as a set."""
  board_set = set(board)
  return [p for p in itertools.permutations(range(4))
          if {4 * (c // 4) + p[c % 4] for c in board_set} == board_set]


def _iso_buckets(board: tuple[int, ...]) -> np.ndarray:
  index = np.full((cards.NUM_CARDS, cards.NUM_CARDS), -1, np.int64)
  index[cards.HANDS[:, 0], cards.HANDS[:, 1]] = np.arange(cards.NUM_HANDS)
  index = np.maximum(index, index.T)
  canonical = np.arange(cards.NUM_HANDS)
  for p in suit_symmetries(board):
    c = np.arange(cards.NUM_CARDS)
    card_map = 4 * (c // 4) + np.asarray(p)[c % 4]
    mapped = card_map[cards.HANDS]
    canonical = np.minimum(canonical, index[mapped[:, 0], mapped[:, 1]])
  out = np.full(cards.NUM_HANDS, -1, np.int32)
  live = ~cards.blocked_by(board)
  out[live] = np.unique(canonical[live], return_inverse=True)[1].reshape(-1)
  return out


def bucket_hands(board: Sequence[int] | str, settings: BucketSettings) -> np.ndarray:
  """[1326] int32 bucket of every hand on this board (3, 4 or 5 cards); -1 for hands
  blocked by the board. Buckets are numbered 0..B-1 densely, B <= num_buckets for
  lossy methods, in increasing mean EHS for lossy methods ('iso': in order of the
  lowest hand index in each orbit)."""
  board = _check_board(board)
  if settings.method == 'iso':
    return _iso_buckets(board)
  live = ~cards.blocked_by(board)
  if settings.method == 'ehs' or len(board) == 5:
    ehs = hand_equity(board)[live]
    features = ehs[:, None]
  else:
    values, next_live, ehs = _next_card_values(board)
    bins = settings.histogram_bins
    which = np.clip((values * bins).astype(np.int64), 0, bins - 1)  # [N, 1326]
    hand = np.broadcast_to(np.arange(cards.NUM_HANDS), which.shape)
    hist = np.bincount((hand * bins + which)[next_live], minlength=cards.NUM_HANDS * bins)
    hist = hist.reshape(cards.NUM_HANDS, bins)[live].astype(np.float64)
    features = np.cumsum(hist / hist.sum(1, keepdims=True), axis=1)
    ehs = ehs[live]
  # Suit-isomorphic hands sum their runouts in different orders; rounding off the
  # last bits keeps them (and platforms) from splitting on float noise.
  labels = kmeans(np.round(features, 10), settings.num_buckets, settings.seed,
                  settings.kmeans_iterations)
  out = np.full(cards.NUM_HANDS, -1, np.int32)
  out[live] = _dense_by_ehs(labels, ehs)
  return out


# ----------------------------------------------------------------------------
# Tables of many boards, their hash and files.


def _evaluator_version() -> str:
  try:
    return 'phevaluator ' + importlib.metadata.version('phevaluator')
  except importlib.metadata.PackageNotFoundError:
    return 'phevaluator (not installed)'


@dataclasses.dataclass(frozen=True, eq=False)
class BucketTable:
  """Buckets of every hand on each of a set of public boards.

  Attributes:
    boards: one tuple of card ints per public board.
    buckets: [num_boards, 1326] int32, -1 for hands blocked by the board (read-only).
    settings: how the buckets were made.
  """
  boards: tuple
  buckets: np.ndarray
  settings: BucketSettings

  def __post_init__(self):
    buckets = np.array(self.buckets, np.int32)  # a private, read-only copy
    if buckets.shape != (len(self.boards), cards.NUM_HANDS):
      raise ValueError(f'buckets must be [{len(self.boards)}, {cards.NUM_HANDS}], '
                       f'got {buckets.shape}')
    buckets.flags.writeable = False
    object.__setattr__(self, 'buckets', buckets)
    object.__setattr__(self, 'boards', tuple(tuple(int(c) for c in b) for b in self.boards))

  @property
  def num_buckets(self) -> int:
    """The most buckets on any board (max bucket id + 1)."""
    return int(self.buckets.max()) + 1 if self.buckets.size else 0

  @functools.cached_property
  def content_hash(self) -> str:
    """sha256 hex of the boards, the bucket ids and the settings."""
    header = json.dumps({'format': _FORMAT_VERSION, 'boards': self.boards,
                         'settings': dataclasses.asdict(self.settings)}, sort_keys=True)
    digest = hashlib.sha256(header.encode())
    digest.update(np.ascontiguousarray(self.buckets, '<i4').tobytes())
    return digest.hexdigest()

  def fingerprint(self) -> dict:
    """JSON-ready summary of what makes solver state over these buckets meaningful."""
    s = self.settings
    return {'hash': self.content_hash, 'num_buckets': self.num_buckets, 'method': s.method,
            'histogram_bins': s.histogram_bins, 'seed': s.seed,
            'kmeans_iterations': s.kmeans_iterations, 'evaluator': _evaluator_version()}

  def save(self, path: str | os.PathLike) -> None:
    """Writes an .npz (no pickles) at exactly `path`, atomically."""
    path = os.fspath(path)
    sizes = np.array([len(b) for b in self.boards], np.int32)
    boards = np.full((len(self.boards), 5), -1, np.int32)
    for i, b in enumerate(self.boards):
      boards[i, :len(b)] = b
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix='.tmp')
    try:
      with os.fdopen(fd, 'wb') as f:
        np.savez(f, boards=boards, board_sizes=sizes, buckets=self.buckets,
                 settings=np.array(json.dumps(dataclasses.asdict(self.settings))),
                 content_hash=np.array(self.content_hash))
      os.replace(tmp, path)
    except BaseException:
      if os.path.exists(tmp):
        os.remove(tmp)
      raise

  @classmethod
  def load(cls, path: str | os.PathLike) -> BucketTable:
    """Reads a table written by `save`; ValueError if its content hash does not match."""
    try:
      with np.load(os.fspath(path), allow_pickle=False) as z:
        boards = tuple(tuple(row[:n].tolist()) for row, n in zip(z['boards'], z['board_sizes']))
        table = cls(boards, z['buckets'], BucketSettings(**json.loads(str(z['settings']))))
        stored = str(z['content_hash'])
    except (KeyError, TypeError, json.JSONDecodeError) as e:
      raise ValueError(f'{path}: not a bucket table file ({e})') from e
    if table.content_hash != stored:
      raise ValueError(f'{path}: bucket table is corrupt or was modified: its content hash '
                       f'{table.content_hash[:16]}... differs from the stored '
                       f'{stored[:16]}...; rebuild it with build_table')
    return table


def build_table(boards: Sequence[Sequence[int] | str], settings: BucketSettings) -> BucketTable:
  """Buckets every hand on each board: a BucketTable of [len(boards), 1326] bucket ids."""
  boards = [_check_board(b) for b in boards]
  buckets = np.stack([bucket_hands(b, settings) for b in boards]) if boards else (
      np.zeros((0, cards.NUM_HANDS), np.int32))
  return BucketTable(tuple(boards), buckets, settings)
