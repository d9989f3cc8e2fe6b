"""The console scripts as users meet them: real processes, from any directory, real files."""
import importlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib

import ml_collections
import pytest

from cfr_jax import configs
from cfr_jax.configs import leduc as leduc_config
from cfr_jax import policy as policy_lib
from cfr_jax import training
from cfr_jax.cli import train
from cfr_jax.training import config as config_lib

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
    # Was "did you mean --config.holdem.buckets?", the block itself.
    (['--config=holdem_river', '--config.holdem.buckets.bins=4'],
     ['unknown config field --config.holdem.buckets.bins in holdem_river: config.holdem.buckets '
      'has histogram_bins, kmeans_iterations, method, num_buckets, seed']),
    (['--config=kuhn', '--config.holdem.pot=5'], ['--config.holdem.pot', '--config=holdem_']),
    (['--config=configs/nonexistent.py'], ['configs/nonexistent.py does not exist', 'kuhn',
                                           'holdem_turn', 'leduc_large']),
    (['--config=nonexistent'], ['nonexistent does not exist', 'liars_dice']),
    (['--config=configs'], ['is a directory']),
    (['--config='], ['--config needs a value']),
    # "got ('64,x',)", "expected a value of its type".
    (['--config=kuhn_deep_cfr', '--config.hidden=64,x'],
     ["config.hidden must be one or more positive layer widths (e.g. 64,64), got '64,x'"]),
    (['--config=kuhn_deep_cfr', '--config.hidden=64 64'],
     ['--config.hidden=64 64: expected comma-separated values (e.g. 64,64)']),
    # An IndexError traceback from ml_collections.
    (['--config=kuhn_deep_cfr', '--config.hidden[0]=5'],
     ['--config.hidden[0]=5: 0 is not a valid index', 'set the whole value instead']),
    # The last one was trained in silence.
    (['--config=kuhn', '--config', 'leduc'], ['--config is given 2 times (kuhn, leduc)']),
    (['--config.alpha=nan'], ['config.alpha must be a finite number, got nan']),
    (['--config.alpha=inf'], ['config.alpha must be a finite number, got inf']),
    (['--config.beta=-inf'], ['config.beta must be a finite number, got -inf']),
    (['--config.gamma=1e999'], ['config.gamma must be a finite number, got inf']),
    (['--config.time_budget_minutes=inf'], ['config.time_budget_minutes must be a finite']),
    (['--config.chunk_minutes=Infinity'], ['config.chunk_minutes must be a finite']),
    # Finite, but not in seconds: a traceback writing progress.json (ValueError: Out of
    # range float values are not JSON compliant: inf).
    (['--config.time_budget_minutes=1e308'],
     ['config.time_budget_minutes must be a number of minutes whose seconds are finite']),
    (['--config=holdem_river', '--config.holdem.pot=nan'], ['config.holdem.pot must be a fin']),
    (['--config.alternating=maybe'], ['--config.alternating=maybe: expected true or false']),
    # A placeholder (None until set) said "('Non-boolean argument to boolean flag', 'maybe')".
    (['--config.compensated=maybe'], ['--config.compensated=maybe: expected true or false']),
    (['--config.horizon=1e3'], ['--config.horizon=1e3: expected a whole number']),
    (['--config.max_iterations=1e3'], ['--config.max_iterations=1e3: expected a whole number']),
    (['--config.distributed=1'], ['--config.distributed=1: expected a block of fields']),
    (['--workdr=x'], ['workdir']),
    (['--flagfile=/nonexistent/flags'], ['error: Unable to open flagfile', '/nonexistent/']),
    # The state counts iterations in int32: a larger budget would wrap it.
    (['--config.max_iterations=3000000000', '--config.time_budget_minutes=0.01'],
     ['config.max_iterations must be at most 2,147,483,647', 'time_budget_minutes']),
    # PRNG keys take int64 seeds: a larger one was an OverflowError traceback
    # from inside JAX (sampled and neural solvers), also for instance k's seed + k.
    (['--config=leduc_mccfr', '--config.seed=9223372036854775808'],
     ['config.seed must be between', '(int64), got 9,223,372,036,854,775,808']),
    (['--config.seed=-9223372036854775809'], ['config.seed must be between']),
    # A PRNG key is made from 32 bits of the seed: 2**32 + 5 drew what 5 draws.
    (['--config=leduc_mccfr', '--config.num_instances=2', '--config.seed=4294967295'],
     ['config.seed + instances - 1 must be between 0 and 4,294,967,295', 'got 4,294,967,296']),
    # Instance 1's process said only 'instance 1: configuration error' (exit 2),
    # once instance 0 had run: every instance's config is checked first.
    (['--config=leduc_mccfr', '--config.sweep_field=batch_size', '--config.sweep_values=64,0'],
     ['instance 1 (batch_size=0): config.batch_size must be a positive whole number']),
    (['--config=holdem_river', '--config.sweep_field=holdem.pot', '--config.sweep_values=5,10'],
     ["sweeps a top-level field (algorithm, alpha, seed, ...), not one inside a block: got "
      "'holdem.pot'"]),
    # Ignored in silence before: the run solved the unabstracted subgame.
    (['--config=holdem_river', '--config.holdem.buckets.num_buckets=5'],
     ['num_buckets=5 needs config.holdem.buckets.method (ehs or hist)']),
    (['--config=holdem_river', '--config.holdem.buckets.method=iso',
      '--config.holdem.buckets.num_buckets=50'],
     ["num_buckets=50 is for methods ehs and hist: 'iso' buckets are the hands' suit classes"]),
    # "error: bad card list '10s 9s 8h 3d 2c'": which field, and what is a card?
    (['--config=holdem_river', '--config.holdem.board=10s 9s 8h 3d 2c'],
     ["board '10s 9s 8h 3d 2c'", 'expected two characters a card', 'a ten is T']),
    # numpy's "error: expected non-negative integer", once the run had started.
    (['--config=holdem_river', '--config.holdem.buckets.method=ehs',
      '--config.holdem.buckets.num_buckets=5', '--config.holdem.buckets.seed=-1'],
     ['bad bucket settings', 'seed must be >= 0, got -1']),
    # 'unknown game 'holdem'' for ' holdem' (the loader strips it, the run
    # compares it), and no spelling that works for 'Holdem'.
    (['--config=holdem_river', '--config.game= holdem'],
     ["config.game=' holdem': game names are lower case, without spaces; give "
      '--config.game=holdem']),
    (['--config.game=Leduc(ranks=4)'], ['give --config.game=leduc(ranks=4)']),
    # A traceback ('str' object has no attribute 'items'); instances of instances.
    (['--config.sweep_field=distributed', '--config.sweep_values=a,b'],
     ["config.sweep_field 'distributed' is a block of fields"]),
    (['--config.sweep_field=num_instances', '--config.sweep_values=2,3'],
     ["config.sweep_field 'num_instances' says how (or where) the instances run"]),
    # Swept, one directory given twice: two instances saved over each other's copies.
    (['--config.sweep_field=mirror_to', '--config.sweep_values=/tmp/m1,/tmp/m1'],
     ["config.sweep_field 'mirror_to' says how (or where) the instances run"]),
    # Each ran in silence: one unswept instance; one; two instances of three.
    (['--config.sweep_field=alpha', '--config.sweep_values=,'],
     ["config.sweep_field needs config.sweep_values (comma-separated), got ','"]),
    (['--config.sweep_field=alpha', '--config.sweep_values=1.5,,2'],  # ran 2 instances
     ["config.sweep_values='1.5,,2': value 2 is empty; give each value between commas"]),
    (['--config.sweep_values=cfr+,dcfr'],
     ["config.sweep_values='cfr+,dcfr' needs config.sweep_field"]),
    (['--config.sweep_field=seed', '--config.sweep_values=1,2', '--config.num_instances=3'],
     ['config.num_instances=3 and a sweep of 2 value(s): a sweep runs one instance per value']),
])
def test_flag_mistakes_are_one_line_and_exit_1(tmp_path, args, fragments):
  workdir = tmp_path / 'run'
  one_line_error(launch('train', f'--workdir={workdir}', *args), *fragments)
  assert not workdir.exists()  # nothing was run


def test_an_empty_workdir_is_a_mistake_not_the_default(tmp_path):
  """--workdir= (an unset shell variable, say) trained in runs/<config> before."""
  one_line_error(script('cfr-train', '--config=kuhn', '--workdir=', *KUHN_200, cwd=tmp_path),
                 '--workdir needs a value', 'runs/kuhn')
  assert not (tmp_path / 'runs').exists()


@pytest.mark.parametrize('workdir,fragment', [
    ('loop', 'loop is a symbolic link that loops (to loop)'),  # was 'File exists'
    ('loop/run', 'loop is a symbolic link that loops'),  # 'Too many levels of symbolic links'
    ('dangling', 'dangling is a symbolic link to nowhere/x, which does not exist'),
    ('a_file/run', 'a_file is a file, not a directory'),  # 'Not a directory'
])
def test_a_workdir_that_cannot_be_a_directory_is_named_in_one_line(tmp_path, workdir,
                                                                   fragment):
  os.symlink('loop', tmp_path / 'loop')
  os.symlink('nowhere/x', tmp_path / 'dangling')
  (tmp_path / 'a_file').write_text('')
  one_line_error(script('cfr-train', '--config=kuhn', f'--workdir={workdir}', *KUHN_200,
                        cwd=tmp_path), 'cannot write to workdir', fragment)
  one_line_error(script('cfr-query', workdir, '--node=b10', cwd=tmp_path), fragment,
                 'give the --workdir of a cfr-train run')
  one_line_error(script('cfr-export', workdir, '--out=p.json', cwd=tmp_path), fragment)
  assert sorted(os.listdir(tmp_path)) == ['a_file', 'dangling', 'loop']


