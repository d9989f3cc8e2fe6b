"""Tabular policies keyed by infoset strings, with export to .npz, JSON and OpenSpiel."""
from __future__ import annotations

import errno
import json
import os
import zipfile
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax import atomic
from cfr_jax import heap
from cfr_jax.checks import check_distributions, check_policy_game, check_policy_shape
from cfr_jax.placement import to_device

# What `save_npz` writes (and `load_npz` needs); hold'em subgames add
# `label_rows` and `labels`, each row's action labels (`save_npz`).
NPZ_MEMBERS = ('keys', 'probs', 'legal', 'actions')


# A {key: {action: probability}} dict costs ~390 bytes per row (the turn
# config's 412,380 rows: 153 MB of RSS).
DICT_BYTES_PER_ROW = 400


def _check_dict_fits(rows: int, what: str) -> None:
  """MemoryError where a dict of `rows` rows would not fit in the memory
  available (`heap.available_memory`; unknown: no check)."""
  need, available = rows * DICT_BYTES_PER_ROW, heap.available_memory()
  if available is not None and need > available:
    raise MemoryError(
        f'{what}: a dict of {rows:,} infosets needs ~{need / 2**30:.1f} GiB, '
        f'{available / 2**30:.1f} GiB is available; read rows by key '
        '(action_probabilities), or write a file (save_json streams, save_npz is compact)')


