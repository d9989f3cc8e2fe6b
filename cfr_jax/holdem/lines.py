"""A subgame's betting lines, held compactly and read as Python strings.

A flop subgame has ~3e5 nodes. Kept as Python objects, the histories of its
terminals and decisions ('kb10c/Td/b25', ...) and each decision's
{action slot: token} took ~100 MB of host memory after the build, more than
twice the game's arrays (44 MB; flop config, tracemalloc: bench/RESULTS.md,
"Traces dropped after compiling, lines held as bytes, ..."). Here they are
one bytes buffer and a few numpy arrays; a line becomes a `str` when read.
"""
from __future__ import annotations

import collections.abc
import re

import numpy as np


class _Items(collections.abc.Sequence):
  """A read-only sequence whose item i is `self._item(i)`, 0 <= i < len:
  indexing from the end, slices (as lists) and IndexError done here;
  iteration, `in`, `index` and `count` come from `Sequence` (linear scans)."""

  def _item(self, i: int):
    raise NotImplementedError

  def __getitem__(self, i):
    if isinstance(i, slice):
      return [self._item(j) for j in range(*i.indices(len(self)))]
    n = len(self)
    if not -n <= i < n:
      raise IndexError(i)
    return self._item(i % n)


class Strings(_Items):
  """A read-only list of ASCII strings: `strings[i]` is a new `str`."""

  def __init__(self, strings):
    data = [s.encode('ascii') for s in strings]
    self._end = np.cumsum([len(b) for b in data], dtype=np.int64)
    self._buf = b''.join(data)

  def __len__(self):
    return len(self._end)

  def _item(self, i: int) -> str:
    start = int(self._end[i - 1]) if i else 0
    return self._buf[start:int(self._end[i])].decode('ascii')

  def same_as(self, other) -> bool:
    """Whether `other` is a Strings of the same strings (compared as bytes)."""
    return (isinstance(other, Strings) and self._buf == other._buf
            and np.array_equal(self._end, other._end))

  def __repr__(self):
    return f'Strings({len(self)} lines)'


class Tokens(_Items):
  """Per decision node, {action slot: its betting token} ('k', 'c', 'f',
  'b10', 'a', ...): `tokens[d]` is a new dict.

  owner, slot: [E] each edge's decision node and action slot; token: [E] its
  text (a few distinct values, stored once each)."""

  def __init__(self, num_decisions: int, owner, slot, token):
    owner = np.asarray(owner, np.int64)
    order = np.argsort(owner, kind='stable')
    self._start = np.searchsorted(owner[order], np.arange(num_decisions + 1))
    self._slot = np.asarray(slot, np.int32)[order]
    names, ids = np.unique(np.asarray(token, dtype=str), return_inverse=True)
    self._names = [str(n) for n in names]
    self._id = np.asarray(ids, np.int32).reshape(-1)[order]

  def __len__(self):
    return len(self._start) - 1

  def _item(self, d: int) -> dict:
    lo, hi = self._start[d], self._start[d + 1]
    return {int(s): self._names[k] for s, k in zip(self._slot[lo:hi], self._id[lo:hi])}

  def table(self, num_slots: int) -> np.ndarray:
    """[D, num_slots] each decision's token per action slot ('' where the
    slot is no action there), made at once (numpy, no per-node loop)."""
    width = max((len(n) for n in self._names), default=1)
    out = np.full((len(self), num_slots), '', dtype=f'U{width}')
    owner = np.repeat(np.arange(len(self)), np.diff(self._start))
    if len(owner):
      out[owner, self._slot] = np.asarray(self._names)[self._id]
    return out

  def __repr__(self):
    return f'Tokens({len(self)} decisions)'


# A street's actions: check, call, fold, all-in, or a bet of some chips.
_ACTION = re.compile(r'[kcfa]|b(\d+\.?\d*(?:e[+-]?\d+)?|\.\d+)')
_CARD = re.compile(r'[2-9tjqka][cdhs]')


def canonical_line(text: str) -> str:
  """`text`, a betting line as typed, in the spelling of the tree's lines
  (`Subgame.info.decision_histories`): actions lower case ('B10' -> 'b10'),
  bets as the tree writes the chips ('b10.0' -> 'b10'), each dealt card with
  its rank upper and suit lower case ('/7H/' -> '/7h/', '/10d/' -> '/Td/'),
  the '/' closing a last card added ('kk/7h' -> 'kk/7h/'), spaces dropped;
  '' is the root '-'.

  Only what reads one way is changed: 'B10' was refused ('no decision node
  at betting line ...; after '-' the actions are k, b5, ...'), its reader
  left to find the difference. Anything else is returned as typed (lower
  case), for the lookup's error to name."""
  if not isinstance(text, str):  # (re's "expected string or bytes-like object" named no line)
    raise TypeError(f'a betting line is a str such as "kb10c/7h/" ("-" the root), got {text!r}')
  line = re.sub(r'\s+', '', text)
  if line in ('', '-'):
    return '-'
  parts = line.split('/')  # actions, card, actions, card, ..., actions
  if len(parts) % 2 == 0 and parts[-1]:
    parts.append('')  # 'kk/7h': the card's closing '/' left out (and 'kk/zz' is a bad card)
  out = []
  for i, part in enumerate(parts):
    part = part.lower()
    if i % 2 and re.fullmatch(r'10[cdhs]', part):  # a ten as many write it
      part = 't' + part[2]
    if i % 2 and _CARD.fullmatch(part):
      part = part[0].upper() + part[1]
    elif not i % 2 and _ACTION_RUN.fullmatch(part):
      part = _ACTION.sub(_action_text, part)
    out.append(part)
  return '/'.join(out)


_ACTION_RUN = re.compile(f'(?:{_ACTION.pattern})*')


def _action_text(m: re.Match) -> str:
  """One action as the tree writes it: bets in chips with `:g` ('b10', 'b7.5')."""
  return m.group(0) if m.group(1) is None else f'b{float(m.group(1)):g}'
