"""Tabular policies keyed by infoset strings, with export to .npz, JSON and OpenSpiel."""
from __future__ import annotations

import json

import jax
import numpy as np

from cfr_jax.placement import to_device


class TabularPolicy:
  """Action probabilities per infoset, on the host.

  probs: [I, A] rows summing to 1 over legal actions; legal: [I, A] bool, or
  a function that returns it, called when `legal` is first read (a flop
  subgame's mask is 0.2 GB that evaluations never read).
  Keys are the game's infoset keys (OpenSpiel's `information_state_string`
  for Kuhn, Leduc and imported OpenSpiel games).
  """

  def __init__(self, info, probs: np.ndarray, legal):
    self.info = info
    self.probs = np.asarray(probs)
    self._legal = legal if callable(legal) else np.asarray(legal, bool)
    # A CPU jax array that `probs` is a zero-copy, read-only view of: the
    # exact evaluations use it instead of copying the table back (0.8 GB on
    # the flop config), for as long as `probs` is still that view. On an
    # accelerator `probs` is a host copy, and keeping the device table with
    # the policy would only hold device memory.
    view = (isinstance(probs, jax.Array) and len(probs.devices()) == 1
            and next(iter(probs.devices())).platform == 'cpu')
    self._source = (self.probs, probs) if view else None

  @property
  def legal(self) -> np.ndarray:
    """[I, A] bool: each infoset's legal actions."""
    if callable(self._legal):
      self._legal = np.asarray(self._legal(), bool)
    return self._legal

  def device_probs(self):
    """`probs` as a jax array: the one it views if any, else a copy."""
    if self._source is not None and self._source[0] is self.probs:
      return self._source[1]
    return to_device(self.probs)

  @property
  def keys(self) -> list[str]:
    return self.info.infoset_keys

  def action_probabilities(self, key: str) -> dict[int, float]:
    """{action: probability} over the legal actions of infoset `key`."""
    try:
      i = self.info.infoset_index[key]
    except KeyError:
      raise KeyError(f'no infoset {key!r} in {self.info.name}') from None
    return {self.info.action_labels[a]: float(self.probs[i, a])
            for a in np.flatnonzero(self.legal[i])}

  def save_npz(self, path) -> None:
    """Writes keys, probabilities, legal mask and action labels to `path`."""
    np.savez_compressed(path, keys=np.asarray(self.keys), probs=self.probs,
                        legal=self.legal, actions=np.asarray(self.info.action_labels),
                        game=np.asarray(self.info.name))

  def action_label(self, i: int, a: int) -> str:
    """The name of action slot `a` at infoset row `i`.

    The game's action id (OpenSpiel's, for Kuhn, Leduc and imported games)
    as text; in hold'em subgames the betting token ('k', 'c', 'f', 'b10',
    'a'), which differs from node to node.
    """
    tokens = getattr(self.info, 'action_tokens', None)
    if tokens:  # per decision node; the keys know each row's node
      return tokens[self.keys.decision(i)].get(a, str(a))
    return str(self.info.action_labels[a])

  def to_dict(self) -> dict[str, dict[str, float]]:
    """{infoset key: {action label: probability}} over the legal actions."""
    return {key: {self.action_label(i, a): float(self.probs[i, a])
                  for a in np.flatnonzero(self.legal[i])}
            for i, key in enumerate(self.keys)}

  def save_json(self, path) -> None:
    """Writes `to_dict()` as JSON to `path`."""
    with open(path, 'w') as f:
      json.dump(self.to_dict(), f, indent=1)
      f.write('\n')

  @staticmethod
  def load_npz(path) -> dict[str, dict[int, float]]:
    """Reads a saved policy back as {infoset key: {action: probability}}."""
    with np.load(path, allow_pickle=False) as data:
      keys, probs, legal, actions = (data['keys'], data['probs'], data['legal'],
                                     data['actions'])
    return {str(k): {int(actions[a]): float(probs[i, a]) for a in np.flatnonzero(legal[i])}
            for i, k in enumerate(keys)}

  def to_openspiel(self, game=None):
    """A `pyspiel`-compatible `open_spiel.python.policy.TabularPolicy`.

    Needs the open-spiel extra (`pip install "cfr_jax[openspiel]"`).
    """
    try:
      import pyspiel  # pylint: disable=g-import-not-at-top
      from open_spiel.python import policy as os_policy  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError('TabularPolicy.to_openspiel() needs the open-spiel package: '
                        'pip install "cfr_jax[openspiel]"') from e
    if game is None:
      if self.info.openspiel_name is None:
        raise ValueError(f'{self.info.name} has no OpenSpiel counterpart')
      game = pyspiel.load_game(self.info.openspiel_name)
    out = os_policy.TabularPolicy(game)
    for key, row in out.state_lookup.items():
      i = self.info.infoset_index.get(key)
      if i is None:
        raise KeyError(f'OpenSpiel infoset {key!r} is not in {self.info.name}')
      for a in np.flatnonzero(self.legal[i]):
        out.action_probability_array[row, self.info.action_labels[a]] = self.probs[i, a]
    return out