@pytest.mark.parametrize('args,fragment', [
    (['--config.game=nosuchgame'], "unknown game 'nosuchgame'"),   # found building the game
    (['--config.game=leduc(ranks=0)'], 'at least 3 cards'),
    # An IndexError traceback, leaving the workdir with progress.json.
    (['--config.game=leduc(raise_sizes=2)'], 'raise_sizes are one per betting round'),
    (['--config.num_instances=2', '--config.game=nosuchgame'],     # by each instance process
     "instance 0: unknown game 'nosuchgame'"),
    (['--config.num_instances=2', '--config.instances_mode=vmap',
      '--config.game=nosuchgame'], "unknown game 'nosuchgame'"),
    (['--config.sweep_field=seed', '--config.sweep_values=1,x'], "sweep value 'x'"),
    # Read as the flag reads them: 'on' and 'off' were both False in silence,
    # and a placeholder(int) field took 1.5 (and 0 as 0.0, then refused).
    (['--config.sweep_field=alternating', '--config.sweep_values=on,off'],
     "sweep value 'on' does not fit config.alternating: expected true or false"),
    (['--config.sweep_field=subtrees', '--config.sweep_values=0,1.5'],
     "sweep value '1.5' does not fit config.subtrees: expected a whole number"),
    (['--config.instances_mode=vmap', '--config.sweep_field=game',
      '--config.sweep_values=kuhn,leduc'], 'cannot sweep config.game'),
    (['--config.mirror_to={dir}/mirror/a', '--config.game=nosuchgame'], 'unknown game'),
    (['--config.mirror_to={workdir}/checkpoints'], 'mirror_to must differ'),
    # OpenSpiel's C++ side printed its error and all ~130 game names (the line
    # the run then raised ended in "Available games are:"); this names the game
    # (or says open-spiel is not installed).
    (['--config.game=openspiel:kuhn_pokr'], 'openspiel:kuhn_pokr'),
])
def test_config_mistakes_found_late_leave_nothing_behind(tmp_path, args, fragment):
  """A mistake found only once the workdir was made and locked (the game is
  built there; instances find theirs in their own processes) left a workdir
  holding `.lock` (and instance directories with config.json and logs): the
  directories the command made are removed; a pre-existing workdir keeps its
  files and gains none."""
  new = tmp_path / 'new'
  workdir = new / 'run'
  one_line_error(launch('train', '--config=configs/kuhn.py', f'--workdir={workdir}',
                        *[a.format(dir=new, workdir=workdir) for a in args]), fragment)
  assert not new.exists(), sorted(str(p) for p in new.rglob('*'))
  mine = tmp_path / 'mine'
  mine.mkdir()
  (mine / 'notes.txt').write_text('keep')
  one_line_error(launch('train', '--config=configs/kuhn.py', f'--workdir={mine}',
                        *[a.format(dir=mine, workdir=mine) for a in args]), fragment)
  assert sorted(os.listdir(mine)) == ['notes.txt'] and (mine / 'notes.txt').read_text() == 'keep'


def test_a_workdir_of_runs_of_the_other_shape_is_refused(tmp_path):
  """Resuming a sweep without its sweep flags trained a new single run beside
  the instances in silence; a sweep in a single run's workdir put its
  instances inside that run. Refused by `training.run` (notebooks call it)
  before anything is written, and so by cfr-train."""
  config = leduc_config.get_config()
  sweep = tmp_path / 'sweep'
  (sweep / 'instance_0').mkdir(parents=True)
  with pytest.raises(training.ConfigError, match='holds 1 instance run.*to resume them, give '
                     'the same num_instances or sweep_field/sweep_values'):
    training.run(config, str(sweep))
  assert os.listdir(sweep) == ['instance_0'] and not os.listdir(sweep / 'instance_0')
  one_line_error(launch('train', '--config=configs/kuhn.py', f'--workdir={sweep}'),
                 'holds 1 instance run')
  assert os.listdir(sweep) == ['instance_0']
  single = tmp_path / 'single'
  single.mkdir()
  (single / 'progress.json').write_text('{}')
  training.check_run_shape(config, str(single))  # resumed
  config.num_instances = 2
  with pytest.raises(training.ConfigError, match='holds a single run: its instances would be '
                     'trained inside it'):
    training.run(config, str(single))
  assert os.listdir(single) == ['progress.json']
  training.check_run_shape(config, str(sweep))  # resumed
  training.check_run_shape(config, str(tmp_path / 'new'))
  training.check_run_shape(config, str(single / 'progress.json'))  # not a directory: no runs


def test_each_instance_mirrors_to_a_directory_of_its_own():
  """Instances shared config.mirror_to: each save of a step superseded the
  other instance's, and a lost instance was restored from another's."""
  from cfr_jax.training.config import _instance_configs  # pylint: disable=g-import-not-at-top
  config = leduc_config.get_config()
  config.num_instances, config.mirror_to = 2, '/backup/run'
  assert [c.mirror_to for c in _instance_configs(config)] == [
      '/backup/run/instance_0', '/backup/run/instance_1']
  config.num_instances, config.sweep_field, config.sweep_values = 1, 'mirror_to', '/a,/b'
  assert [c.mirror_to for c in _instance_configs(config)] == ['/a', '/b']  # as swept


def test_an_instance_starting_afresh_beside_checkpoints_is_said_by_the_parent(tmp_path, capsys):
  """Only the instance's log said 'STARTING FRESH': a sweep rerun with other
  values (or in another order) restarted every instance in silence."""
  from cfr_jax.training import instances  # pylint: disable=g-import-not-at-top
  say = lambda pid: instances._say_how_it_started(3, pid, str(tmp_path))  # pylint: disable=protected-access
  assert not say(7)  # no progress.json yet
  progress = {'pid': 6, 'restored_from': None, 'rejected': [{'path': 'a', 'reason': 'b'}]}
  (tmp_path / 'progress.json').write_text(json.dumps(progress))
  assert not say(7) and not capsys.readouterr().out  # an earlier run's
  (tmp_path / 'progress.json').write_text(json.dumps({**progress, 'pid': 7}))
  assert say(7)
  assert capsys.readouterr().out.startswith(
      'instance 3: STARTING FRESH: none of the 1 checkpoint(s) there could be restored')
  (tmp_path / 'progress.json').write_text(json.dumps({**progress, 'pid': 7, 'restored_from': {
      'path': 'c', 'iteration': 5}}))
  assert say(7) and not capsys.readouterr().out  # resumed: nothing to say


def test_a_lock_another_launcher_took_meanwhile_is_never_removed(tmp_path):
  """The cleanup after a late config mistake removes what the run added,
  locks included; but a lock that another live launcher took in the meantime
  (on an instance's folder, say) stays with its folder: removed, a third
  launcher could take that folder beside the one still running there."""
  from cfr_jax.training import loop  # pylint: disable=g-import-not-at-top
  config = train.load_config('kuhn')[0]
  for holder in (True, False):
    workdir = tmp_path / f'run_{holder}'
    workdir.mkdir()
    taken = workdir / 'instance_0'
    holding = None
    with pytest.raises(training.ConfigError, match='late mistake'):
      with loop._undo_on_config_error(config, str(workdir), []):  # pylint: disable=protected-access
        (workdir / 'config.json').write_text('{}')
        taken.mkdir()
        if holder:  # another launcher: a real process holding the instance's lock
          holding = subprocess.Popen(
              [sys.executable, '-c', 'import sys, time; from cfr_jax.training import lock; '
               f'lock.WorkdirLock({str(taken)!r}).acquire(); print("held", flush=True); '
               'time.sleep(60)'], stdout=subprocess.PIPE, text=True, env=ENV)
          assert holding.stdout.readline().strip() == 'held'
        else:  # a lock this run's own (ended) processes left
          (taken / '.lock').write_text('{}')
        raise training.ConfigError('late mistake')
    if holding is not None:
      holding.kill()
      holding.wait()
      # Nothing was removed: the other launcher's folder and lock are whole.
      assert sorted(os.listdir(workdir)) == ['config.json', 'instance_0']
      assert (taken / '.lock').exists()
    else:
      assert not os.listdir(workdir)


def test_more_instances_than_memory_holds_are_refused(tmp_path, monkeypatch):
  """num_instances=100000 started processes until the machine ground to a halt."""
  from cfr_jax import heap  # pylint: disable=g-import-not-at-top
  from cfr_jax.training import instances  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(heap, 'available_memory', lambda: 2**30)
  config, _ = train.load_config('kuhn')
  config.num_instances, config.max_iterations = 6, 10
  with pytest.raises(training.ConfigError,
                     match=r'config\.num_instances=6 would start 6 processes.*at most 5 here'):
    instances.run_instances(config, str(tmp_path))
  assert not os.listdir(tmp_path)  # no instance was started
  config.num_instances, config.sweep_field, config.sweep_values = 1, 'alpha', '1,2,3,4,5,6'
  with pytest.raises(training.ConfigError, match=r'config\.sweep_values \(6 values\)'):
    instances.run_instances(config, str(tmp_path))