class TabularPolicy:
  """Action probabilities per infoset, on the host.

  probs: [I, A] rows summing to 1 over legal actions; legal: [I, A] bool, or
  a function that returns it, called when `legal` is first read (a flop
  subgame's mask is 0.2 GB that evaluations never read).
  Keys are the game's infoset keys (OpenSpiel's `information_state_string`
  for Kuhn, Leduc and imported OpenSpiel games).

  A table built by hand is checked here, as an array given to the
  evaluations is (each legal row >= 0, finite, summing to 1): an all-5.0
  table was scored 19.17 chips. normalised: True where the maker normalised
  the rows itself (a solver's policies): not checked then, here or where it
  is evaluated, for as long as `probs` is that table (a diverged solver's NaN
  rows give a NaN exploitability, which training reports as divergence).
  """

  def __init__(self, info, probs: np.ndarray, legal, normalised: bool = False):
    if not hasattr(info, 'infoset_keys'):  # the game itself: an AttributeError below
      raise TypeError(f'TabularPolicy takes a game\'s info (game.info), got '
                      f'{type(info).__name__}')
    self.info = info
    self.probs = np.asarray(probs)
    self._legal = legal if callable(legal) else np.asarray(legal, bool)
    # A table of another game (or shape) was a policy in silence: its keys
    # were info's, its rows another game's (save_json wrote them together).
    want = (len(info.infoset_keys), len(info.action_labels))
    for name, x in (('probs', self.probs), ('legal', self._legal)):
      if not callable(x) and x.shape != want:
        raise ValueError(f'TabularPolicy {name} has shape {x.shape}; {info.name} has {want[0]:,} '
                         f'infosets and {want[1]} action slots: {want}')
    # The table whose rows are known to be distributions (checked, or
    # normalised by its maker); another `probs` assigned later is checked
    # where it is read.
    self._normalised = self.probs if normalised else None
    if not normalised:
      check_distributions(info, self.probs, legal=self.legal)
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

  def action_probabilities(self, key: str) -> dict:
    """{action: probability} over the legal actions of infoset `key`: the
    game's action ids (int; OpenSpiel's for Kuhn, Leduc and imported games),
    or in hold'em subgames the betting tokens ('k', 'b10', ...; a slot's
    meaning changes from node to node), as `to_dict` and `save_json` write."""
    try:
      i = self.info.infoset_index[key]
    except KeyError:
      raise KeyError(f'no infoset {key!r} in {self.info.name}') from None
    tokens = getattr(self.info, 'action_tokens', None)
    label = ((lambda a: self.action_label(i, a)) if tokens
             else (lambda a: self.info.action_labels[a]))
    return {label(a): float(self.probs[i, a]) for a in np.flatnonzero(self.legal[i])}

  def save_npz(self, path) -> None:
    """Writes keys, probabilities, legal mask and action labels to `path`
    (as `np.savez_compressed`, '.npz' added if missing; `load_npz` or
    `np.load` read it).

    Members: keys [I] (bytes), probs [I, A], legal [I, A], actions [A] (the
    game's action id of each slot), game (its name). Where a slot's action
    changes from node to node (hold'em subgames: slot 2 is 'b5' at the root,
    'b30' after 'kb10'), also each row's labels, run-length coded by node:
    label_rows [G + 1] (each run's first row; the last entry is I) and
    labels [G, A] (UTF-8 bytes, b'' where the slot is no action); row i's
    labels are labels[np.searchsorted(label_rows, i, 'right') - 1].

    Keys are stored as UTF-8 bytes (`keys`, dtype S): a flop subgame's 5e7
    keys take 1.9 GB so, where 4-byte-per-character text took 7 GB; they are
    made and written block by block, never all at once (the flop's
    `cfr-export`: peak 5.4 -> 2.2 GB, bench/RESULTS.md). The file is written beside `path`
    and renamed over it when complete: an interrupted export leaves any
    earlier file whole."""
    path = _checked_path(path, 'save_npz')
    if path.lower().endswith('.json'):  # c.json.npz was written
      raise ValueError(f'save_npz writes an .npz file, got {path!r}: save_json writes JSON')
    # (any case: cfr-export takes 'P.NPZ', which np.savez's rule made 'P.NPZ.npz')
    path = path if path.lower().endswith('.npz') else path + '.npz'
    keys = self.keys
    width = max(1, keys.widest() if hasattr(keys, 'widest') else
                max((len(k.encode()) for k in keys), default=0))
    members = dict(probs=self.probs, legal=self.legal,
                   actions=np.asarray(self.info.action_labels), game=np.asarray(self.info.name),
                   **self._row_labels())
    with atomic.replacing(path) as part, zipfile.ZipFile(part, 'w', zipfile.ZIP_DEFLATED,
                                                   allowZip64=True) as z:
      with z.open('keys.npy', 'w', force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, {
            'descr': np.lib.format.dtype_to_descr(np.dtype(f'S{width}')),
            'fortran_order': False, 'shape': (len(keys),)})
        for block, _, _, _ in self._blocks():
          f.write(np.char.encode(np.asarray(block), 'utf-8').astype(f'S{width}').tobytes())
      for name, array in members.items():
        with z.open(f'{name}.npy', 'w', force_zip64=True) as f:
          np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)

  def _row_labels(self) -> dict:
    """{'label_rows': [G + 1], 'labels': [G, A] bytes} where slots are
    labelled per node (hold'em subgames' tokens), else {} (`save_npz`)."""
    tokens = getattr(self.info, 'action_tokens', None)
    row_start = getattr(self.keys, 'row_start', None)
    if not tokens or row_start is None:
      return {}
    table = tokens.table(len(self.info.action_labels))
    return dict(label_rows=np.asarray(row_start, np.int64),
                labels=np.char.encode(table, 'utf-8'))

  def _blocks(self, rows: int = 65536):
    """(keys, first row, legal slots, their labels) per run of rows: a
    decision node's rows in hold'em subgames (its hands share the node's
    actions; keys made per node, not one by one), else single rows."""
    keys = self.keys
    row_start = getattr(keys, 'row_start', None)
    if row_start is None:  # a list of every key: one row at a time
      for i, key in enumerate(keys):
        slots = np.flatnonzero(self.legal[i])
        yield [key], i, slots, [self.action_label(i, a) for a in slots]
      return
    all_names = np.asarray(keys.names, dtype=object)
    for d, (lo, hi) in enumerate(zip(row_start[:-1], row_start[1:])):
      lo, hi = int(lo), int(hi)
      if hi == lo:
        continue
      slots = np.flatnonzero(self.legal[lo])
      labels = [self.action_label(lo, a) for a in slots]
      names = all_names[keys.members[keys.player[d]][:hi - lo]]
      prefix = keys.lines[d] + '|'
      for start in range(0, hi - lo, rows):
        yield [prefix + n for n in names[start:start + rows]], lo + start, slots, labels

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
    """{infoset key: {action label: probability}} over the legal actions.
    MemoryError, before building it, where it would not fit in memory (a flop
    subgame's 5e7 rows: ~18 GiB); `save_json` streams the same text."""
    _check_dict_fits(len(self.keys), 'to_dict()')
    return {key: {self.action_label(i, a): float(self.probs[i, a])
                  for a in np.flatnonzero(self.legal[i])}
            for i, key in enumerate(self.keys)}

  def save_json(self, path, progress=None) -> None:
    """Writes `to_dict()` as JSON to `path`: the bytes `json.dump(...,
    indent=1)` writes, streamed row by row (a flop subgame's dict, 5e7
    infosets, would need ~20 GB). progress: called as progress(rows done,
    rows) after each block of rows, if given. Written beside `path` and
    renamed over it when complete, as `save_npz`."""
    total, done = len(self.keys), 0
    with atomic.replacing(_checked_path(path, 'save_json')) as part, open(part, 'w') as f:
      f.write('{')
      for keys, first, slots, labels in self._blocks():
        probs = self.probs[first:first + len(keys)][:, slots]
        text = [json.dumps(l) for l in labels]
        number = repr if np.isfinite(probs).all() else json.dumps  # json's float format
        fields = [[f'\n  {t}: {number(v)}' for t, v in zip(text, r)] for r in probs.tolist()]
        f.write(''.join(
            f'{"," if done + k else ""}\n {json.dumps(key)}: '
            + ('{' + ','.join(fl) + '\n }' if fl else '{}')
            for k, (key, fl) in enumerate(zip(keys, fields))))
        done += len(keys)
        if progress is not None:
          progress(done, total)
      f.write('\n}\n' if done else '}\n')

  @staticmethod
  def load_npz(path) -> dict:
    """Reads a saved policy back as {infoset key: {action: probability}}:
    actions as `action_probabilities` names them (the game's action ids;
    hold'em betting tokens, in files that hold them: `save_npz`). `path`
    without '.npz' is read as `save_npz` wrote it ('p' -> 'p.npz') where
    only that file is there. A file that is no policy .npz is a ValueError
    naming it."""
    path = _npz_path(path)
    data = _read_npz(path)
    keys, probs, legal, actions = (data[m] for m in NPZ_MEMBERS)
    if keys.dtype.kind == 'S':  # UTF-8 bytes (text in files written before)
      keys = np.char.decode(keys, 'utf-8')
    _check_dict_fits(len(keys), f'load_npz({path!r})')
    if 'labels' in data:  # each row's labels, per run of rows (hold'em: a node's)
      node = np.searchsorted(data['label_rows'], np.arange(len(keys)), 'right') - 1
      names = np.char.decode(data['labels'], 'utf-8').tolist()
      return {str(k): {names[node[i]][a]: float(probs[i, a]) for a in np.flatnonzero(legal[i])}
              for i, k in enumerate(keys)}
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
    if game is not None and not isinstance(game, pyspiel.Game):  # a cfr_jax game, a name
      raise TypeError(f'to_openspiel takes a pyspiel game (pyspiel.load_game(...)) or none '
                      f'(this policy\'s own), got {type(game).__name__}')
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


