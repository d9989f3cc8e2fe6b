"""Built subgames kept on disk (`training.game_cache`): a later start loads the
same game, any change of spec, code or libraries builds afresh, and a broken
or unwritable cache only costs the build."""
import os

import jax
import numpy as np
import pytest

pytest.importorskip('phevaluator')
import cfr_jax  # pylint: disable=g-import-not-at-top
from cfr_jax.cli import train  # pylint: disable=g-import-not-at-top
from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
from cfr_jax.training import config as config_lib  # pylint: disable=g-import-not-at-top
from cfr_jax.training import game_cache  # pylint: disable=g-import-not-at-top


@pytest.fixture
def builds(monkeypatch):
  """Every game is kept (however quick its build); counts the builds."""
  monkeypatch.setattr(game_cache, 'MIN_BUILD_SECONDS', 0.0)
  count = []
  compile_subgame = subgame.compile_subgame
  monkeypatch.setattr(subgame, 'compile_subgame',
                      lambda spec: count.append(spec) or compile_subgame(spec))
  return count


def turn_config(tmp_path, **holdem):
  config, _ = train.load_config('holdem_turn')
  config.compilation_cache = str(tmp_path / 'xla')
  config.holdem.update(holdem)
  return config


def games(tmp_path):
  directory = tmp_path / 'xla' / 'games'
  return sorted(os.listdir(directory)) if directory.is_dir() else []


def test_a_later_start_loads_the_same_game_and_iterates_the_same(tmp_path, builds):
  config = turn_config(tmp_path)
  fresh = config_lib._load_game(config, cache=True)  # pylint: disable=protected-access
  assert len(builds) == 1 and len(games(tmp_path)) == 1
  loaded = config_lib._load_game(config, cache=True)  # pylint: disable=protected-access
  assert len(builds) == 1 and loaded is not fresh
  for a, b in zip(jax.tree.leaves(fresh), jax.tree.leaves(loaded)):
    assert np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)
  assert loaded.info.infoset_keys[1234] == fresh.info.infoset_keys[1234]
  states = [cfr_jax.make_solver(g, 'dcfr').run(cfr_jax.make_solver(g, 'dcfr').init(), 5)
            for g in (fresh, loaded)]
  assert np.array_equal(states[0].regrets, states[1].regrets)
  # Without the launcher's cache (the library, benchmarks) nothing is read.
  config_lib._load_game(config)  # pylint: disable=protected-access
  assert len(builds) == 2


def test_another_spec_code_or_library_builds_afresh_and_few_are_kept(tmp_path, builds,
                                                                    monkeypatch):
  monkeypatch.setattr(game_cache, 'KEEP', 2)
  config_lib._load_game(turn_config(tmp_path), cache=True)  # pylint: disable=protected-access
  config_lib._load_game(turn_config(tmp_path, pot=12.0), cache=True)  # pylint: disable=protected-access
  assert len(builds) == 2 and len(games(tmp_path)) == 2
  monkeypatch.setattr(game_cache, '_code_digest', lambda: 'another version of cfr_jax')
  config_lib._load_game(turn_config(tmp_path), cache=True)  # pylint: disable=protected-access
  assert len(builds) == 3 and len(games(tmp_path)) == 2  # the least recently used went
  monkeypatch.setattr(game_cache, '_version', lambda package: 'another')
  config_lib._load_game(turn_config(tmp_path), cache=True)  # pylint: disable=protected-access
  assert len(builds) == 4


def test_a_broken_or_unwritable_cache_only_costs_the_build(tmp_path, builds, capsys):
  config = turn_config(tmp_path)
  config_lib._load_game(config, cache=True)  # pylint: disable=protected-access
  (name,) = games(tmp_path)
  path = tmp_path / 'xla' / 'games' / name
  path.write_bytes(path.read_bytes()[:1000])  # truncated
  game = config_lib._load_game(config, cache=True)  # pylint: disable=protected-access
  assert len(builds) == 2 and 'building the game again' in capsys.readouterr().out
  assert game.num_decisions > 0
  config_lib._load_game(config, cache=True)  # pylint: disable=protected-access
  assert len(builds) == 2  # replaced by the rebuilt game
  # The cache's directory is a file: the game is built and not kept, with a note.
  config.compilation_cache = str(tmp_path / 'file')
  (tmp_path / 'file').write_text('')
  assert config_lib._load_game(config, cache=True).num_decisions > 0  # pylint: disable=protected-access
  assert 'not kept for later starts' in capsys.readouterr().out
  config.compilation_cache = 'none'
  config_lib._load_game(config, cache=True)  # pylint: disable=protected-access
  assert len(builds) == 4


def test_the_launcher_says_whether_it_built_or_loaded_the_game(tmp_path):
  """'built in X s (kept in <dir>)' the first time, 'loaded from the game
  cache' the next, never 'built' for a game read from disk."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  code = ('import sys; from cfr_jax.training import game_cache; '
          'game_cache.MIN_BUILD_SECONDS = 0.0; from cfr_jax.cli.train import main; '
          "sys.argv[0] = 'cfr-train'; main()")
  cache = tmp_path / 'xla'
  args = [sys.executable, '-c', code, '--config=holdem_river', f'--workdir={tmp_path / "run"}',
          f'--config.compilation_cache={cache}', '--config.max_iterations=2',
          '--config.chunk_iterations=2', '--config.eval_every=2']
  env = {**os.environ, 'PYTHONPATH': repo, 'JAX_PLATFORMS': 'cpu'}
  lines = []
  for more in ([], ['--config.max_iterations=4']):
    proc = subprocess.run(args + more, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines.append(next(l for l in proc.stdout.splitlines() if ' in ' in l and ' s' in l))
  assert lines[0].startswith('built in ') and f'(kept in {cache / "games"})' in lines[0]
  assert lines[1].startswith('loaded from the game cache in ') and 'built' not in lines[1]
  assert str(cache / 'games') in lines[1]
