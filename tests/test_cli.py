"""The console scripts as users meet them: real processes, from any directory, real files."""
import json
import math
import os
import subprocess
import sys
import tomllib

import ml_collections
import pytest

from cfr_jax import configs
from cfr_jax import policy as policy_lib
from cfr_jax import training
from cfr_jax.cli import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# PYTHONPATH: this checkout's cfr_jax, whichever one is installed.
ENV = {**os.environ, 'PYTHONUNBUFFERED': '1', 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': REPO}
SCRIPTS = ('cfr-train', 'cfr-status', 'cfr-plot', 'cfr-query', 'cfr-export')
KUHN_200 = ('--config.max_iterations=200', '--config.chunk_iterations=100',
            '--config.eval_every=100')


def entry_points():
  with open(os.path.join(REPO, 'pyproject.toml'), 'rb') as f:
    return tomllib.load(f)['project']['scripts']


def script(name, *args, cwd, timeout=180):
  """Runs console script `name` as its installed wrapper does: import, call main()."""
  module, func = entry_points()[name].split(':')
  code = (f'import sys; sys.argv[0] = {name!r}; from {module} import {func}; '
          f'sys.exit({func}())')
  return subprocess.run([sys.executable, '-c', code, *args], cwd=cwd, env=ENV,
                        capture_output=True, text=True, timeout=timeout)


def launch(name, *args, cwd=REPO, timeout=180):
  """`python -m launch.<name>` (the repository-root shim)."""
  return subprocess.run([sys.executable, '-m', f'launch.{name}', *args], cwd=cwd, env=ENV,
                        capture_output=True, text=True, timeout=timeout)


def one_line_error(proc, *fragments):
  assert proc.returncode == training.EXIT_USAGE, proc.stderr
  assert 'Traceback' not in proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith('error: ')
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


def test_every_script_is_declared_and_callable():
  declared = entry_points()
  assert sorted(declared) == sorted(SCRIPTS)
  for name, target in declared.items():
    module, func = target.split(':')
    assert callable(getattr(__import__(module, fromlist=[func]), func)), name
    # and `python -m launch.<name>` calls the same function
    with open(os.path.join(REPO, 'launch', name.split('-')[1] + '.py')) as f:
      assert f'from {module} import {func}' in f.read()


def test_cfr_train_from_another_directory_trains_leduc_by_default(tmp_path):
  proc = script('cfr-train', '--config.max_iterations=20', '--config.chunk_iterations=20',
                '--config.eval_every=20', cwd=tmp_path)
  assert proc.returncode == training.EXIT_COMPLETE, proc.stderr
  with open(tmp_path / 'runs' / 'leduc' / 'progress.json') as f:
    p = json.load(f)
  assert (p['game'], p['algorithm'], p['status'], p['iteration']) == (
      'leduc', 'dcfr', 'completed', 20)


def test_configs_by_short_name_and_by_path_are_the_same(tmp_path):
  by_name, file = train.load_config('holdem_turn')
  assert file == configs.path('holdem_turn')
  by_path, _ = train.load_config(os.path.join(REPO, 'configs', 'holdem_turn.py'))
  assert by_name.to_dict() == by_path.to_dict()
  assert train.load_config('kuhn.py')[0].game == 'kuhn'
  assert train.config_name(train.resolve_config('kuhn')) == 'kuhn'


def test_help_lists_every_field_with_default_and_meaning():
  proc = launch('train', '--help')
  assert proc.returncode == 0, proc.stderr
  config, _ = train.load_config('leduc')
  for path, value in train.fields(config):
    assert f'--config.{path}={train._show(value)}' in proc.stdout  # pylint: disable=protected-access
    assert configs.FIELD_HELP[path] in proc.stdout
  assert '--workdir' in proc.stdout and 'holdem_turn' in proc.stdout
  assert 'holdem.board' not in proc.stdout
  # the fields of the chosen config, and absl's own flags with --helpfull
  proc = launch('train', '--config=holdem_river', '--helpfull')
  assert proc.returncode == 0, proc.stderr
  assert "--config.holdem.board='Ks 9s 8h 3d 2c'" in proc.stdout
  assert configs.FIELD_HELP['holdem.buckets.method'] in proc.stdout
  assert '--flagfile' in proc.stdout


def test_field_help_covers_every_shipped_config():
  for name in configs.names():
    config, _ = train.load_config(name)
    missing = [p for p, _ in train.fields(config) if p not in configs.FIELD_HELP]
    assert not missing, f'{name}: no FIELD_HELP for {missing}'


def _write(path, text):
  path.write_text(text)
  return str(path)


@pytest.mark.parametrize('args,fragments', [
    (['--config.alpah=1'], ['--config.alpah', 'did you mean --config.alpha?']),
    (['--config.distributed.enabld=true'], ['did you mean --config.distributed.enabled?']),
    (['--noconfig.alternatin'], ['did you mean --config.alternating?']),
    (['--config=holdem_river', '--config.holdem.buckets.methd=ehs'],
     ['did you mean --config.holdem.buckets.method?']),
    (['--config=kuhn', '--config.holdem.pot=5'], ['--config.holdem.pot', '--config=holdem_']),
    (['--config=configs/nonexistent.py'], ['configs/nonexistent.py does not exist', 'kuhn',
                                           'holdem_turn', 'leduc_large']),
    (['--config=nonexistent'], ['nonexistent does not exist', 'liars_dice']),
    (['--config=configs'], ['is a directory']),
    (['--config='], ['--config needs a value']),
    (['--config.alpha=nan'], ['config.alpha must be a finite number, got nan']),
    (['--config.alpha=inf'], ['config.alpha must be a finite number, got inf']),
    (['--config.beta=-inf'], ['config.beta must be a finite number, got -inf']),
    (['--config.gamma=1e999'], ['config.gamma must be a finite number, got inf']),
    (['--config.time_budget_minutes=inf'], ['config.time_budget_minutes must be a finite']),
    (['--config.chunk_minutes=Infinity'], ['config.chunk_minutes must be a finite']),
    (['--config=holdem_river', '--config.holdem.pot=nan'], ['config.holdem.pot must be a fin']),
    (['--config.alternating=maybe'], ['--config.alternating=maybe: expected true or false']),
    (['--config.max_iterations=1e3'], ['--config.max_iterations=1e3: expected a whole number']),
    (['--config.distributed=1'], ['--config.distributed=1: expected a block of fields']),
    (['--workdr=x'], ['workdir']),
])
def test_flag_mistakes_are_one_line_and_exit_1(tmp_path, args, fragments):
  workdir = tmp_path / 'run'
  one_line_error(launch('train', f'--workdir={workdir}', *args), *fragments)
  assert not workdir.exists()  # nothing was run


@pytest.mark.parametrize('source,fragments', [
    ('raise RuntimeError("boom")\n', ['failed to load: RuntimeError: boom (line 1)']),
    ('import no_such_module_xyz\n', ['ModuleNotFoundError', 'no_such_module_xyz', 'line 1']),
    ('def get_config(:\n', ['failed to load: SyntaxError', '(line 1)']),
    ('x = 1\n', ['defines no get_config()']),
    ('def get_config():\n  return {"a": 1}\n', ['returned dict, not an ml_collections']),
    ('import ml_collections\n\ndef get_config():\n  c = ml_collections.ConfigDict()\n'
     '  c.x = 1 / 0\n  return c\n', ['ZeroDivisionError', '(line 5)']),
])
def test_broken_config_files_are_one_line_and_exit_1(tmp_path, source, fragments):
  path = _write(tmp_path / 'my_config.py', source)
  line = one_line_error(launch('train', f'--config={path}', f'--workdir={tmp_path / "run"}'),
                        path, *fragments)
  assert 'Traceback' not in line


def test_check_finite_names_any_float_field():
  config = ml_collections.ConfigDict(dict(a=1.0, n=3, s='inf', block=dict(x=float('nan'))))
  with pytest.raises(training.ConfigError, match=r'config\.block\.x must be a finite'):
    training.check_finite(config)
  config.block.x = 2.5
  training.check_finite(config)  # finite floats, ints and strings pass
  config.sizes = (1.0, math.inf)
  with pytest.raises(training.ConfigError, match=r'config\.sizes must be a finite'):
    training.check_finite(config)
  config.sizes = (1.0, 2.0)
  config.a = -math.inf
  with pytest.raises(training.ConfigError, match=r'config\.a must be a finite number, got -inf'):
    training.check_finite(config)


# ----------------------------------------------------------------------------
# cfr-export


@pytest.fixture(scope='module')
def kuhn_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('kuhn') / 'run'
  proc = launch('train', '--config=configs/kuhn.py', f'--workdir={workdir}', *KUHN_200)
  assert proc.returncode == training.EXIT_COMPLETE, proc.stderr
  return workdir


def test_export_writes_the_runs_average_policy(kuhn_run, tmp_path):
  solver, state = training.load_run(str(kuhn_run))
  expected = solver.average_policy(state)
  proc = script('cfr-export', str(kuhn_run), '--out=policy.json', cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert '12 infosets of kuhn, iteration 200' in proc.stdout
  with open(tmp_path / 'policy.json') as f:
    got = json.load(f)
  assert sorted(got) == sorted(expected.keys)
  for key, row in got.items():
    want = expected.action_probabilities(key)
    assert {str(a): p for a, p in want.items()} == pytest.approx(row)
    assert sum(row.values()) == pytest.approx(1.0, abs=1e-5)
  proc = launch('export', str(kuhn_run), f'--out={tmp_path / "policy.npz"}')
  assert proc.returncode == 0, proc.stderr
  loaded = policy_lib.TabularPolicy.load_npz(tmp_path / 'policy.npz')
  assert loaded == {k: expected.action_probabilities(k) for k in expected.keys}


def test_export_mistakes_are_one_line_and_exit_1(kuhn_run, tmp_path):
  one_line_error(launch('export', str(tmp_path), '--out=p.json'), 'config.json')
  one_line_error(launch('export', str(tmp_path / 'missing'), '--out=p.json'), 'does not exist')
  one_line_error(launch('export', str(kuhn_run), '--out=p.txt'), '.npz or .json')
  one_line_error(launch('export', str(kuhn_run), f'--out={tmp_path}/no/dir/p.json'),
                 'cannot write')
  one_line_error(launch('export', '--out=p.json'), 'give one run directory')
  (tmp_path / 'sweep' / 'instance_0').mkdir(parents=True)
  one_line_error(launch('export', str(tmp_path / 'sweep')), 'instance_0')
  assert not (tmp_path / 'p.json').exists()


def test_status_runs_from_another_directory(kuhn_run, tmp_path):
  proc = script('cfr-status', str(kuhn_run), cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert 'completed' in proc.stdout and '200/200' in proc.stdout


def test_status_and_plot_say_which_paths_hold_no_run(kuhn_run, tmp_path):
  """A mistyped path among several is named on stderr, not left out of the
  table in silence; a file that is not JSON is a row saying so."""
  junk = tmp_path / 'junk.txt'
  junk.write_text('not json')
  proc = launch('status', str(kuhn_run), str(tmp_path / 'typo'), str(junk))
  assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr
  assert 'note: no progress.json under ' + str(tmp_path / 'typo') in proc.stderr
  assert '200/200' in proc.stdout and f'{junk}  unreadable' in proc.stdout
  pytest.importorskip('matplotlib')
  proc = launch('plot', str(kuhn_run), str(tmp_path / 'typo'), f'--out={tmp_path / "e.svg"}')
  assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr
  assert 'note: no metrics.jsonl under ' + str(tmp_path / 'typo') in proc.stderr
  assert (tmp_path / 'e.svg').read_text().lstrip().startswith('<?xml')
  # A format matplotlib cannot write: refused before any run is read.
  one_line_error(launch('plot', str(kuhn_run), f'--out={tmp_path / "e.txt"}'),
                 'cannot write .txt files', '.png')
  assert not (tmp_path / 'e.txt').exists()


def test_progress_rates_stay_readable_for_slow_solvers():
  """A network iteration can take seconds: never '0 it/s'."""
  from cfr_jax.training.outputs import rate_text  # pylint: disable=g-import-not-at-top
  assert rate_text(0.25) == '4.0 s/it'
  assert rate_text(2.345) == '2.3 it/s'
  assert rate_text(12345.6) == '12,346 it/s'
  assert rate_text(None) == rate_text(0) == '- it/s'