@pytest.mark.parametrize('source,fragments', [
    ('raise RuntimeError("boom")\n', ['failed to load: RuntimeError: boom (line 1)']),
    ('import no_such_module_xyz\n', ['ModuleNotFoundError', 'no_such_module_xyz', 'line 1']),
    ('def get_config(:\n', ['failed to load: SyntaxError', '(line 1)']),
    ('x = 1\n', ['defines no get_config()']),
    ('def get_config():\n  return {"a": 1}\n', ['returned dict, not an ml_collections']),
    ('import ml_collections\n\ndef get_config():\n  c = ml_collections.ConfigDict()\n'
     '  c.x = 1 / 0\n  return c\n', ['ZeroDivisionError', '(line 5)']),
    # A field deleted, or a config built from scratch: an AttributeError
    # traceback ("'sweep_field'") from the check that read it first.
    ('from cfr_jax.configs import kuhn\n\ndef get_config():\n  c = kuhn.get_config()\n'
     '  del c.sweep_field\n  return c\n', ['its config has no config.sweep_field: start from']),
    ('import ml_collections\n\ndef get_config():\n  return ml_collections.ConfigDict('
     'dict(game="kuhn", algorithm="cfr+"))\n',
     ['has no config.alpha, ',
      f"(and {len(leduc_config.get_config()) - 2 - 5} more fields)",  # named: 5; given: 2
      'leduc.get_config()']),
    # Likewise a hold'em block's field: a traceback from the build, which
    # left the workdir made, holding progress.json.
    ('from cfr_jax.configs import holdem_river\n\ndef get_config():\n'
     '  c = holdem_river.get_config()\n  del c.holdem["range1"]\n  return c\n',
     ['its config has no config.holdem.range1: start from a shipped hold\'em config',
      'holdem_river.get_config()']),
])
def test_broken_config_files_are_one_line_and_exit_1(tmp_path, source, fragments):
  path = _write(tmp_path / 'my_config.py', source)
  line = one_line_error(launch('train', f'--config={path}', f'--workdir={tmp_path / "run"}'),
                        path, *fragments)
  assert 'Traceback' not in line
  assert not (tmp_path / 'run').exists()


def test_a_configs_fields_that_nothing_reads_are_said(tmp_path, capsys):
  """A misspelt field in a config file or a notebook's config
  (`c.max_iteration = 100`) left the run on the default (here 200) in silence."""
  path = _write(tmp_path / 'my_config.py', (
      'from cfr_jax.configs import kuhn\n\ndef get_config():\n  c = kuhn.get_config()\n'
      '  c.max_iteration = 100\n  c.my_notes = "a test"\n'
      '  c.batch_size, c.weighting = 1024, "linear"\n  return c\n'))
  # A setting the algorithm (cfr+) does not read, set by a flag: noted (it ran
  # in silence); at a shipped value and not set by a flag (weighting): not.
  proc = launch('train', f'--config={path}', f'--workdir={tmp_path / "run"}', *KUHN_200,
                '--config.batch_size=4096')
  assert proc.returncode == training.EXIT_COMPLETE, proc.stderr
  notes = [l for l in proc.stderr.splitlines() if l.startswith('note: ')]
  assert notes == [
      'note: config.batch_size=4096 is read by es-mccfr, os-mccfr and deep-cfr, not by cfr+: '
      'ignored',
      'note: config.max_iteration is no field cfr-train reads: did you mean '
      'config.max_iterations?',
      'note: config.my_notes is no field cfr-train reads'], proc.stderr
  with open(tmp_path / 'run' / 'progress.json') as f:  # the run goes on, as configured
    assert json.load(f)['iteration'] == 200
  river, _ = train.load_config('holdem_river')  # inside a block too, and in Python
  river.holdem.bet_size = 0.5
  river.max_iterations, river.chunk_iterations, river.eval_every = 2, 2, 2
  assert training.run(river, str(tmp_path / 'river')) == training.EXIT_COMPLETE
  assert ('note: config.holdem.bet_size is no field cfr-train reads: did you mean '
          'config.holdem.bet_sizes?\n') in capsys.readouterr().err
  # The shipped configs set only fields that are read.
  assert not [n for n in configs.names()
              if config_lib.unread_fields(train.load_config(n)[0])]


def test_solver_settings_are_read_per_algorithm_and_said_where_not(tmp_path):
  """"Fields cfr-train reads" were the shipped configs' fields: os-mccfr's
  exploration (used: 1.5 refused, 0.3 saved) was called unread, and no
  --config.exploration could be given; settings of another solver kind
  (batch_size with dcfr, learning_rate with cfr+) were ignored in silence;
  and a flag a config lacks pointed to a config of another solver kind."""
  def notes(name, given=(), **values):
    config, _ = train.load_config(name)
    config.update(values)
    return config_lib.unread_fields(config, given)

  assert notes('leduc_mccfr', algorithm='os-mccfr', exploration=0.3) == []
  assert notes('leduc', algorithm='os-mccfr', exploration=0.3) == []  # (a notebook's)
  assert notes('leduc_mccfr', algorithm='dcfr') == []  # shipped values, set by no flag
  assert notes('leduc_mccfr', ['weighting'], algorithm='dcfr', batch_size=4096,
               weighting='discounted') == [
      'config.batch_size=4096 is read by es-mccfr, os-mccfr and deep-cfr, not by dcfr: ignored',
      'config.weighting=discounted is read by es-mccfr and os-mccfr, not by dcfr: ignored']
  assert notes('kuhn_deep_cfr', algorithm='cfr+', learning_rate=5.0) == [
      'config.learning_rate=5.0 is read by deep-cfr, not by cfr+: ignored']
  assert notes('leduc_mccfr', ['exploration'], exploration=0.3) == [  # es-mccfr: os- reads it
      'config.exploration=0.3 is read by os-mccfr, not by es-mccfr: ignored']

  def refused(name, *argv):
    config, file = train.load_config(name)
    with pytest.raises(training.ConfigError) as e:
      train.check_overrides(config, list(argv), file)
    return str(e.value)

  config, file = train.load_config('leduc_mccfr')  # accepted
  train.check_overrides(config, ['--config.algorithm=os-mccfr', '--config.exploration=0.3'],
                        file)
  assert refused('leduc', '--config.algorithm=es-mccfr', '--config.batch_size=64').endswith(
      'it is a field of the leduc_mccfr config(s): --config=leduc_mccfr')  # not kuhn_deep_cfr
  assert refused('leduc', '--config.algorithm=os-mccfr', '--config.exploration=0.3').endswith(
      '--config=leduc_mccfr')  # not "did you mean --config.extra_locations?"
  assert refused('leduc_mccfr', '--config.algorithm=os-mccfr', '--config.epsilon=0.3') == (
      'unknown config field --config.epsilon in leduc_mccfr: config.epsilon is read by '
      "deep-cfr on env: games, not by os-mccfr; os-mccfr's exploration is config.exploration")
  assert refused('leduc', '--config.learning_rate=5').endswith(  # (another kind's)
      'config.learning_rate is read by deep-cfr, not by dcfr (a field of the kuhn_deep_cfr, '
      'leduc_deep_cfr, liars_dice_2x2_deep_cfr, liars_dice_deep_cfr config(s))')
  # A config.json keeps it: a resumed or read run has the value it trained with.
  workdir = tmp_path / 'os'
  proc = launch('train', '--config=leduc_mccfr', f'--workdir={workdir}',
                '--config.algorithm=os-mccfr', '--config.exploration=0.3',
                '--config.max_iterations=2', '--config.chunk_iterations=2',
                '--config.eval_every=2', '--config.batch_size=8')
  assert proc.returncode == training.EXIT_COMPLETE and 'note:' not in proc.stderr, proc.stderr
  assert json.loads((workdir / 'config.json').read_text())['exploration'] == 0.3


def test_bet_sizes_that_look_like_percentages_without_percent_are_noted():
  """--config.holdem.bet_sizes=50,100 was 5000% and 10000% of the pot (all-in
  only, in effect) in silence: only the betting: line showed it."""
  def notes(bets, raises='0.5,1'):
    config, _ = train.load_config('holdem_river')
    config.holdem.bet_sizes, config.holdem.raise_sizes = bets, raises
    return config_lib.unread_fields(config)

  assert notes('50,100') == [
      "config.holdem.bet_sizes='50,100' holds sizes of 10 or more, 1000% of the pot or more "
      '(all-in, in effect): fractions of the pot are 0.5 or 50%; did you mean 50%,100%?']
  assert notes('0.5,1', '0.75;33,2') == [
      "config.holdem.raise_sizes='0.75;33,2' holds sizes of 10 or more, 1000% of the pot or "
      'more (all-in, in effect): fractions of the pot are 0.5 or 50%; did you mean 0.75;33%,2?']
  assert notes('50%,100%') == notes('0.33,0.75;2') == notes('1000%') == []  # as meant
  # A size left out between commas was read as the others alone ('0.5,1').
  for sizes in ('0.5,,1', '0.5,1,'):
    config, _ = train.load_config('holdem_river')
    config.holdem.bet_sizes = sizes
    with pytest.raises(training.ConfigError, match=re.escape(
        f'config.holdem.bet_sizes must be fractions of the pot (0.33 or 33%) separated by '
        f'commas (";" between streets; all-in is always available), got {sizes!r}')):
      config_lib._load_game(config)  # pylint: disable=protected-access


def test_sweep_values_of_a_field_of_several_values(tmp_path):
  """Sweeping hidden made each value's characters its widths ('64' was
  ('6', '4')), and '8;8,16' said "got '8,;,8'": ';' separates the values of
  a field of several values, commas their parts."""
  config, _ = train.load_config('kuhn_deep_cfr')
  config.sweep_field, config.sweep_values = 'hidden', '8;8,16'
  config_lib.validate(config)
  assert [tuple(c.hidden) for c in config_lib._instance_configs(config)] == [(8,), (8, 16)]  # pylint: disable=protected-access
  config.sweep_values = '8,16'  # one width each
  assert [tuple(c.hidden) for c in config_lib._instance_configs(config)] == [(8,), (16,)]  # pylint: disable=protected-access
  config.sweep_values = '8;x'
  with pytest.raises(training.ConfigError, match="sweep value 'x' does not fit config.hidden: "
                     ".*separate the values with ';' and each value's parts with commas"):
    config_lib._instance_configs(config)  # pylint: disable=protected-access
  config.sweep_field, config.sweep_values = 'seed', '1;2'
  with pytest.raises(training.ConfigError, match="sweep values are separated by commas; ';' "
                     'separates them only for a field of several values'):
    config_lib.validate(config)


