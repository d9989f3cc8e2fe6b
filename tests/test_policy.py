"""TabularPolicy: lookups, JSON/npz export, and the OpenSpiel bridge's install hint."""
import json
import os
import re
import sys

import numpy as np
import pytest

import cfr_jax
from cfr_jax import policy as policy_lib


def kuhn_policy():
  game = cfr_jax.load_game('kuhn')
  return cfr_jax.TabularPolicy(game.info, cfr_jax.uniform_policy(game), np.asarray(game.legal))


def test_to_openspiel_without_open_spiel_names_the_extra(monkeypatch):
  monkeypatch.setitem(sys.modules, 'pyspiel', None)  # `import pyspiel` now fails
  with pytest.raises(ImportError, match=r'pip install "cfr_jax\[openspiel\]"'):
    kuhn_policy().to_openspiel()


def test_json_is_every_infoset_with_its_legal_actions(tmp_path):
  policy = kuhn_policy()
  policy.save_json(tmp_path / 'p.json')
  with open(tmp_path / 'p.json') as f:
    table = json.load(f)
  assert list(table) == policy.keys and len(table) == 12
  assert table['1pb'] == {'0': 0.5, '1': 0.5}  # Kuhn: pass, bet
  policy.save_npz(tmp_path / 'p.npz')
  back = policy_lib.TabularPolicy.load_npz(tmp_path / 'p.npz')
  assert {k: {str(a): p for a, p in row.items()} for k, row in back.items()} == table


def test_json_and_npz_are_written_in_blocks_as_before(tmp_path):
  """save_json streams the bytes json.dump(to_dict(), indent=1) wrote (the
  dict of a flop subgame's 5e7 infosets needs ~20 GB); save_npz stores keys
  as UTF-8 bytes, and files with text keys (written before) still load."""
  pytest.importorskip('phevaluator')
  from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
  river = subgame.compile_subgame(subgame.SubgameSpec(
      board='Ks 9s 8h 3d 2c', pot=10, stack=20, ranges=('AA,KK,T9s', 'QQ,JJ,AK')))
  for game in (cfr_jax.load_game('leduc'), river):
    solver = cfr_jax.make_solver(game, 'dcfr')
    policy = solver.average_policy(solver.run(solver.init(), 7))
    seen = []
    policy.save_json(tmp_path / 'p.json', progress=lambda done, total: seen.append((done, total)))
    assert (tmp_path / 'p.json').read_text() == json.dumps(policy.to_dict(), indent=1) + '\n'
    assert seen[-1] == (len(policy.keys), len(policy.keys))
    policy.save_npz(tmp_path / 'p.npz')
    with np.load(tmp_path / 'p.npz') as data:
      # Written block by block at the longest key's width, as one array was.
      assert data['keys'].dtype == np.char.encode(np.asarray(list(policy.keys))).dtype
      np.savez_compressed(tmp_path / 'old.npz', **{**data, 'keys': np.char.decode(data['keys'])})
    back = policy_lib.TabularPolicy.load_npz(tmp_path / 'p.npz')
    assert list(back) == list(policy.keys)
    assert back == policy_lib.TabularPolicy.load_npz(tmp_path / 'old.npz')


def test_an_interrupted_export_leaves_the_earlier_file_whole(tmp_path, monkeypatch):
  policy = kuhn_policy()
  policy.save_npz(tmp_path / 'p')  # '.npz' added, as np.savez does
  policy.save_json(tmp_path / 'p.json')
  before = {name: (tmp_path / name).read_bytes() for name in ('p.npz', 'p.json')}

  def fail(*args, **kwargs):
    raise OSError(28, 'No space left on device')
  monkeypatch.setattr(np.lib.format, 'write_array', fail)
  with pytest.raises(OSError, match='No space left'):
    policy.save_npz(tmp_path / 'p.npz')
  monkeypatch.setattr(json, 'dumps', fail)
  with pytest.raises(OSError, match='No space left'):
    policy.save_json(tmp_path / 'p.json')
  assert {name: (tmp_path / name).read_bytes() for name in before} == before
  assert sorted(os.listdir(tmp_path)) == ['p.json', 'p.npz']  # no partial file left behind


def test_a_table_of_another_game_or_shape_is_no_policy():
  """Each made a policy in silence: Leduc's keys over Kuhn's rows (save_json
  wrote them together), a 3-row table for Kuhn's 12 infosets."""
  kuhn, leduc = cfr_jax.load_game('kuhn'), cfr_jax.load_game('leduc')
  uniform, legal = cfr_jax.uniform_policy(kuhn), np.asarray(kuhn.legal)
  for info, probs, mask, message in (
      (leduc.info, uniform, legal, 'probs has shape (12, 2); leduc has 936 infosets and 3 '
                                   'action slots: (936, 3)'),
      (kuhn.info, uniform[:3], legal, 'probs has shape (3, 2); kuhn has 12'),
      (kuhn.info, uniform, legal[:, :1], 'legal has shape (12, 1); kuhn has 12'),
      (kuhn.info, None, legal, 'probs has shape ();')):
    with pytest.raises(ValueError, match=re.escape(f'TabularPolicy {message}')):
      cfr_jax.TabularPolicy(info, probs, mask)