def policy_table(game, policy, expected: str) -> jax.Array:
  """[I, A] the table `policy` (a TabularPolicy, or an array) gives `game`'s
  infosets, for the exact evaluations (`cfr_jax.exploitability`, `game_value`,
  `subgame.node_report`, ...), after checking it is a policy of `game`: the
  one place they check. A TabularPolicy must be of `game` (`check_policy_game`:
  another game's of the same shape was scored as if it were this game's);
  its table, and an array, must have `game`'s shape and rows that are
  distributions over the legal actions, except a table its maker normalised
  (`TabularPolicy(normalised=True)`: a solver's). expected: the TypeError's
  text for anything else, '..., got <type>' added."""
  if isinstance(policy, TabularPolicy):
    check_policy_game(game, policy.info)
    probs = policy.device_probs()
    check_policy_shape(game, probs)
    if policy._normalised is not policy.probs:  # pylint: disable=protected-access
      check_distributions(game, policy.probs)
    return probs
  try:
    probs = jnp.asarray(policy)
  except (TypeError, ValueError):  # (None: "None is not a valid value for jnp.array")
    raise TypeError(f'{expected}, got {type(policy).__name__}') from None
  check_policy_shape(game, probs)
  check_distributions(game, policy)
  return probs


def _checked_path(path, what: str) -> str:
  """`path` as a str, or a ValueError for an empty one (save_npz('') wrote a
  hidden './.npz', save_json('') failed renaming its temporary file)."""
  path = os.fspath(path)
  if not path.strip():
    raise ValueError(f'{what} needs a file name, got {path!r}')
  return path