@pytest.mark.parametrize('field,value,fragment', [
    # "error: float() argument must be a string or a real number, not 'NoneType'"
    ('pot', 'None', 'config.holdem.pot must be a number, got None'),
    ('stack', '"50"', "config.holdem.stack must be a number, got '50'"),
    ('rake_rate', 'None', 'config.holdem.rake_rate must be a number, got None'),
])
def test_holdem_config_files_name_a_field_of_the_wrong_kind(tmp_path, field, value, fragment):
  """A config file's hold'em field set to what is no number (the types a
  flag override checks, a config file may drop: `c.holdem = ConfigDict(...)`)
  named no field; rake_cap=None is no cap, as SubgameSpec's None."""
  path = _write(tmp_path / 'my_config.py', (
      'import ml_collections\nfrom cfr_jax.configs import holdem_river\n\n'
      'def get_config():\n  c = holdem_river.get_config()\n'
      '  c.holdem = ml_collections.ConfigDict({**c.holdem.to_dict(), '
      f'{field!r}: {value}, "rake_cap": None}})\n  return c\n'))
  one_line_error(launch('train', f'--config={path}', f'--workdir={tmp_path / "run"}'), fragment)
  assert not (tmp_path / 'run').exists()


def test_a_holdem_config_files_rake_cap_none_is_no_cap():
  """(as SubgameSpec's None, the README's Python spelling; 0 on the command
  line): "float() argument must be ... not 'NoneType'"."""
  from cfr_jax.configs import holdem_river  # pylint: disable=g-import-not-at-top
  config = holdem_river.get_config()
  config.holdem = ml_collections.ConfigDict({**config.holdem.to_dict(), 'rake_rate': 0.05,
                                             'rake_cap': None, 'range0': 'AA', 'range1': 'KK'})
  training.validate(config)
  assert training._load_game(config).info.spec["rake_cap"] is None


def test_a_config_file_not_named_py_is_read_as_python(tmp_path):
  """--config=notes.txt (or a config file without an extension) said
  "AttributeError: 'NoneType' object has no attribute 'loader'"."""
  text = tmp_path / 'notes.txt'
  text.write_text('hello world\n')
  one_line_error(launch('train', f'--config={text}', f'--workdir={tmp_path / "run"}'),
                 str(text), 'SyntaxError', '(line 1)')
  assert not (tmp_path / 'run').exists()
  plain = tmp_path / 'kuhn_config'
  shutil.copy(configs.path('kuhn'), plain)
  assert train.load_config(str(plain))[0].game == 'kuhn'


def test_holdem_sizes_in_percent_are_fractions_of_the_pot():
  """'33%' (Desktop Postflop's way to write a third of the pot) was refused;
  it is 0.33, the same game; '2x' (a multiple of the bet) is still refused."""
  def solver(bet_sizes, raise_sizes):
    config, _ = train.load_config('holdem_river')
    config.holdem.update(bet_sizes=bet_sizes, raise_sizes=raise_sizes,
                         range0='AA,KK', range1='QQ,JJ')
    config.compilation_cache = 'none'
    return training.build_solver(config)
  percent = solver('50%,75%', '60 %').describe()
  assert percent == solver('0.5,0.75', '0.6').describe()
  assert percent != solver('0.5,0.8', '0.6').describe()
  with pytest.raises(training.ConfigError,
                     match=r"raise_sizes must be fractions of the pot \(0.33 or 33%\).*'2x'"):
    solver('0.5', '2x')


def test_a_config_without_a_field_is_a_config_error_from_the_api():
  """training.run / validate from a notebook: the same one line, not AttributeError."""
  config, _ = train.load_config('kuhn')
  del config['dtype']
  with pytest.raises(training.ConfigError, match=r'the config has no config\.dtype: start'):
    training.validate(config)


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
  # An upper-case extension: np.savez's rule wrote 'policy.NPZ.npz' (and the
  # line named 'policy.NPZ', a file that was not there).
  proc = launch('export', str(kuhn_run), f'--out={tmp_path / "policy.NPZ"}')
  assert proc.returncode == 0, proc.stderr
  assert f'wrote {tmp_path / "policy.NPZ"}:' in proc.stdout
  assert not (tmp_path / 'policy.NPZ.npz').exists()
  loaded = policy_lib.TabularPolicy.load_npz(tmp_path / 'policy.NPZ')
  assert loaded == {k: expected.action_probabilities(k) for k in expected.keys}


def test_export_mistakes_are_one_line_and_exit_1(kuhn_run, tmp_path):
  one_line_error(launch('export', str(tmp_path), '--out=p.json'), 'config.json')
  one_line_error(launch('export', str(tmp_path / 'missing'), '--out=p.json'), 'does not exist')
  one_line_error(launch('export', str(kuhn_run), '--out=p.txt'), '.npz or .json')
  one_line_error(launch('export', str(kuhn_run), f'--out={tmp_path}/no/dir/p.json'),
                 'cannot write')
  one_line_error(launch('export', '--out=p.json'), 'give one run directory')
  # The export was written over the run's progress (or config: its
  # checkpoints then read by another game's config).
  before = {n: (kuhn_run / n).read_bytes() for n in ('config.json', 'progress.json')}
  one_line_error(launch('export', str(kuhn_run), f'--out={kuhn_run}/progress.json'),
                 "would write over the run's own progress.json")
  one_line_error(launch('export', str(kuhn_run), f'--out={kuhn_run}/x/../config.json'),
                 "would write over the run's own config.json")
  one_line_error(launch('export', str(kuhn_run), f'--out={kuhn_run}/checkpoints/p.npz'),
                 "would write into the run's own checkpoints")
  assert before == {n: (kuhn_run / n).read_bytes() for n in before}
  # Another run's files too: its config.json was written over in silence.
  other = tmp_path / 'other'
  shutil.copytree(kuhn_run, other)
  one_line_error(launch('export', str(kuhn_run), f'--out={other}/config.json'),
                 f'would write over config.json of the run in {other}')
  assert (other / 'config.json').read_bytes() == before['config.json']
  (tmp_path / 'sweep' / 'instance_0').mkdir(parents=True)
  one_line_error(launch('export', str(tmp_path / 'sweep')), 'instance_0')
  assert not (tmp_path / 'p.json').exists()


def test_query_and_export_name_an_empty_or_file_workdir(kuhn_run, tmp_path):
  (tmp_path / 'a_file').write_text('')
  one_line_error(launch('export', '', f'--out={tmp_path}/p.json'), 'give one run directory')
  one_line_error(launch('export', str(tmp_path / 'a_file'), f'--out={tmp_path}/p.json'),
                 'a_file is a file')
  one_line_error(launch('query', '', '--node=b10'), 'give one run directory')
  one_line_error(launch('query', str(kuhn_run), '--node=b10'), 'is a kuhn run')
  assert not (tmp_path / 'p.json').exists()
  # Every reader (cfr-query said: no readable config.json, 'is it the --workdir
  # of a cfr-train run?') names an instance of a sweep's or num_instances' workdir.
  for k in (2, 10):
    (tmp_path / 'sweep' / f'instance_{k}').mkdir(parents=True)
  with pytest.raises(training.ConfigError, match=re.escape(
      f'holds 2 instance run(s) (num_instances or a sweep): give one of them, e.g. '
      f'{tmp_path / "sweep" / "instance_2"}')):
    training.load_run(str(tmp_path / 'sweep'))
  # A directory or file of a run (said: no readable config.json, 'is it the
  # --workdir of a cfr-train run?'): the run is named.
  for inside in ('checkpoints', 'checkpoints/100/x'):
    with pytest.raises(training.ConfigError, match=re.escape(
        f'{inside} is in the checkpoints of the run in {kuhn_run}: that is its workdir; '
        f'give {kuhn_run}')):  # (it said "a new run needs a directory of its own")
      training.load_run(str(kuhn_run / inside))
  # A run still starting (progress.json 'starting', no config.json yet) said
  # "holds no readable config.json (FileNotFoundError): is it the --workdir of a
  # cfr-train run?".
  starting = tmp_path / 'starting'
  starting.mkdir()
  for pid, said in ((os.getpid(), 'is a run still starting (building, compiling or restoring): '
                     'nothing is saved yet; try again after its first checkpoint'),
                    (2**22 + 7, 'is a run that was stopped while starting')):
    (starting / 'progress.json').write_text(json.dumps({'status': 'starting', 'pid': pid}))
    with pytest.raises(training.ConfigError, match=re.escape(f'{starting} {said}')):
      training.load_run(str(starting))
  # Its checkpoints a file: "no usable checkpoint ...: none saved yet".
  filed = tmp_path / 'filed'
  shutil.copytree(kuhn_run, filed, ignore=shutil.ignore_patterns('checkpoints'))
  (filed / 'checkpoints').write_text('')
  with pytest.raises(training.ConfigError, match=re.escape(
      f'{filed / "checkpoints"} is not a directory, where the run keeps its checkpoints')):
    training.load_run(str(filed))
  # Nor is a run trained there (the run's retention deletes a step with all it holds).
  with pytest.raises(training.ConfigError, match='a new run needs a directory of its own'):
    training.run(leduc_config.get_config(), str(kuhn_run / 'checkpoints' / '100' / 'x'))
  with pytest.raises(training.ConfigError, match=re.escape(
      f'{kuhn_run / "metrics"} does not exist: give the --workdir of a cfr-train run '
      f'({kuhn_run}, the run holding it?)')):
    training.load_run(str(kuhn_run / 'metrics'))
  with pytest.raises(training.ConfigError, match=re.escape(
      f'progress.json is a file, not a directory: give the --workdir of a cfr-train run '
      f'({kuhn_run}, the run holding it?)')):
    training.load_run(str(kuhn_run / 'progress.json'))