def test_a_file_in_a_directory_that_is_not_there_is_named(tmp_path):
  """The error named the temporary file ('.../p.json.tmp.<pid>.<thread>')."""
  policy = kuhn_policy()
  for save, name in ((policy.save_json, 'p.json'), (policy.save_npz, 'p.npz')):
    path = tmp_path / 'missing' / name
    with pytest.raises(FileNotFoundError, match=f'cannot write {path}: no directory '
                       f'{tmp_path / "missing"}$'):
      save(path)
  assert os.listdir(tmp_path) == []


def test_a_dict_that_would_not_fit_is_refused_and_files_still_write(tmp_path, monkeypatch):
  """to_dict / load_npz of a flop policy (5e7 rows, ~18 GiB) would run the
  machine out of memory: refused before building, with the ways that work."""
  from cfr_jax import heap  # pylint: disable=g-import-not-at-top
  policy = kuhn_policy()
  policy.save_npz(tmp_path / 'p.npz')
  monkeypatch.setattr(heap, 'available_memory', lambda: 12 * policy_lib.DICT_BYTES_PER_ROW - 1)
  with pytest.raises(MemoryError, match='a dict of 12 infosets needs'):
    policy.to_dict()
  with pytest.raises(MemoryError, match='save_json streams'):
    policy_lib.TabularPolicy.load_npz(tmp_path / 'p.npz')
  policy.save_json(tmp_path / 'p.json')  # streamed: no dict
  assert len(json.loads((tmp_path / 'p.json').read_text())) == 12
  monkeypatch.setattr(heap, 'available_memory', lambda: 12 * policy_lib.DICT_BYTES_PER_ROW)
  assert len(policy.to_dict()) == 12


def test_holdem_labels_are_betting_tokens():
  pytest.importorskip('phevaluator')
  from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
  game = subgame.compile_subgame(subgame.SubgameSpec(
      board='Ks 9s 8h 3d 2c', pot=10, stack=20, ranges=('AA,KK', 'QQ,JJ'), bet_sizes=(1.0,),
      raise_sizes=(), max_raises=0))
  solver = cfr_jax.make_solver(game, 'cfr+')
  table = solver.average_policy(solver.run(solver.init(), 5)).to_dict()
  lines = {key.split('|')[0]: set(row) for key, row in table.items()}
  assert lines['-'] == {'k', 'b10', 'a'}  # check, bet the pot, all-in
  assert lines['kb10'] == {'f', 'c'}  # no raises
  assert lines['b10'] == {'f', 'c'}


def test_exact_evaluations_read_the_device_table_a_policy_views():
  """A solver's policy is a read-only view of its device table (no host copy),
  and the exact evaluations take that table back instead of copying it (0.8 GB
  on the flop config); a replaced `probs` is what they read then."""
  import jax  # pylint: disable=g-import-not-at-top
  game = cfr_jax.load_game('kuhn')
  solver = cfr_jax.make_solver(game, 'cfr+')
  policy = solver.average_policy(solver.run(solver.init(), 50))
  table = policy.device_probs()
  assert isinstance(table, jax.Array)
  assert np.shares_memory(policy.probs, np.asarray(table))
  assert not policy.probs.flags.writeable
  assert policy.device_probs() is table
  value = cfr_jax.exploitability(game, policy)
  uniform = cfr_jax.uniform_policy(game)
  policy.probs = uniform
  assert policy.device_probs() is not table
  assert cfr_jax.exploitability(game, policy) == pytest.approx(
      cfr_jax.exploitability(game, uniform))
  assert cfr_jax.exploitability(game, policy) > value


def test_a_solvers_policy_builds_its_legal_mask_when_first_read(monkeypatch):
  """A flop's [I, A] mask is 0.2 GB that evaluations never read: a solver's
  policy asks the game for it once, when `legal` is first read."""
  from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
  game = subgame.compile_subgame(subgame.SubgameSpec(
      board='Ks 9s 8h 3d 2c', pot=10, stack=20, ranges=('AA,KK,QQ', 'QQ,JJ,AK'),
      bet_sizes=(1.0,), raise_sizes=(), max_raises=0))
  solver = cfr_jax.make_solver(game, 'dcfr')
  asked = []
  legal = type(game).legal
  monkeypatch.setattr(type(game), 'legal', property(lambda g: asked.append(1) or legal.fget(g)))
  policy = solver.average_policy(solver.run(solver.init(), 5))
  value = cfr_jax.exploitability(game, policy)
  assert asked == [] and value > 0
  np.testing.assert_array_equal(policy.legal, np.asarray(legal.fget(game)))
  assert policy.legal is policy.legal and len(asked) == 1
  assert policy.legal.dtype == bool and policy.legal.sum() < policy.legal.size


