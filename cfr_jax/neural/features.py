"""What a network sees of an infoset: one feature vector per infoset slot.

Deep CFR generalises across infosets through its input features. The games
that compile (Kuhn, Leduc and its variants, imported OpenSpiel games) have an
OpenSpiel counterpart whose `information_state_tensor` is what Deep CFR's
authors and OpenSpiel's implementations feed their networks; it is used when
open_spiel is installed. Otherwise each infoset is one-hot (the networks are
then tables: exact, but nothing generalises), and the kind says so, so that
a checkpoint trained on one kind is never restored with the other.
"""
from __future__ import annotations

import numpy as np


def infoset_features(game) -> tuple[np.ndarray, str]:
  """[I, F] float32 features of every infoset slot of a compiled `game`, and
  their kind: 'openspiel_tensor' or 'one_hot'."""
  info = game.info
  tensors = _openspiel_tensors(info) if info.openspiel_name else None
  if tensors is None:
    return np.eye(game.num_infosets, dtype=np.float32), 'one_hot'
  return tensors, 'openspiel_tensor'


def _openspiel_tensors(info) -> np.ndarray | None:
  """OpenSpiel's information_state_tensor of every infoset key, found by
  walking the game's histories; None without open_spiel or if some key has no
  history there (keys that are not OpenSpiel's strings)."""
  try:
    import pyspiel  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  game = pyspiel.load_game(info.openspiel_name)
  if not game.get_type().provides_information_state_tensor:
    return None
  index = info.infoset_index
  out = np.full((len(info.infoset_keys), game.information_state_tensor_size()), np.nan,
                np.float32)
  stack = [game.new_initial_state()]
  while stack:
    state = stack.pop()
    if state.is_terminal():
      continue
    if state.is_chance_node():
      stack.extend(state.child(a) for a, _ in state.chance_outcomes())
      continue
    player = state.current_player()
    i = index.get(state.information_state_string(player))
    if i is None:
      return None
    if np.isnan(out[i, 0]):
      out[i] = state.information_state_tensor(player)
    stack.extend(state.child(a) for a in state.legal_actions())
  return None if np.isnan(out).any() else out