@pytest.mark.parametrize('edit,fragments', [
    (lambda c: [c], ['holds no readable config.json (ValueError)']),
    (lambda c: {k: v for k, v in c.items() if k != 'dtype'},
     ["config.json has no field 'dtype'", 'rerun cfr-train']),
    (lambda c: {**c, 'mirror_to': ['a']}, ['config.json has a field of the wrong type']),
])
def test_a_config_json_cfr_train_did_not_write_is_one_line(kuhn_run, tmp_path, edit, fragments):
  """A config.json edited by hand or cut to '{}': cfr-export and cfr-query
  printed an AttributeError (or TypeError) traceback from the solver's construction."""
  workdir = tmp_path / 'run'
  shutil.copytree(kuhn_run, workdir)
  config = json.loads((workdir / 'config.json').read_text())
  (workdir / 'config.json').write_text(json.dumps(edit(config)))
  one_line_error(launch('export', str(workdir), f'--out={tmp_path / "p.json"}'), *fragments)
  assert not (tmp_path / 'p.json').exists()


def test_export_of_a_run_without_a_usable_checkpoint_is_one_line(kuhn_run, tmp_path):
  """Each rejected candidate was also a warning line before the error (the
  last saying 'starting fresh', which a reader never does): the error names
  them all. A run that loads from an older checkpoint still says what it passed over."""
  workdir = tmp_path / 'run'
  (workdir / 'checkpoints' / '300').mkdir(parents=True)
  (workdir / 'checkpoints' / '7').write_text('')
  shutil.copy(kuhn_run / 'config.json', workdir)
  one_line_error(launch('export', str(workdir), f'--out={tmp_path / "p.json"}'),
                 'no usable checkpoint of this run', '300: empty directory', '7: not a directory')
  for step in (100, 200):
    shutil.copytree(kuhn_run / 'checkpoints' / str(step), workdir / 'checkpoints' / str(step))
  proc = launch('export', str(workdir), f'--out={tmp_path / "p.json"}')
  assert proc.returncode == 0 and 'iteration 200' in proc.stdout, proc.stderr
  assert 'checkpoints/300: empty directory' in proc.stderr and 'starting fresh' not in proc.stderr


def test_a_run_of_another_game_is_not_told_its_layout_is_another_versions():
  """cfr-train --config=kuhn in a hold'em run's workdir printed, among the
  reasons its checkpoint was skipped, 'it has state layout 6 of hold'em
  subgames, this version of cfr_jax uses layout 1 ...: finish it with the
  cfr_jax version that wrote it'; the game is what differs."""
  import types  # pylint: disable=g-import-not-at-top
  from cfr_jax.training import resume  # pylint: disable=g-import-not-at-top
  holdem = {'game': {'game': 'holdem', 'pot': 10.0}, 'algorithm': 'dcfr', 'layout': 6}
  kuhn = {'game': {'game': 'kuhn'}, 'algorithm': 'cfr+'}
  reasons = lambda saved, now: resume._foreign_reasons(  # pylint: disable=protected-access
      types.SimpleNamespace(status='foreign', metadata={'describe': saved}),
      types.SimpleNamespace(describe=lambda: now))
  got = reasons(holdem, kuhn)
  assert "game.game was 'holdem', here 'kuhn'" in got and not any('layout' in r for r in got)
  older = {**holdem, 'layout': 5}
  assert any('state layout 5' in r and 'does not migrate' in r for r in reasons(older, holdem))


@pytest.mark.parametrize('typed,line', [
    ('B10', 'b10'), ('kB10C/7H/', 'kb10c/7h/'), ('KK/7h', 'kk/7h/'), (' k k ', 'kk'),
    ('', '-'), ('b10.0', 'b10'), ('b7.50c/ah/B.5', 'b7.5c/Ah/b0.5'), ('Kb1E+06', 'kb1e+06'),
    ('kk/zz', 'kk/zz/'),  # not a card: left for the lookup to name ('bad card')
    ('kk/', 'kk/'), ('xyz', 'xyz'), ('kk/10D/b10', 'kk/Td/b10'),
])
def test_betting_lines_are_read_in_the_trees_spelling(typed, line):
  from cfr_jax.holdem import lines  # pylint: disable=g-import-not-at-top
  assert lines.canonical_line(typed) == line


def test_query_reads_a_line_whatever_its_case(monkeypatch, capsys):
  """cfr-query --node=B10 (or kb10c/7H/) said 'no decision node at betting
  line 'B10'; after '-' the actions are k, b10, ...'. The run is a small turn
  subgame whose report is stubbed: the lines the tree is asked for are checked."""
  import types  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from cfr_jax.cli import query  # pylint: disable=g-import-not-at-top
  from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
  game = subgame.compile_subgame(subgame.SubgameSpec(
      board='Ks 9s 8h 3d', pot=10, stack=30, ranges=('AA,KK', 'QQ'), bet_sizes=(1.0,),
      raise_sizes=(), max_raises=0))
  asked = []

  def node_report(state, line):
    del state
    subgame.locate(game, line)
    asked.append(line)
    return subgame.NodeReport(history=line, player=0, actions=['k'], hands=[],
                              reach=np.zeros(0), probs=np.zeros((0, 1)), ev=np.zeros(0),
                              frequencies=np.ones(1), node_ev=0.0)

  solver = types.SimpleNamespace(game=game, node_report=node_report)
  monkeypatch.setattr(training, 'load_run',
                      lambda *a, **k: (solver, types.SimpleNamespace(iteration=1)))
  assert query._main(['cfr-query', 'run'], ['B10', 'KK/7H/b10'], True,  # pylint: disable=protected-access
                     lines=iter(['K\n', 'kk/7h\n', 'Q\n', 'k\n'])) == 0
  assert asked == ['b10', 'kk/7h/b10', 'k', 'kk/7h/'], capsys.readouterr().err
  # Several lines in one --node (or typed line), separated by commas: 'b10,k' was one line.
  del asked[:]
  assert query._main(['cfr-query', 'run'], ['b10, K'], True, lines=iter(['kk/7h,-'])) == 0  # pylint: disable=protected-access
  assert asked == ['b10', 'k', 'kk/7h/', '-'], capsys.readouterr().err
  assert query._main(['cfr-query', 'run'], ['B7'], True) == 1  # pylint: disable=protected-access
  assert "betting line 'b7'; after '-' the actions are k, b10, a" in capsys.readouterr().err


@pytest.mark.parametrize('name,args,fragments', [
    ('query', ['--nod=b10'], ["Unknown command line flag 'nod'", 'node']),
    ('query', ['--summary=maybe'], ['--summary=maybe']),
    ('export', ['--ot=p.json'], ["Unknown command line flag 'ot'"]),
    ('status', ['--foo'], ["Unknown command line flag 'foo'"]),
    ('plot', ['--out'], ['--out']),
])
def test_flag_mistakes_of_the_other_scripts_are_one_line(kuhn_run, name, args, fragments):
  """absl printed 'FATAL Flags parsing error: ...' and a second line."""
  one_line_error(launch(name, str(kuhn_run), *args), *fragments)


@pytest.mark.parametrize('name, module, own', [
    ('cfr-query', 'query', ['--node', '--summary', '--stdin']),
    ('cfr-export', 'export', ['--out: File to write: .npz or .json. (default: policy.npz)']),
    ('cfr-status', 'status', []),
    ('cfr-plot', 'plot', ['--out']),
])
def test_help_prints_the_flags_and_exits_0(tmp_path, name, module, own):
  """absl's --help exits 1 (an error to a shell script), and for the console
  scripts it printed only "Try --helpfull to get a list of all flags": their
  flags are not in the __main__ module. It now prints what the program does
  (its module's docstring) and its own flags with their defaults."""
  doc = importlib.import_module(f'cfr_jax.cli.{module}').__doc__.strip().splitlines()[0]
  for flag in ('--help', '-h', '--helpshort'):
    proc = script(name, flag, cwd=tmp_path)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    assert proc.stdout.startswith(doc) and f'{name} flags:' in proc.stdout, proc.stdout
    assert all(f'  {o}' in proc.stdout for o in own), proc.stdout
    assert 'Try --helpfull' not in proc.stdout
  proc = script(name, '--helpfull', cwd=tmp_path)  # absl's: every flag, exit 0
  assert proc.returncode == 0 and '--flagfile' in proc.stdout


def test_the_quick_solve_module_says_its_mistakes_in_one_line(tmp_path):
  """`python -m cfr_jax`: absl's two lines for a bad value, 19 of usage for a stray word."""
  run = lambda *args: subprocess.run([sys.executable, '-m', 'cfr_jax', *args], cwd=tmp_path,
                                     env=ENV, capture_output=True, text=True, timeout=180)
  one_line_error(run('--iterations=abc'), '--iterations=abc')
  one_line_error(run('stray'), 'unexpected arguments: stray')
  proc = run('--help')
  assert proc.returncode == 0 and 'python -m cfr_jax flags:' in proc.stdout
  assert '  --iterations: Total iterations. (default: 5000)' in proc.stdout, proc.stdout
  proc = run('--game=kuhn', '--iterations=100', '--reports=1')
  assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1].split()[0] == '100'
  # More than the int32 counter holds ran for hours before run() refused.
  one_line_error(run('--iterations=3000000000'), 'not an integer in the range [1, 2147483647]')
  # Deep CFR's state has no regrets to wait on: an AttributeError after its first chunk.
  proc = run('--game=kuhn', '--algorithm=deep-cfr', '--iterations=1', '--reports=1')
  assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr


def test_the_instance_entry_taken_for_the_trainer_is_one_line(tmp_path):
  """`python -m cfr_jax.training --config=kuhn` (cfr-train's instance process,
  taken for the trainer) was a FileNotFoundError traceback."""
  proc = subprocess.run([sys.executable, '-m', 'cfr_jax.training', '--config=kuhn'],
                        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=180)
  one_line_error(proc, 'is the process cfr-train starts for each instance (--config=kuhn',
                 'to train, run cfr-train')
  assert not os.listdir(tmp_path)


@pytest.mark.parametrize('spec,fragment', [
    ('Kuhn', 'game names are lower case, e.g. "kuhn"'),
    ('LEDUC(ranks=4)', 'e.g. "leduc(ranks=4)"'),
    # 'unknown game', as if cfr_jax had none: python -m cfr_jax --game=holdem.
    ('holdem', "hold'em subgames are built from a board, ranges and bet sizes, not a name: "
               'cfr-train --config=holdem_river'),
])
def test_game_names_the_loader_cannot_take_say_what_it_can(spec, fragment):
  import cfr_jax  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=re.escape(fragment)):
    cfr_jax.load_game(spec)


def test_the_printed_export_command_runs_as_pasted_for_a_workdir_with_spaces(tmp_path):
  """The end message's 'cfr-export <workdir> --out=...' split a workdir with
  spaces into several arguments when pasted into a shell."""
  workdir = tmp_path / 'my runs' / 'kuhn ü'
  proc = launch('train', '--config=kuhn', f'--workdir={workdir}', *KUHN_200)
  assert proc.returncode == training.EXIT_COMPLETE, proc.stderr
  (line,) = [l for l in proc.stdout.splitlines() if 'cfr-export' in l]
  command = shlex.split(line.split('strategy:')[1].split('(or .json')[0])
  assert command[:2] == ['cfr-export', str(workdir)], line
  proc = script('cfr-export', *command[1:], cwd=tmp_path)
  assert proc.returncode == 0 and (tmp_path / 'policy.npz').exists(), proc.stderr