def test_holdem_npz_keeps_each_rows_action_labels(tmp_path):
  """The .npz stored only slots ('actions' [0 1 2 3 4]) and load_npz gave
  {1: .., 2: ..}, as action_probabilities did, where slot 2 is 'b10' at the
  root and 'b30' after 'b10'; JSON had the tokens. Files without labels (any
  written before; other games') still load with their action ids."""
  pytest.importorskip('phevaluator')
  from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
  game = subgame.compile_subgame(subgame.SubgameSpec(
      board='Ks 9s 8h 3d 2c', pot=10, stack=100, ranges=('AA,KK', 'QQ,JJ'), bet_sizes=(1.0,),
      raise_sizes=(1.0,), max_raises=1))
  solver = cfr_jax.make_solver(game, 'cfr+')
  policy = solver.average_policy(solver.run(solver.init(), 5))
  assert set(policy.action_probabilities('-|AsAh')) == {'k', 'b10', 'a'}
  assert set(policy.action_probabilities('b10|QsQh')) == {'f', 'c', 'b30', 'a'}
  policy.save_npz(tmp_path / 'p.npz')
  policy.save_json(tmp_path / 'p.json')
  back = policy_lib.TabularPolicy.load_npz(tmp_path / 'p.npz')
  assert back == json.loads((tmp_path / 'p.json').read_text())
  assert back == {k: policy.action_probabilities(k) for k in policy.keys}
  with np.load(tmp_path / 'p.npz') as data:
    old = {k: data[k] for k in data.files if k not in ('label_rows', 'labels')}
  np.savez_compressed(tmp_path / 'old.npz', **old)
  assert set(policy_lib.TabularPolicy.load_npz(tmp_path / 'old.npz')['-|AsAh']) == {1, 2, 3}
  kuhn_policy().save_npz(tmp_path / 'k.npz')
  with np.load(tmp_path / 'k.npz') as data:
    assert 'labels' not in data.files
  assert policy_lib.TabularPolicy.load_npz(tmp_path / 'k.npz')['1pb'] == {0: 0.5, 1: 0.5}


def test_a_file_that_is_no_policy_file_is_named(tmp_path):
  """load_npz of a JSON file said it "contains pickled (object) data", of
  another .npz "keys is not a file in the archive"; load_npz('p') did not
  find the 'p.npz' that save_npz('p') wrote; saving onto a directory named
  the temporary file ('p.npz.tmp.<pid>.<thread>')."""
  policy = kuhn_policy()
  policy.save_json(tmp_path / 'p.json')
  np.savez(tmp_path / 'other.npz', a=np.ones(3))
  np.save(tmp_path / 'one.npy', np.ones(3))
  for name, why in (('p.json', 'it is JSON'), ('other.npz', 'it has no keys, probs'),
                    ('one.npy', 'it is a single .npy array')):
    with pytest.raises(ValueError, match=re.escape(
        f'{tmp_path / name} is not a policy .npz file (TabularPolicy.save_npz writes one): '
        f'{why}')):
      policy_lib.TabularPolicy.load_npz(tmp_path / name)
  policy.save_npz(tmp_path / 'p')  # '.npz' added, as np.savez does
  assert policy_lib.TabularPolicy.load_npz(tmp_path / 'p')['1pb'] == {0: 0.5, 1: 0.5}
  with pytest.raises(FileNotFoundError, match=re.escape(
      f'no policy file {tmp_path / "q"} (nor {tmp_path / "q"}.npz)')):
    policy_lib.TabularPolicy.load_npz(tmp_path / 'q')
  (tmp_path / 'd.npz').mkdir()
  with pytest.raises(IsADirectoryError, match=f'{tmp_path / "d.npz"} is a directory'):
    policy_lib.TabularPolicy.load_npz(tmp_path / 'd.npz')
  for save in (policy.save_json, policy.save_npz):
    with pytest.raises(IsADirectoryError, match=re.escape(
        f'cannot write {tmp_path / "d.npz"}: it is a directory') + '$'):
      save(tmp_path / 'd.npz')
  assert sorted(os.listdir(tmp_path)) == ['d.npz', 'one.npy', 'other.npz', 'p.json', 'p.npz']