def _npz_path(path) -> str:
  """`path`, or `path` + '.npz' where only that is there (`save_npz` adds
  it); FileNotFoundError naming both where neither is."""
  path = os.fspath(path)
  if os.path.exists(path) or path.lower().endswith('.npz'):
    if not os.path.exists(path):
      raise FileNotFoundError(errno.ENOENT, f'no policy file {path}')
    return path
  if os.path.exists(path + '.npz'):
    return path + '.npz'
  raise FileNotFoundError(errno.ENOENT, f'no policy file {path} (nor {path}.npz)')


def _read_npz(path: str) -> dict:
  """{member: array} of the policy file `path`, or a ValueError naming it
  that says what it is instead: a JSON file said it "contains pickled
  (object) data", an .npz of other arrays "keys is not a file in the archive"."""
  what = 'not a policy .npz file (TabularPolicy.save_npz writes one)'
  if os.path.isdir(path):
    raise IsADirectoryError(errno.EISDIR, f'{path} is a directory, not a policy .npz file')
  if not zipfile.is_zipfile(path):
    with open(path, 'rb') as f:
      head = f.read(64).lstrip()
    hint = (': it is JSON (save_json writes that; read it with json.load)'
            if head[:1] in (b'{', b'[') else
            ': it is a single .npy array' if head.startswith(b'\x93NUMPY') else '')
    raise ValueError(f'{path} is {what}{hint}')
  try:
    with np.load(path, allow_pickle=False) as data:
      missing = [m for m in NPZ_MEMBERS if m not in data.files]
      if missing:
        raise ValueError(f'{path} is {what}: it has no {", ".join(missing)} (it holds '
                         f'{", ".join(data.files) or "nothing"})')
      out = {m: data[m] for m in data.files if m in NPZ_MEMBERS + ('label_rows', 'labels')}
  except (zipfile.BadZipFile, zlib.error, EOFError) as e:
    raise ValueError(f'{path} is damaged: {e}') from None
  except ValueError as e:
    if str(e).startswith(str(path)):
      raise
    raise ValueError(f'{path} is {what}: {e}') from None  # an object array, ...
  keys, probs, legal, actions = (out[m] for m in NPZ_MEMBERS)
  if not (keys.ndim == 1 and probs.ndim == 2 and legal.shape == probs.shape
          and probs.shape[0] == len(keys) and actions.shape == probs.shape[1:]):
    raise ValueError(f'{path} is {what}: keys {keys.shape}, probs {probs.shape}, legal '
                     f'{legal.shape} and actions {actions.shape} do not fit together')
  return out