def test_status_runs_from_another_directory(kuhn_run, tmp_path):
  proc = script('cfr-status', str(kuhn_run), cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert 'completed' in proc.stdout and '200/200' in proc.stdout
  # It reads JSON files: it starts without loading JAX or numpy (~1.5 s a
  # call, what a watch loop over many runs paid every time).
  code = ('import sys; sys.argv[1:] = [sys.argv[-1]]; from cfr_jax.cli import status; '
          'code = status._main(sys.argv); heavy = {"jax", "numpy"} & set(sys.modules); '
          'assert not heavy, heavy; sys.exit(code)')
  proc = subprocess.run([sys.executable, '-c', code, str(kuhn_run)], cwd=tmp_path, env=ENV,
                        capture_output=True, text=True, timeout=180)
  assert proc.returncode == 0 and '200/200' in proc.stdout, proc.stderr


def test_status_and_plot_say_which_paths_hold_no_run(kuhn_run, tmp_path):
  """A mistyped path among several is named on stderr, not left out of the
  table in silence; a file that is not JSON is a row saying so."""
  junk = tmp_path / 'junk.txt'
  junk.write_text('not json')
  config = kuhn_run / 'config.json'  # JSON, but no progress: a row '?', '0/200' before
  (tmp_path / 'empty').mkdir()
  proc = launch('status', str(kuhn_run), str(tmp_path / 'typo'), str(junk), str(config),
                str(tmp_path / 'empty'))
  assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr
  assert f'note: {tmp_path / "typo"} does not exist' in proc.stderr  # (no progress.json under)
  assert 'note: no progress.json under ' + str(tmp_path / 'empty') in proc.stderr
  assert '200/200' in proc.stdout and f'{junk}  unreadable' in proc.stdout
  assert re.search(rf'{config} +unreadable \(no status or iteration: not a progress.json\)',
                   proc.stdout), proc.stdout
  pytest.importorskip('matplotlib')
  proc = launch('plot', str(kuhn_run), str(tmp_path / 'typo'), str(tmp_path / 'empty'),
                f'--out={tmp_path / "e.svg"}')
  assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr
  assert f'note: {tmp_path / "typo"} does not exist' in proc.stderr
  assert 'note: no metrics.jsonl under ' + str(tmp_path / 'empty') in proc.stderr
  assert (tmp_path / 'e.svg').read_text().lstrip().startswith('<?xml')
  # A format matplotlib cannot write: refused before any run is read.
  one_line_error(launch('plot', str(kuhn_run), f'--out={tmp_path / "e.txt"}'),
                 'cannot write .txt files', '.png')
  assert not (tmp_path / 'e.txt').exists()
  # No file name, or a directory: refused (matplotlib wrote '.png' or '<dir>.png').
  for out in ('', str(tmp_path)):
    one_line_error(script('cfr-plot', str(kuhn_run), f'--out={out}', cwd=tmp_path),
                   'give an image file to write')
  assert not (tmp_path / '.png').exists() and not os.path.exists(f'{tmp_path}.png')
  # No extension: matplotlib's default format, and the line names the file written.
  proc = script('cfr-plot', str(kuhn_run), '--out=curve', cwd=tmp_path)
  assert proc.returncode == 0 and 'wrote curve.png' in proc.stdout, proc.stderr
  # Nothing found: one line (the note repeated what the error says); nothing
  # there at all: it says so (was "no progress.json under", and exit 0 for cfr-plot).
  one_line_error(launch('plot', str(tmp_path / 'empty')), 'no exploitability metrics under')
  one_line_error(launch('plot', str(tmp_path / 'typo')), f'{tmp_path / "typo"} does not exist')
  one_line_error(launch('status', str(tmp_path / 'typo'), str(tmp_path / 'typo2')),
                 f'{tmp_path / "typo"} does not exist; {tmp_path / "typo2"} does not exist')


@pytest.mark.parametrize('out,fragment', [
    ('x.png.', "ends in '.'; give it without, e.g. --out=x.png"),
    ('x.', "ends in '.'; give it without, e.g. --out=x.png"),
    ('x.png ', "--out='x.png ': a name in it begins or ends with a space; without: 'x.png'"),
    ('...', "ends in '...'"),
    ('.png', '.png is an extension without a file name; e.g. --out=exploitability.png'),
    ('sub/.PNG', 'e.g. --out=sub/exploitability.PNG'),
    ('', 'give an image file to write'),
    ('no/such/dir/x.png', 'cannot write there: no/such/dir does not exist'),
])
def test_out_names_that_cannot_be_what_was_meant_are_refused(tmp_path, monkeypatch, out,
                                                            fragment):
  """cfr-plot --out=x.png. wrote 'x.png..png' (matplotlib appends its default
  format to a name without an extension) and --out=.png wrote '.png.png'."""
  from cfr_jax import cli  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  (tmp_path / 'sub').mkdir()
  with pytest.raises(ValueError, match=re.escape(fragment)) as e:
    cli.out_extension(out, ('png', 'svg'), 'exploitability.png', 'an image file')
  assert str(e.value).startswith((f'--out={out}:', f'--out={out!r}:'))
  assert cli.out_extension('sub/x.PNG', ('png',), 'e.png') == 'png'
  assert cli.out_extension('curve', ('png',), 'e.png') == ''  # the tool's default format


def test_paths_with_a_control_character_or_a_stray_space_are_refused(tmp_path, monkeypatch):
  """A script saved with Windows line endings passed --workdir=runs/a\\r: a
  new run in a new directory, which the next, fixed command never resumed
  from (and --out=p.json\\r said 'the file name must end in .npz or .json')."""
  from cfr_jax import cli  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  assert cli.path_typo('runs/a\r') == ("'runs/a\\r' holds the control character '\\r' "
                                        '(a script saved with Windows line endings?)')
  assert cli.path_typo('runs/a /b') == ("'runs/a /b': a name in it begins or ends with a "
                                        "space; without: 'runs/a/b'")
  # Not UTF-8 (argv's surrogate escapes): the run failed at its first save,
  # a chunk in, with tensorstore's traceback ("Unable to cast Python instance").
  assert "is not UTF-8 text" in cli.path_typo(os.fsdecode(b'runs/\xff'))
  (tmp_path / 'b ').mkdir()
  assert cli.path_typo('b ') is None and cli.path_typo('runs/a') is None  # b : made so
  with pytest.raises(training.ConfigError, match="workdir '.*run\\\\r' holds the control"):
    training.run(leduc_config.get_config(), str(tmp_path / 'run\r'))
  with pytest.raises(training.ConfigError, match='begins or ends with a space'):
    training.load_run('run ')
  config = leduc_config.get_config()
  config.mirror_to = 'backup\r'
  with pytest.raises(training.ConfigError, match="config.mirror_to 'backup.*control character"):
    training.run(config, str(tmp_path / 'run'))
  with pytest.raises(training.ConfigError, match="--config='kuhn ': a name in it"):
    train.resolve_config('kuhn ')
  with pytest.raises(ValueError, match="--out='p.json\\\\r': holds the control character"):
    cli.out_extension('p.json\r', ('json',), 'policy.json')
  assert os.listdir(tmp_path) == ['b ']


def test_a_stray_argument_names_the_flag_it_belongs_to(kuhn_run, tmp_path, monkeypatch, capsys):
  """'cfr-export runs/a p.json' and 'cfr-query runs/a b10' said only 'give one
  run directory'; 'cfr-plot runs/a a.png' wrote exploitability.png (a note
  said a.png held no metrics.jsonl)."""
  from cfr_jax.cli import export, query  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  assert export._main(['cfr-export', str(kuhn_run), 'p.JSON'], 'policy.npz') == 1  # pylint: disable=protected-access
  assert "give one run directory ('p.JSON' goes in --out=p.JSON)" in capsys.readouterr().err
  assert query._main(['cfr-query', str(kuhn_run), 'KB10'], ['-'], False) == 1  # pylint: disable=protected-access
  assert "('KB10' goes in --node=KB10)" in capsys.readouterr().err
  assert query._main(['cfr-query', str(kuhn_run), 'other'], ['-'], False) == 1  # pylint: disable=protected-access
  assert f'(got 2: {kuhn_run} other)' in capsys.readouterr().err
  assert not os.listdir(tmp_path)
  pytest.importorskip('matplotlib')
  one_line_error(script('cfr-plot', str(kuhn_run), 'a.png', cwd=tmp_path),
                 'a.png does not exist: to name the image, give --out=a.png')
  assert not os.listdir(tmp_path)


def test_plot_says_in_one_line_why_a_listed_format_cannot_be_written(kuhn_run, tmp_path,
                                                                      monkeypatch, capsys):
  """--out=x.pgf without LaTeX installed was a traceback (RuntimeError:
  'xelatex' not found) after every run was read."""
  matplotlib = pytest.importorskip('matplotlib')
  import matplotlib.figure  # pylint: disable=g-import-not-at-top
  from cfr_jax.cli import plot  # pylint: disable=g-import-not-at-top

  def savefig(*args, **kwargs):
    raise RuntimeError("'xelatex' not found; install it or change rcParams\nsecond line")
  monkeypatch.setattr(matplotlib.figure.Figure, 'savefig', savefig)
  assert plot._main(['cfr-plot', str(kuhn_run)], str(tmp_path / 'x.pgf')) == 1  # pylint: disable=protected-access
  assert capsys.readouterr().err == (f"error: cannot write {tmp_path / 'x.pgf'}: 'xelatex' not "
                                     'found; install it or change rcParams\n')


def test_plot_draws_a_run_whose_directory_name_is_not_utf8(kuhn_run, tmp_path):
  """Its legend label (bytes escaped by Python) was a TypeError traceback from
  matplotlib's font."""
  pytest.importorskip('matplotlib')
  run = os.path.join(os.fsencode(tmp_path), b'run\xff')
  os.mkdir(run)
  shutil.copy(kuhn_run / 'metrics.jsonl', os.fsdecode(run))
  proc = script('cfr-plot', str(tmp_path), f'--out={tmp_path / "e.png"}', cwd=tmp_path)
  assert proc.returncode == 0 and 'wrote' in proc.stdout, proc.stderr


def test_plot_says_which_runs_it_does_not_draw_and_why(kuhn_run, tmp_path, capsys):
  """A generative-env run (Deep CFR's head-to-head results, no exploitability)
  was left out of the figure in silence, or alone 'no exploitability metrics'."""
  pytest.importorskip('matplotlib')
  from cfr_jax.cli import plot  # pylint: disable=g-import-not-at-top
  env = tmp_path / 'env'
  env.mkdir()
  (env / 'metrics.jsonl').write_text('{"iteration": 1, "vs_uniform": 0.1, "vs_uniform_se": 0.2}\n')
  out = str(tmp_path / 'e.png')
  assert plot._main(['cfr-plot', str(env), str(kuhn_run)], out) == 0  # pylint: disable=protected-access
  assert f'note: {env} is not drawn: measured by play (vs_uniform' in capsys.readouterr().err
  assert plot._main(['cfr-plot', str(env)], out) == 1  # pylint: disable=protected-access
  assert f'no exploitability metrics under {env}; {env}: measured by play' in (
      capsys.readouterr().err)
  # An exactly solved game (a subgame with no bets left: exploitability 0 at
  # every evaluation) was left out in silence too.
  solved = tmp_path / 'solved'
  solved.mkdir()
  (solved / 'metrics.jsonl').write_text('{"iteration": 10, "exploitability": 0.0}\n')
  assert plot._main(['cfr-plot', str(solved), str(kuhn_run)], out) == 0  # pylint: disable=protected-access
  assert f'note: {solved} is not drawn: its exploitability is 0 at every evaluation' in (
      capsys.readouterr().err)
  assert plot._main(['cfr-plot', str(solved)], out) == 1  # pylint: disable=protected-access
  assert f'under {solved}; {solved}: its exploitability is 0 at every' in capsys.readouterr().err


def test_every_tool_with_an_out_flag_refuses_a_name_ending_in_a_dot(kuhn_run, tmp_path):
  """The check is the tools' own, before a run is read: cfr-export said
  '--out=.json: the file name must end in .npz or .json'."""
  one_line_error(launch('export', str(kuhn_run), f'--out={tmp_path}/.json'),
                 f'--out={tmp_path}/.json: .json is an extension without a file name',
                 f'e.g. --out={tmp_path}/policy.json')
  one_line_error(launch('export', str(kuhn_run), f'--out={tmp_path}/p.json.'),
                 f"ends in '.'; give it without, e.g. --out={tmp_path}/p.json")
  pytest.importorskip('matplotlib')
  one_line_error(launch('plot', str(kuhn_run), f'--out={tmp_path}/x.png.'),
                 f"ends in '.'; give it without, e.g. --out={tmp_path}/x.png")
  assert not os.listdir(tmp_path)  # x.png..png was written


def test_status_does_not_call_a_run_on_another_host_dead(tmp_path):
  """A run on a cluster node, seen from the login node (a shared file
  system): its pid was looked up here, and the run was 'dead'."""
  from cfr_jax.cli import status  # pylint: disable=g-import-not-at-top
  progress = {'status': 'running', 'pid': 2**22 + 1, 'iteration': 5, 'eta_seconds': 100}
  (tmp_path / 'progress.json').write_text(json.dumps(progress))
  row = lambda: status.row(str(tmp_path / 'progress.json'))
  assert row()[1] == 'dead, nothing saved'  # no lock: the pid is this host's, and gone
  # Killed and not reaped yet by its parent (a zombie): its pid still answers.
  zombie = subprocess.Popen([sys.executable, '-c', 'pass'])
  state = lambda: open(f'/proc/{zombie.pid}/stat').read().rsplit(')', 1)[1].split()[0]
  deadline = time.monotonic() + 60
  while state() != 'Z' and time.monotonic() < deadline:
    time.sleep(0.05)
  assert state() == 'Z'
  (tmp_path / 'progress.json').write_text(json.dumps({**progress, 'pid': zombie.pid}))
  assert row()[1] == 'dead, nothing saved'
  zombie.wait()
  (tmp_path / 'progress.json').write_text(json.dumps(progress))
  (tmp_path / '.lock').write_text(json.dumps({'pid': 7, 'host': 'node-that-is-not-this'}))
  assert row()[1] == 'running? (on node-that-is-not-this)' and row()[5] == '1m40s'


def test_status_and_plot_list_a_run_under_several_arguments_once(tmp_path, monkeypatch):
  """`cfr-status runs runs/a` printed runs/a's row twice (and cfr-plot drew
  its curve twice), by whichever name it was given."""
  from cfr_jax.cli import plot, status  # pylint: disable=g-import-not-at-top
  for name in ('a', 'b'):
    (tmp_path / 'runs' / name).mkdir(parents=True)
    (tmp_path / 'runs' / name / 'progress.json').write_text('{}')
    (tmp_path / 'runs' / name / 'metrics.jsonl').write_text('')
  monkeypatch.chdir(tmp_path)
  roots = ['runs', 'runs/a', f'{tmp_path}/runs/a/', 'runs/b/progress.json']
  assert list(status.find_progress_files(roots)) == [
      os.path.join('runs', 'a', 'progress.json'), os.path.join('runs', 'b', 'progress.json')]
  missing = []
  assert list(plot._runs(roots[:3], missing)) == ['runs/a', 'runs/b'] and not missing  # pylint: disable=protected-access


def test_status_and_plot_name_each_instance_by_what_sets_it_apart(tmp_path, monkeypatch,
                                                                  capsys):
  """A sweep's instances were only instance_0, instance_1, ... in cfr-status
  and cfr-plot's legend: which one ran which algorithm was in their config.json."""
  pytest.importorskip('matplotlib')
  import matplotlib.axes  # pylint: disable=g-import-not-at-top
  from cfr_jax.cli import plot, status  # pylint: disable=g-import-not-at-top
  for workdir, flags in (('sweep', ['--config.sweep_field=algorithm',
                                    '--config.sweep_values=cfr+,dcfr']),
                         ('copies', ['--config.num_instances=2'])):
    proc = launch('train', '--config=configs/kuhn.py', f'--workdir={tmp_path / workdir}',
                  *KUHN_200, *flags)
    assert proc.returncode == training.EXIT_COMPLETE, proc.stderr
  # An instance that fails in its own process (its game is unknown) while the
  # other runs: it said only 'instance 1: configuration error', and cfr-status
  # and cfr-plot left it out without a word (the reason was in its log.txt).
  proc = launch('train', '--config=configs/kuhn.py', f'--workdir={tmp_path / "late"}',
                *KUHN_200, '--config.sweep_field=game', '--config.sweep_values=kuhn,nosuchgame')
  assert proc.returncode == training.EXIT_FAILURE, proc.stderr
  assert "instance 1: configuration error: unknown game 'nosuchgame'" in proc.stdout
  monkeypatch.chdir(tmp_path)
  capsys.readouterr()
  assert status._main(['cfr-status', 'late']) == 0  # pylint: disable=protected-access
  out, err = capsys.readouterr()
  assert re.search(r'late/instance_1 \(game=nosuchgame\) +failed, nothing run', out), out
  assert "note: late/instance_1 failed before it ran: unknown game 'nosuchgame'" in err, err
  pytest.importorskip('matplotlib')
  assert plot._main(['cfr-plot', 'late'], str(tmp_path / 'e.png')) == 0  # pylint: disable=protected-access
  assert ("note: late/instance_1 is not drawn: it failed before it ran: unknown game "
          "'nosuchgame'") in capsys.readouterr().err
  assert status._main(['cfr-status', 'sweep', 'copies']) == 0  # pylint: disable=protected-access
  names = [line.split('  ')[0] for line in capsys.readouterr().out.splitlines()[1:]]
  assert names == ['sweep/instance_0 (algorithm=cfr+)', 'sweep/instance_1 (algorithm=dcfr)',
                   'copies/instance_0 (seed=0)', 'copies/instance_1 (seed=1)'], names
  labels = []
  draw = matplotlib.axes.Axes.plot
  monkeypatch.setattr(matplotlib.axes.Axes, 'plot', lambda self, *a, **k: (
      labels.append(k.get('label')), draw(self, *a, **k))[1])
  assert plot._main(['cfr-plot', 'sweep'], str(tmp_path / 'e.png')) == 0  # pylint: disable=protected-access
  assert labels[::2] == ['sweep/instance_0 algorithm=cfr+', 'sweep/instance_1 algorithm=dcfr']
  # A single run, and an instance whose siblings' configs cannot be read: no label.
  (tmp_path / 'sweep' / 'instance_1' / 'config.json').write_text('{')
  from cfr_jax import cli  # pylint: disable=g-import-not-at-top
  labels = [cli.instance_label(d) for d in ('sweep/instance_0', 'copies', 'copies/instance_1')]
  assert labels == ['', '', 'seed=1']


def test_status_names_a_progress_field_of_the_wrong_type(kuhn_run, tmp_path):
  """A progress.json edited by hand ("exploitability": "abc") made the whole
  table a traceback (ValueError: Unknown format code 'e'): its row names the
  field, and the other runs' rows still print."""
  for name, fields in (('expl', {'exploitability': 'abc'}),
                       ('rate', {'iterations_per_second': 'fast', 'iteration': [1]}),
                       ('eval', {'evaluation': 5}),
                       ('eta', {'status': 'running', 'pid': os.getpid(), 'eta_seconds': 'soon'})):
    (tmp_path / name).mkdir()
    (tmp_path / name / 'progress.json').write_text(json.dumps(fields))
  proc = launch('status', str(kuhn_run), str(tmp_path))
  assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr
  assert '200/200' in proc.stdout
  for name, bad in (('expl', 'exploitability'), ('rate', 'iteration, iterations_per_second'),
                    ('eval', 'evaluation'), ('eta', 'eta_seconds')):
    assert re.search(rf'{tmp_path / name} +unreadable \({bad}: not a finite number\)',
                     proc.stdout)


@pytest.mark.parametrize('fields,why', [
    ('{"iteration": NaN, "status": "running", "pid": 1}', 'iteration: not a finite number'),
    ('{"iterations_per_second": 1e400}', 'iterations_per_second: not a finite number'),
    ('{"iteration": 5, "status": ["x"]}', 'status: not a string'),
    ('{"iteration": 5, "updated_at": {"a": 1}}', 'updated_at: not a string'),
])
def test_status_names_a_progress_value_training_never_writes(tmp_path, fields, why):
  """NaN and infinity parse (training writes neither): the row said 'nan/?'
  as the iteration or a rate of 300 digits; a list as the status printed as
  Python's repr."""
  from cfr_jax.cli import status  # pylint: disable=g-import-not-at-top
  (tmp_path / 'progress.json').write_text(fields)
  assert status.row(str(tmp_path / 'progress.json'))[:2] == [str(tmp_path), f'unreadable ({why})']


def test_progress_rates_stay_readable_for_slow_solvers():
  """A network iteration can take seconds: never '0 it/s'."""
  from cfr_jax.training.outputs import rate_text  # pylint: disable=g-import-not-at-top
  assert rate_text(0.25) == '4.0 s/it'
  assert rate_text(2.345) == '2.3 it/s'
  assert rate_text(12345.6) == '12,346 it/s'
  assert rate_text(None) == rate_text(0) == '- it/s'


# ----------------------------------------------------------------------------
# Stop signals: one line and exit 75, nothing half written, from the first instant.


def _name(sig):
  return signal.Signals(sig).name


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
# (cfr-status imports no JAX, nor numpy: test_status_runs_from_another_directory)
@pytest.mark.parametrize('name', [*(s for s in SCRIPTS if s != 'cfr-status'),
                                  'python -m cfr_jax'])
def test_a_signal_while_jax_is_imported_is_one_line(kuhn_run, tmp_path, name, sig):
  """Ctrl-C in the first second (Python importing JAX, before any handler of
  the program; matplotlib, for cfr-plot) printed a KeyboardInterrupt
  traceback; SIGTERM ended the process silently (-15, the shell's 143)."""
  if name.startswith('python'):
    cmd = [sys.executable, '-m', 'cfr_jax']
  else:
    module, func = entry_points()[name].split(':')
    cmd = [sys.executable, '-c', f'import sys; sys.argv[0] = {name!r}; '
           f'from {module} import {func}; sys.exit({func}())', str(kuhn_run)]
  if name == 'cfr-plot':
    pytest.importorskip('matplotlib')
  proc = subprocess.Popen(cmd, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  # Signalled once numpy (which JAX imports first) is loaded: JAX's import is under way.
  while proc.poll() is None:
    with open(f'/proc/{proc.pid}/maps') as f:
      if '_multiarray_umath' in f.read():
        break
    time.sleep(0.002)
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=60)
  assert proc.returncode == training.EXIT_INTERRUPTED, err
  assert err.strip().startswith(f'{_name(sig)}: exiting'), err
  assert len(err.strip().splitlines()) == 1, err


def test_a_run_whose_output_nobody_reads_goes_on_to_its_end(tmp_path):
  """`cfr-train | head -1`: the first print after head exited raised
  BrokenPipeError, and the run stopped before its first checkpoint ("cannot
  write the run's files: Broken pipe ... free the space")."""
  workdir = tmp_path / 'run'
  proc = subprocess.Popen([sys.executable, '-m', 'launch.train', '--config=configs/kuhn.py',
                           f'--workdir={workdir}', *KUHN_200], cwd=REPO, env=ENV,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  assert proc.stdout.readline().startswith('building')
  proc.stdout.close()  # as head does after its line
  err = proc.stderr.read()
  assert proc.wait(timeout=240) == training.EXIT_COMPLETE, err
  assert 'Traceback' not in err and err.count('note: stdout closed: the run goes on') == 1, err
  p = json.loads((workdir / 'progress.json').read_text())
  assert p['status'] == 'completed' and p['last_checkpoint']['iteration'] == 200


@pytest.mark.parametrize('args', [['cfr-status', '{run}'], ['cfr-export', '--help']])
def test_a_tool_whose_output_nobody_reads_exits_0_without_a_traceback(kuhn_run, tmp_path, args):
  """`cfr-status runs | head -1` printed a BrokenPipeError traceback."""
  module, func = entry_points()[args[0]].split(':')
  code = (f'import sys; sys.argv[0] = {args[0]!r}; from {module} import {func}; '
          f'sys.exit({func}())')
  proc = subprocess.Popen([sys.executable, '-c', code, args[1].format(run=kuhn_run)],
                          cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  proc.stdout.close()  # before it writes a line
  err = proc.stderr.read()
  assert proc.wait(timeout=60) == 0 and not err, err


def _run_patched(name, patch, *args, cwd):
  """Console script `name` in a real process, after the Python `patch`."""
  module, func = entry_points()[name].split(':')
  code = (f'import os, signal, sys, time\n{patch}\nsys.argv[0] = {name!r}\n'
          f'from {module} import {func}\nsys.exit({func}())')
  return subprocess.run([sys.executable, '-c', code, *args], cwd=cwd, env=ENV,
                        capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize('name,target', [
    ('cfr-export', 'from cfr_jax import training as m; m.load_run'),
    ('cfr-query', 'from cfr_jax import training as m; m.load_run'),
    ('cfr-status', 'from cfr_jax.cli import status as m; m.row'),
])
def test_a_signal_while_a_run_loads_is_one_line(kuhn_run, tmp_path, name, target, sig):
  """A signal while the run is read (seconds on a flop): SIGINT printed a
  KeyboardInterrupt traceback, SIGTERM exited silently with -15; now one
  line and exit 75, nothing written."""
  patch = f'{target} = lambda *a, **k: os.kill(os.getpid(), signal.{_name(sig)})'
  flag = {'cfr-export': ['--out=p.json'], 'cfr-query': ['--node=-']}.get(name, [])
  proc = _run_patched(name, patch, str(kuhn_run), *flag, cwd=tmp_path)
  assert proc.returncode == training.EXIT_INTERRUPTED, proc.stderr
  assert proc.stderr.strip() == f'{_name(sig)}: exiting'
  assert not os.listdir(tmp_path)


# The export writes its first block of infosets, then is signalled (once, or
# again while it cleans up): no temporary file is left, the earlier file is whole.
_MID_WRITE = '''
from cfr_jax import policy
blocks = policy.TabularPolicy._blocks
def interrupted(self, *a, **k):
  it = blocks(self, *a, **k)
  yield next(it)
  try:
    os.kill(os.getpid(), signal.{sig}); time.sleep(30)
  finally:
    if {again}:
      os.kill(os.getpid(), signal.{sig}); time.sleep(30)
policy.TabularPolicy._blocks = interrupted
'''


@pytest.mark.parametrize('again', [False, True])
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize('out', ['p.json', 'p.npz'])
def test_a_signal_while_exporting_leaves_the_earlier_file_whole(kuhn_run, tmp_path, out, sig,
                                                                 again):
  (tmp_path / out).write_text('earlier')
  proc = _run_patched('cfr-export', _MID_WRITE.format(sig=_name(sig), again=again),
                      str(kuhn_run), f'--out={out}', cwd=tmp_path)
  assert proc.returncode == training.EXIT_INTERRUPTED, proc.stderr
  assert proc.stderr.strip() == f'{_name(sig)}: exiting'
  assert os.listdir(tmp_path) == [out] and (tmp_path / out).read_text() == 'earlier'
