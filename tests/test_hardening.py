"""Faults a launcher must survive, each a real process on real files (issue 11).

One test (or a parametrised family) per class of fault: concurrent launchers,
orphaned instances, lost metadata, foreign checkpoints, damaged checkpoints,
full disks and unwritable outputs, signals, and what the run prints.
"""
import contextlib
import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import pytest

from cfr_jax import checkpoint
from cfr_jax import training

from launcher_util import (ENV, REPO, finish, progress, start, steps, train,  # pylint: disable=g-bad-import-order
                           wait_for)

LONG = ['--config.max_iterations=100000000', '--config.chunk_iterations=20000',
        '--config.eval_every=20000']


def one_line_error(err):
  lines = [l for l in err.strip().splitlines() if l.strip()]
  assert 'Traceback' not in err, err
  return lines


def children_of(pid):
  out = subprocess.run(['pgrep', '-P', str(pid)], capture_output=True, text=True).stdout
  return [int(p) for p in out.split()]


def alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  with open(f'/proc/{pid}/stat') as f:  # a zombie is dead too
    return f.read().split(') ')[1][0] != 'Z'


# 1. One live launcher per workdir; a killed one's lock never blocks.
def test_second_launcher_on_a_workdir_is_refused_and_stale_lock_is_not(tmp_path):
  first = start(tmp_path, *LONG, config='configs/leduc.py')
  wait_for(lambda: progress(tmp_path)['iteration'] > 0)
  began = time.monotonic()
  code, _, err = train(tmp_path, *LONG, config='configs/leduc.py')
  assert code == training.EXIT_USAGE
  (line,) = one_line_error(err)
  assert f'pid {first.pid}' in line and socket.gethostname() in line and 'in use' in line
  assert time.monotonic() - began < 60  # refused at start-up, not after training
  assert first.poll() is None  # the running one is untouched
  first.kill()
  first.wait()
  assert os.path.exists(tmp_path / '.lock')  # left behind by SIGKILL...
  code, out, _ = train(tmp_path, '--config.max_iterations=200', config='configs/leduc.py')
  assert code == training.EXIT_COMPLETE, out  # ...and not in the way


# 2. Children die with their parent, save first, and the same command resumes.
def test_sigkill_of_the_parent_stops_and_saves_its_instances(tmp_path):
  flags = ['--config.num_instances=2', '--config.max_iterations=100000000',
           '--config.chunk_iterations=100000000', '--config.eval_every=100000000']
  parent = start(tmp_path, *flags, config='configs/leduc.py')
  dirs = [tmp_path / f'instance_{k}' for k in range(2)]
  wait_for(lambda: all(progress(d)['iteration'] > 0 for d in dirs))
  kids = children_of(parent.pid)
  assert len(kids) == 2
  # A launcher aimed at one instance's directory is refused while it runs.
  code, _, err = train(dirs[0], *LONG, config='configs/leduc.py')
  assert code == training.EXIT_USAGE and 'in use' in one_line_error(err)[0]
  parent.kill()
  parent.wait()
  wait_for(lambda: not any(alive(p) for p in kids), timeout=60)
  for d in dirs:
    p = progress(d)
    assert p['status'] == 'interrupted'
    assert p['last_checkpoint']['iteration'] == p['iteration'] > 0  # saved on the way out
    assert 'SIGUSR1' in (d / 'log.txt').read_text()
  reached = [progress(d)['iteration'] for d in dirs]
  code, out, _ = train(tmp_path, '--config.num_instances=2',
                       f'--config.max_iterations={max(reached) + 100}',
                       '--config.chunk_iterations=1000', config='configs/leduc.py')
  assert code == training.EXIT_COMPLETE, out
  for d, r in zip(dirs, reached):
    assert progress(d)['restored_from']['iteration'] == r


def kuhn_run(workdir, *flags):
  return train(workdir, '--config.max_iterations=300', '--config.chunk_iterations=100',
               '--config.eval_every=100', *flags)


def strip_metadata(workdir):
  for s in steps(workdir):
    d = os.path.join(workdir, 'checkpoints', str(s))
    shutil.rmtree(os.path.join(d, 'meta'))
    with open(os.path.join(d, '_CHECKPOINT_METADATA'), 'w') as f:
      f.write('garbage')


# 3. A checkpoint's identity survives the loss of every metadata file.
def test_identity_survives_lost_metadata(tmp_path):
  assert kuhn_run(tmp_path, '--config.algorithm=dcfr')[0] == training.EXIT_COMPLETE
  strip_metadata(tmp_path)
  code, out, _ = kuhn_run(tmp_path, '--config.algorithm=cfr+',
                          '--config.max_iterations=400')
  assert code == training.EXIT_COMPLETE
  p = progress(tmp_path)
  assert p['restored_from'] is None  # never continued as CFR+
  assert any('fingerprint saved in its arrays' in r['reason'] for r in p['rejected'])
  assert 'STARTING FRESH' in out
  # The DCFR run still finds its own (metadata-less) checkpoints, best first.
  code, _, _ = kuhn_run(tmp_path, '--config.algorithm=dcfr', '--config.max_iterations=400')
  assert code == training.EXIT_COMPLETE
  p = progress(tmp_path)
  assert p['restored_from']['iteration'] == 300
  assert any('identity taken from the fingerprint saved in the arrays' in w['warning']
             for w in p['restore_warnings'])


# 3b. Readers search every location training restores from, the mirror too.
def test_a_run_whose_workdir_lost_its_checkpoints_is_read_from_its_mirror(tmp_path):
  workdir, mirror = tmp_path / 'run', tmp_path / 'mirror'
  assert kuhn_run(workdir, f'--config.mirror_to={mirror}')[0] == training.EXIT_COMPLETE
  _, whole = training.load_run(str(workdir))
  shutil.rmtree(workdir / 'checkpoints')  # the local disk's copies lost
  solver, state = training.load_run(str(workdir), skip=training.AVERAGE_ONLY)
  assert int(state.iteration) == 300
  # A skip name that is no state field was accepted and ignored (everything read).
  with pytest.raises(ValueError, match=re.escape(
      "skip names no state field of this run: 'nosuch'; the names it takes: "
      'last_regrets, regrets, strategy_sum')):
    training.load_run(str(workdir), skip=('nosuch',))
  with pytest.raises(ValueError, match='skip must be a tuple of state field names'):
    training.load_run(str(workdir), skip='regrets')  # read as r, e, g, ...
  assert (jax.numpy.asarray(state.strategy_sum) == whole.strategy_sum).all()
  # Such a state evaluates; run() said "a state of another game" of it.
  skipped = r'is None: a state restored without it \(training\.load_run\(\.\.\., skip='
  with pytest.raises(ValueError, match=r'state\.regrets ' + skipped):
    solver.run(state, 1)
  with pytest.raises(ValueError, match=r'state\.regrets ' + skipped):  # an AttributeError
    solver.compile(state)
  _, state = training.load_run(str(workdir), skip=('strategy_sum',))  # "of another game?"
  with pytest.raises(ValueError, match=r'state\.strategy_sum ' + skipped):
    solver.exploitability(state)
  for skip in (('iteration',), True):  # TypeErrors from the restore
    with pytest.raises(ValueError, match='skip (names no|must be a tuple)'):
      training.load_run(str(workdir), skip=skip)
  shutil.rmtree(mirror)  # and the mirror's: nothing to read, said in one line
  with pytest.raises(training.ConfigError, match='no usable checkpoint'):
    training.load_run(str(workdir))


# 4. Foreign is not broken: switching the algorithm and back resumes.
def test_switching_algorithm_and_back_resumes(tmp_path, caplog):
  assert kuhn_run(tmp_path, '--config.algorithm=dcfr')[0] == training.EXIT_COMPLETE
  assert kuhn_run(tmp_path, '--config.algorithm=cfr+')[0] == training.EXIT_COMPLETE
  assert progress(tmp_path)['restored_from'] is None
  code, _, _ = kuhn_run(tmp_path, '--config.algorithm=dcfr', '--config.max_iterations=400')
  assert code == training.EXIT_COMPLETE
  assert progress(tmp_path)['restored_from']['iteration'] == 300
  assert not os.path.exists(tmp_path / 'checkpoints' / 'rejected')
  # Both runs' steps 100..300 collided: the other run's sit in foreign/<fp>/.
  assert os.listdir(tmp_path / 'checkpoints' / 'foreign')
  # A reader says what it passed over of this run's, not the other run's steps.
  newest = max(int(n) for n in os.listdir(tmp_path / 'checkpoints') if n.isdigit())
  shutil.rmtree(tmp_path / 'checkpoints' / str(newest) / 'state')
  with caplog.at_level(logging.WARNING, logger='absl'):
    _, state = training.load_run(str(tmp_path))
  said = caplog.text
  assert int(state.iteration) < newest and f'checkpoints/{newest}' in said, said
  assert 'foreign' not in said, said


def metrics_runs(path):
  """{run identity: iterations} of a metrics file's records."""
  runs = {}
  with open(path) as f:
    for line in f:
      record = json.loads(line)
      runs.setdefault(record['run'], set()).add(record['iteration'])
  return runs


def test_metrics_of_a_start_that_saved_nothing_are_named_as_this_runs(tmp_path):
  """A start killed before its first save leaves metrics and no checkpoint;
  the next start of the same command begins at 0 and moves those metrics
  aside. It said "metrics of another run": they are this run's."""
  assert kuhn_run(tmp_path)[0] == training.EXIT_COMPLETE
  shutil.rmtree(tmp_path / 'checkpoints')  # as if killed before its first save
  code, out, _ = kuhn_run(tmp_path)
  assert code == training.EXIT_COMPLETE and 'new run in' in out
  assert 'metrics of an earlier start of this run, which left no checkpoint' in out, out
  assert 'another run' not in out and not list(tmp_path.glob('config.before-*'))
  (aside,) = tmp_path.glob('metrics.before-*.jsonl')
  assert metrics_runs(aside) == metrics_runs(tmp_path / 'metrics.jsonl')  # the same run's


def test_metrics_hold_one_runs_records(tmp_path):
  """Another config in the workdir (or a run resumed after one) moves the
  metrics it finds aside: metrics.jsonl, and cfr-plot, show one run's curve."""
  assert kuhn_run(tmp_path, '--config.algorithm=dcfr')[0] == training.EXIT_COMPLETE
  (dcfr,) = metrics_runs(tmp_path / 'metrics.jsonl')
  code, out, _ = kuhn_run(tmp_path, '--config.algorithm=cfr+')
  assert code == training.EXIT_COMPLETE and 'metrics of another run moved' in out
  runs = metrics_runs(tmp_path / 'metrics.jsonl')
  assert dcfr not in runs and set(runs.popitem()[1]) == {100, 200, 300}
  (aside,) = tmp_path.glob('metrics.before-*.jsonl')
  assert metrics_runs(aside) == {dcfr: {100, 200, 300}}
  # The other run's config.json, which this start replaced, is kept beside
  # its metrics (it was lost: its checkpoints could no longer be exported).
  (kept,) = tmp_path.glob('config.before-*.json')
  assert kept.name == aside.name.replace('metrics.', 'config.').replace('.jsonl', '.json')
  assert json.loads(kept.read_text())['algorithm'] == 'dcfr' and f'kept as {kept}' in out
  assert json.loads((tmp_path / 'config.json').read_text())['algorithm'] == 'cfr+'
  code, out, _ = kuhn_run(tmp_path, '--config.algorithm=dcfr', '--config.max_iterations=400')
  assert code == training.EXIT_COMPLETE and 'resumed from' in out
  assert metrics_runs(tmp_path / 'metrics.jsonl') == {dcfr: {400}}
  assert len(list(tmp_path.glob('metrics.before-*.jsonl'))) == 2
  assert sorted(json.loads(p.read_text())['algorithm']
                for p in tmp_path.glob('config.before-*.json')) == ['cfr+', 'dcfr']
  assert not (tmp_path / 'config.found.json').exists()  # each start decided
  # Resumed by the same run, the file grows (and its changed budget keeps
  # no copy of the config: the same run's).
  assert kuhn_run(tmp_path, '--config.algorithm=dcfr',
                  '--config.max_iterations=500')[0] == training.EXIT_COMPLETE
  assert metrics_runs(tmp_path / 'metrics.jsonl') == {dcfr: {400, 500}}
  assert len(list(tmp_path.glob('config.before-*.json'))) == 2


def run_fingerprint_and_solver(workdir):
  solver, _ = training.load_run(str(workdir))
  return checkpoint.make_fingerprint(**solver.describe()), solver


# 5. A minor issue is loaded, recorded and sanity-checked; an insane state is not.
def test_checksum_warning_is_recorded_and_insane_state_falls_back(tmp_path):
  assert kuhn_run(tmp_path)[0] == training.EXIT_COMPLETE
  meta_path = tmp_path / 'checkpoints' / '300' / 'meta' / 'metadata'
  meta = json.loads(meta_path.read_text())
  meta['arrays']['regrets']['checksum'] = 'sha256:' + '0' * 64
  meta_path.write_text(json.dumps(meta))
  code, out, _ = kuhn_run(tmp_path, '--config.max_iterations=400')
  assert code == training.EXIT_COMPLETE
  p = progress(tmp_path)
  assert p['restored_from']['iteration'] == 300  # the rule: warn, do not reject
  assert any('checksum mismatch in regrets' in w['warning'] for w in p['restore_warnings'])
  assert 'warning: checkpoint' in out and 'checksum mismatch' in out
  # A newer state that loads but holds NaN (saved through the store with the
  # run's own fingerprint) is rejected after loading; 400 restores instead.
  fingerprint, solver = run_fingerprint_and_solver(tmp_path)
  _, state = training.load_run(str(tmp_path))
  bad = state.replace(regrets=state.regrets.at[0, 0].set(float('nan')),
                      iteration=jax.numpy.asarray(500, state.iteration.dtype))
  checkpoint.CheckpointStore(tmp_path / 'checkpoints', fingerprint=fingerprint).save(bad, 500)
  code, _, _ = kuhn_run(tmp_path, '--config.max_iterations=600')
  assert code == training.EXIT_COMPLETE
  p = progress(tmp_path)
  assert p['restored_from']['iteration'] == 400
  assert any('non-finite' in r['reason'] for r in p['rejected'])


@contextlib.contextmanager
def small_filesystem(megabytes):
  """A real tmpfs of the given size (needs root, as CI has)."""
  where = tempfile.mkdtemp()
  if subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={megabytes}m', 'tmpfs', where],
                    capture_output=True).returncode:
    os.rmdir(where)
    pytest.skip('cannot mount a tmpfs here (needs root)')
  try:
    yield where
  finally:
    subprocess.run(['umount', '-l', where], check=False)
    os.rmdir(where)


def fill(directory):
  with open(os.path.join(directory, 'filler'), 'wb') as f:
    with contextlib.suppress(OSError):
      while True:
        f.write(b'\0' * (1 << 16))
        f.flush()


# 6. A full disk between saves ends like a failed save, and the run resumes.
def test_disk_full_between_saves(tmp_path):
  with small_filesystem(32) as fs:
    workdir = os.path.join(fs, 'run')
    proc = start(workdir, '--config.max_iterations=100000000',
                 '--config.chunk_iterations=100000000', '--config.eval_every=1000000',
                 '--config.chunk_minutes=0.05', '--config.progress_seconds=0.2',
                 config='configs/leduc.py')
    wait_for(lambda: steps(workdir))
    fill(fs)  # progress.json, metrics or the next save: whichever comes first fails
    code, _, err = finish(proc)
    assert code == training.EXIT_FAILURE
    lines = one_line_error(err)
    assert len([l for l in lines if l.startswith('error:')]) == 1
    assert 'No space left on device' in err
    assert not [n for n in os.listdir(workdir) if '.tmp' in n]
    kept = steps(workdir)
    assert kept
    os.remove(os.path.join(fs, 'filler'))
    code, _, _ = train(workdir, f'--config.max_iterations={kept[-1] + 100}',
                       config='configs/leduc.py')
    assert code == training.EXIT_COMPLETE
    assert progress(workdir)['restored_from']['iteration'] == kept[-1]


@pytest.mark.parametrize('case', ['metrics_is_a_directory', 'checkpoints_is_a_file',
                                  'mirror_is_primary', 'mirror_is_dev_null',
                                  'mirror_is_under_a_file'])
def test_unwritable_outputs_are_one_line(tmp_path, case):
  """An unusable mirror_to is refused up front like an unusable workdir (exit 1,
  nothing run), not an error logged at every save of a run that 'completes'.
  So is an output of the wrong kind: a metrics.jsonl directory failed after
  compiling and restoring (exit 2); a `checkpoints` file started the run
  afresh, moved its metrics aside as another run's and failed a chunk later."""
  flags = ['--config.max_iterations=200']
  if case in ('metrics_is_a_directory', 'checkpoints_is_a_file'):
    if case == 'metrics_is_a_directory':
      os.makedirs(tmp_path / 'metrics.jsonl')
    else:
      (tmp_path / 'checkpoints').write_text('')
      (tmp_path / 'metrics.jsonl').write_text('{}\n')
    want = training.EXIT_USAGE
  elif case == 'mirror_is_primary':
    flags.append(f'--config.mirror_to={tmp_path}/checkpoints')
    want = training.EXIT_USAGE
  else:
    (tmp_path.parent / f'{tmp_path.name}.file').write_text('')
    mirror = ('/dev/null' if case == 'mirror_is_dev_null' else
              f'{tmp_path.parent / tmp_path.name}.file/mirror')
    flags.append(f'--config.mirror_to={mirror}')
    want = training.EXIT_USAGE
  code, _, err = train(tmp_path, *flags)
  assert code == want
  (line,) = one_line_error(err)
  assert line.startswith('error:')
  if case == 'checkpoints_is_a_file':
    assert 'checkpoints is not a directory' in line and 'move it away' in line, line
    assert sorted(os.listdir(tmp_path)) == ['checkpoints', 'metrics.jsonl']  # nothing moved
  if case.startswith('mirror_is_') and case != 'mirror_is_primary':
    assert 'config.mirror_to' in line and 'not a directory' in line.lower(), line
    assert not (tmp_path / 'checkpoints').exists()  # refused before anything ran


# Signals: each one counts, messages say what happens, nothing is a traceback.
def test_two_quick_signals_exit_at_once_and_say_interrupted(tmp_path):
  proc = start(tmp_path, *LONG, config='configs/leduc.py')
  wait_for(lambda: progress(tmp_path)['iteration'] > 0)
  proc.send_signal(signal.SIGINT)
  # 50 ms apart, while the main thread is inside a ~1 s XLA step: Python's own
  # handlers would merge the two. (Signals sent closer than the kernel can
  # deliver them are merged by the kernel itself: standard signals do not queue.)
  time.sleep(0.05)
  proc.send_signal(signal.SIGINT)
  code, _, err = finish(proc, timeout=30)
  assert code == training.EXIT_INTERRUPTED
  assert 'second signal' in err and 'Traceback' not in err
  assert 'KeyboardInterrupt' not in err
  assert progress(tmp_path)['status'] == 'interrupted'


@pytest.mark.parametrize('sig', [signal.SIGHUP, signal.SIGUSR1])
def test_sighup_and_sigusr1_stop_gracefully(tmp_path, sig):
  proc = start(tmp_path, *LONG, config='configs/leduc.py')
  wait_for(lambda: progress(tmp_path)['iteration'] > 0)
  proc.send_signal(sig)
  code, _, err = finish(proc)
  assert code == training.EXIT_INTERRUPTED and 'Traceback' not in err
  p = progress(tmp_path)
  assert p['status'] == 'interrupted' and p['last_checkpoint']['iteration'] == p['iteration']
  if sig == signal.SIGUSR1:
    assert 'never escalates' in err and 'send it again' not in err


def test_signal_before_training_starts_is_one_line(tmp_path):
  """Between start-up and the first step (restore, compilation) a signal ends
  the run at once: exit 75, no traceback, no KeyboardInterrupt."""
  proc = start(tmp_path, *LONG, config='configs/leduc.py')
  while 'new run in' not in proc.stdout.readline():
    assert proc.poll() is None
  proc.send_signal(signal.SIGINT)
  code, _, err = finish(proc)
  assert code == training.EXIT_INTERRUPTED
  assert 'Traceback' not in err and 'KeyboardInterrupt' not in err
  assert progress(tmp_path)['status'] == 'interrupted'


# What a run prints: quiet first runs, notes said once, no stray tracebacks.
def test_first_run_extra_location_and_end_messages(tmp_path):
  missing, file = tmp_path / 'nowhere', tmp_path / 'a_file'
  file.write_text('')
  code, out, err = train(tmp_path / 'run', '--config.max_iterations=300',
                         '--config.chunk_iterations=100', '--config.eval_every=100',
                         f'--config.extra_locations={missing},{file}')
  assert code == training.EXIT_COMPLETE
  assert 'STARTING FRESH' not in out and 'new run in' in out
  assert out.count(str(missing)) == 1 and f'{missing} does not exist' in out
  assert f'{file} is not a directory' in out
  assert not [l for l in err.splitlines() if l[:1] in ('W', 'E') and l[1:5].isdigit()]
  assert 'chips' in out and 'progress.json' in out and 'export' in out


def test_random_bytes_fall_back_without_stray_tracebacks(tmp_path):
  assert kuhn_run(tmp_path)[0] == training.EXIT_COMPLETE
  for step in (200, 300):
    state = tmp_path / 'checkpoints' / str(step) / 'state'
    for d, _, files in os.walk(state):
      for f in files:
        if os.sep + 'd' in d:  # the array data files
          path = os.path.join(d, f)
          with open(path, 'wb') as out:
            out.write(os.urandom(max(os.path.getsize(path), 64)))
  code, out, err = kuhn_run(tmp_path, '--config.max_iterations=400')
  assert code == training.EXIT_COMPLETE
  assert progress(tmp_path)['restored_from']['iteration'] == 100
  assert 'Traceback' not in err and 'Event loop is closed' not in err


def test_one_compilation_serves_every_chunk(tmp_path):
  """A fresh run must not recompile after its first rebuild from checkpoint
  (that time would be charged to the budget): compile counts of a 1-chunk and
  a 4-chunk run are equal."""
  from configs import kuhn  # pylint: disable=g-import-not-at-top
  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda event, duration, **kw: compiles.append(event)
      if event == '/jax/core/compile/backend_compile_duration' else None)
  counts = []
  for chunks in (1, 4):
    config = kuhn.get_config()
    config.update(max_iterations=400, chunk_iterations=400 // chunks, eval_every=400,
                  algorithm='linear_cfr')  # a program no other test compiled in-process
    jax.clear_caches()
    before = len(compiles)
    assert training.run(config, str(tmp_path / str(chunks))) == training.EXIT_COMPLETE
    counts.append(len(compiles) - before)
  assert counts[0] > 0 and counts[1] == counts[0], counts


def test_plot_skips_undecodable_metrics_lines(tmp_path):
  pytest.importorskip('matplotlib')
  run = tmp_path / 'run'
  run.mkdir()
  good = [json.dumps({'iteration': i, 'exploitability': 1.0 / i, 'elapsed_seconds': 0.1 * i})
          for i in (10, 20, 30)]
  (run / 'metrics.jsonl').write_bytes(
      (good[0] + '\n').encode() + b'\xff\xfe\x00 not utf-8\n' + (good[1] + '\n').encode()
      + b'{"iteration": "x", "exploitability": []}\n' + (good[2] + '\n').encode()
      + b'{"iteration": 40, "explo')  # cut by a kill
  out = tmp_path / 'plot.png'
  proc = subprocess.run([sys.executable, '-m', 'launch.plot', str(run), f'--out={out}'],
                        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0 and 'Traceback' not in proc.stderr
  assert 'skipped 3 unreadable line(s)' in proc.stdout and '1 run(s)' in proc.stdout
  assert out.read_bytes()[:4] == b'\x89PNG'


def test_plot_of_metrics_a_log_axis_cannot_show_is_one_line(tmp_path):
  """NaN, 1e400 (inf) and iteration 0 parse as JSON numbers; when nothing else
  was plotted, matplotlib raised 'Data cannot be log-scaled' (a traceback)."""
  pytest.importorskip('matplotlib')
  run = tmp_path / 'run'
  run.mkdir()
  plot = lambda: subprocess.run([sys.executable, '-m', 'launch.plot', str(run),
                                 f'--out={tmp_path / "plot.png"}'], cwd=REPO, env=ENV,
                                capture_output=True, text=True, timeout=120)
  for lines in (['{"iteration": 1e400, "exploitability": 1e400, "elapsed_seconds": 1}',
                 '{"iteration": 2, "exploitability": NaN}'],
                ['{"iteration": 0, "exploitability": 0.5, "elapsed_seconds": 0}']):
    (run / 'metrics.jsonl').write_text('\n'.join(lines) + '\n')
    proc = plot()
    assert proc.returncode == 1 and one_line_error(proc.stderr) == [
        f'error: no exploitability metrics under {run}'], proc.stderr
  assert not (tmp_path / 'plot.png').exists()


def test_second_run_of_a_same_shaped_game_compiles_nothing(tmp_path):
  """The launcher keeps compiled programs (JAX's persistent cache): a second
  run of the same shapes loads every one of them and compiles none."""
  cache = f'--config.compilation_cache={tmp_path / "xla"}'
  reports = []
  for name in ('first', 'second'):
    code, out, _ = kuhn_run(tmp_path / name, cache)
    assert code == training.EXIT_COMPLETE and 'compiled in' in out
    # The first line says where later starts find the programs.
    assert f'later starts load it from the compilation cache in {tmp_path / "xla"})' in out
    reports.append(progress(tmp_path / name))
  first, second = reports
  assert first['compiled_programs'] > 0 and first['compile_cache_hits'] == 0
  assert second['compiled_programs'] == 0
  assert second['compile_cache_hits'] == first['compiled_programs']
  code, _, _ = kuhn_run(tmp_path / 'off', '--config.compilation_cache=none')
  assert code == training.EXIT_COMPLETE
  off = progress(tmp_path / 'off')
  assert off['compile_cache_hits'] == 0 and off['compiled_programs'] > 0
  (tmp_path / 'a_file').write_text('')  # a cache that cannot be: the run goes on without
  code, out, _ = kuhn_run(tmp_path / 'file', f'--config.compilation_cache={tmp_path / "a_file"}')
  assert code == training.EXIT_COMPLETE
  assert f'compilation cache off: cannot create {tmp_path / "a_file"} (it is a file)' in out


def test_pid_file_lock_where_flock_is_missing(tmp_path):
  """The fallback for file systems without flock: refuses a live holder,
  takes over a dead one (this host), and releases on exit."""
  from cfr_jax.training import lock  # pylint: disable=g-import-not-at-top
  held = lock.WorkdirLock(tmp_path)._acquire_pidfile()
  with pytest.raises(lock.WorkdirLocked, match=f'pid {os.getpid()}'):
    lock.WorkdirLock(tmp_path)._acquire_pidfile()
  held.release()
  assert not os.path.exists(tmp_path / '.lock.pid')
  dead = subprocess.Popen([sys.executable, '-c', 'pass'])
  dead.wait()
  (tmp_path / '.lock.pid').write_text(json.dumps({'pid': dead.pid,
                                                  'host': socket.gethostname()}))
  taken = lock.WorkdirLock(tmp_path)._acquire_pidfile()
  assert lock._read_holder_file(str(tmp_path / '.lock.pid'))['pid'] == os.getpid()  # pylint: disable=protected-access
  taken.release()
  # A holder killed and not reaped yet (a zombie) is dead too; so is a file
  # whose pid is 0 (signal 0 to pid 0 reaches this process's own group).
  zombie = subprocess.Popen([sys.executable, '-c', 'pass'])
  assert wait_for(lambda: not alive(zombie.pid), timeout=60)
  for pid in (zombie.pid, 0):
    (tmp_path / '.lock.pid').write_text(json.dumps({'pid': pid, 'host': socket.gethostname()}))
    lock.WorkdirLock(tmp_path)._acquire_pidfile().release()
  zombie.wait()


# The Python API used wrongly (a notebook): a clear TypeError / ValueError
# naming the problem, never a JAX shape error from inside a jitted call or a
# silent run of the wrong thing.
def test_a_state_of_another_game_or_solver_kind_is_refused_by_name():
  import cfr_jax  # pylint: disable=g-import-not-at-top
  from cfr_jax import solver as solver_lib  # pylint: disable=g-import-not-at-top
  kuhn, leduc = cfr_jax.load_game('kuhn'), cfr_jax.load_game('leduc')
  small = dict(hidden=(4,), traversals=2, advantage_steps=1, policy_steps=1, batch_size=4,
               advantage_memory=16, policy_memory=16)
  for algorithm, kw in (('dcfr', {}), ('es-mccfr', dict(batch_size=4)), ('deep-cfr', small)):
    solver = cfr_jax.make_solver(kuhn, algorithm, **kw)
    other = cfr_jax.make_solver(leduc, algorithm, **kw).init()
    name = type(solver).__name__
    # Before: "vmap got inconsistent sizes", "Incompatible shapes for
    # broadcasting" or flax's ScopeParamShapeError.
    # (A tabular state says its game: `SolverState.owner`.)
    said = (r'this state is of leduc #\w+ dcfr, not of this solver\'s kuhn #\w+ dcfr'
            if algorithm == 'dcfr' else rf'state\.\w+.* is float32\[.*\]; this {name} of '
            r'kuhn needs float32\[.*\]: a state of another game')
    for method in (solver.run, solver.average_policy, solver.current_policy):
      args = (other, 1) if method == solver.run else (other,)
      with pytest.raises(ValueError, match=said):
        method(*args)
    # Before: AttributeError ('NoneType' object has no attribute 'iteration').
    with pytest.raises(TypeError, match=rf'this {name} of kuhn takes the \w+State'):
      solver.run(None, 1)
    assert int(solver.run(solver.init(), 1).iteration) == 1  # its own states run
  # Before: a tabular solver ran a sampled solver's state in silence (the
  # tables' shapes fit) and returned a SampledState.
  tabular, sampled = cfr_jax.make_solver(kuhn), cfr_jax.make_solver(kuhn, 'es-mccfr')
  with pytest.raises(TypeError, match='takes the SolverState .* got SampledState'):
    tabular.run(sampled.init(), 1)
  with pytest.raises(ValueError, match=r'state\.strategy_sum_low is missing'):
    tabular.exploitability(cfr_jax.make_solver(kuhn, compensated=False).init())
  with pytest.raises(ValueError, match=r'this state is of leduc #\w+ dcfr, not of this '):
    tabular.run_many(solver_lib.stack_states([cfr_jax.make_solver(leduc).init()] * 2), 1)
  # A state built by hand (no owner) is checked by its shapes.
  with pytest.raises(ValueError, match=r'state\.regrets is float32\[936, 3\]'):
    tabular.run(cfr_jax.make_solver(leduc).init().replace(owner=''), 1)


def test_a_state_that_run_used_up_is_named_with_the_way_on():
  """A state given to run() twice (a notebook cell run again): its arrays
  were donated to the first run, and the second raised JAX's RuntimeError
  "Array has been deleted" from deep inside the solver."""
  import cfr_jax  # pylint: disable=g-import-not-at-top
  from cfr_jax import solver as solver_lib  # pylint: disable=g-import-not-at-top
  kuhn = cfr_jax.load_game('kuhn')
  small = dict(hidden=(4,), traversals=2, advantage_steps=1, policy_steps=1, batch_size=4,
               advantage_memory=16, policy_memory=16)
  used_up = r'state\.\S+ was deleted: a state given to run\(\) is used up .*jnp\.copy'
  for algorithm, kw in (('dcfr', {}), ('es-mccfr', dict(batch_size=4)), ('deep-cfr', small)):
    solver = cfr_jax.make_solver(kuhn, algorithm, **kw)
    state = solver.init()
    kept = jax.tree.map(jnp.copy, state)
    later = solver.run(state, 1)
    for method in (solver.run, solver.average_policy):
      with pytest.raises(ValueError, match=used_up):
        method(*((state, 1) if method == solver.run else (state,)))
    # The way on that the message gives: the returned state, or a copy.
    assert int(solver.run(later, 1).iteration) == 2
    assert int(solver.run(kept, 1).iteration) == 1
  tabular = cfr_jax.make_solver(kuhn)
  states = solver_lib.stack_states([tabular.init()] * 2)
  tabular.run_many(states, 1)
  with pytest.raises(ValueError, match=used_up):
    tabular.run_many(states, 1)


def test_api_mistakes_with_instances_envs_and_hyperparameters_are_named():
  """Each was an error from inside numpy, JAX or flax (or, for gamma=1e39,
  a uniform average in silence: the float32 strategy sums went NaN)."""
  import cfr_jax  # pylint: disable=g-import-not-at-top
  from cfr_jax import envs  # pylint: disable=g-import-not-at-top
  from cfr_jax import solver as solver_lib  # pylint: disable=g-import-not-at-top
  kuhn, leduc = cfr_jax.load_game('kuhn'), cfr_jax.load_game('leduc')
  solver = cfr_jax.make_solver(kuhn)
  three = lambda: solver_lib.stack_states([solver.init() for _ in range(3)])
  cases = [  # (call, error, message)
      (lambda: solver.run_many(three(), [10, 20]), ValueError,
       'num_iterations must be one number or 3 (one per instance), got [10, 20]'),
      (lambda: solver.run_many(three(), 1, {'alpha': [1.0, 2.0]}), ValueError,
       'hyperparameter alpha must be one number or 3 (one per instance)'),
      (lambda: solver.run_many(three(), [[1, 2, 3]]), ValueError,
       'num_iterations must be one number or 3'),
      (lambda: solver.run_many(solver.init(), 1), ValueError,  # "state.regrets is float32[2]"
       'run_many takes states stacked with a leading instance axis'),
      (lambda: solver_lib.stack_states([]), ValueError, 'stack_states needs at least one state'),
      (lambda: solver_lib.stack_states([solver.init(), cfr_jax.make_solver(leduc).init()]),
       ValueError, 'state 1 differs from state 0 in kind, shape, dtype or solver'),
      (lambda: solver_lib.unstack_states(solver.init()), ValueError,
       'unstack_states takes states stacked by stack_states'),
      (lambda: cfr_jax.make_solver(kuhn, gamma=1e39), ValueError,
       'hyperparameter gamma must be finite in float32'),
      (lambda: solver.run_many(three(), 1, {'alpha': 1e39}), ValueError,
       'hyperparameter alpha must be finite in float32'),
      (lambda: cfr_jax.make_solver(kuhn, 'os-mccfr', env='kuhn'), TypeError,
       "env must be an env object (cfr_jax.envs.load_env(\"kuhn\")"),
      (lambda: cfr_jax.make_solver(kuhn, 'deep-cfr', alternating=False), ValueError,
       "deep-cfr does not take ['alternating']: tabular solvers' options"),
      (lambda: envs.align(kuhn, envs.load_env('kuhn')), TypeError,
       'align takes (env, game): an env (cfr_jax.envs.load_env) and a game'),
      (lambda: cfr_jax.uniform_policy('kuhn'), TypeError, "uniform_policy takes a game"),
  ]
  env, key = envs.load_env('kuhn'), jax.random.key(0)
  play = lambda *a, **k: envs.head_to_head(*a, **k)
  cases += [
      (lambda: play(env, envs.UNIFORM, envs.UNIFORM, key, num_games=1.5), ValueError,
       'num_games must be a whole number, got 1.5'),  # "got 1"
      (lambda: play(env, envs.UNIFORM, envs.UNIFORM, 0), TypeError,
       'key must be a JAX PRNG key'),
      (lambda: play('kuhn', envs.UNIFORM, envs.UNIFORM, key), TypeError,
       'env must be an env object'),
      (lambda: play(env, solver.init(), envs.UNIFORM, key), TypeError,
       'policy_a must be a (fn, params) pair'),
  ]
  deep = cfr_jax.make_solver(env, 'deep-cfr', hidden=(4,), traversals=2, advantage_steps=1,
                             policy_steps=1, batch_size=4, advantage_memory=16,
                             policy_memory=16)
  policy = deep.policy(deep.run(deep.init(), 1))
  cases.append((lambda: play(envs.load_env('leduc'), policy, envs.UNIFORM, key, num_games=2),
                ValueError, "a policy's network does not read this env's observations"))
  # Two river subgames of one shape (45 of 117 rows other hands): a state of
  # one was run and scored by the other's solver, and a solver of another
  # algorithm went on from it, in silence.
  from cfr_jax.holdem import subgame  # pylint: disable=g-import-not-at-top
  river = dict(board='As 9s 8h 3d 2c', pot=20, stack=40, ranges=('AK,QQ', 'JJ+'),
               bet_sizes=(0.5,), raise_sizes=(), max_raises=0)
  g1 = subgame.compile_subgame(subgame.SubgameSpec(**river))
  g2 = subgame.compile_subgame(subgame.SubgameSpec(**{**river, 'board': 'Ks 9s 8h 3d 2c'}))
  made = cfr_jax.make_solver(g1)
  state = made.run(made.init(), 3)
  other = cfr_jax.make_solver(g2)
  assert jax.tree.map(jnp.shape, other.init().replace(owner='')) == jax.tree.map(
      jnp.shape, state.replace(owner=''))  # the same shapes
  theirs = r'this state is of river\(As 9s 8h 3d 2c\) #\w+ dcfr, not of this solver\'s '
  for call in (lambda: other.run(state, 1), lambda: other.exploitability(state),
               lambda: other.average_policy(state), lambda: other.node_report(state, '-')):
    with pytest.raises(ValueError, match=theirs + r'river\(Ks 9s 8h 3d 2c\)'):
      call()
  with pytest.raises(ValueError, match=theirs + r'river\(As 9s 8h 3d 2c\) #\w+ pcfr\+'):
    cfr_jax.make_solver(g1, 'pcfr+').run(state, 1)
  # Its own game built again, other hyperparameters, and the way on the message gives.
  again = cfr_jax.make_solver(subgame.compile_subgame(subgame.SubgameSpec(**river)), alpha=2.0)
  assert again.exploitability(state) == made.exploitability(state)
  assert int(other.run(other.init().replace(regrets=state.regrets), 1).iteration) == 1
  table = solver.average_policy(solver.run(solver.init(), 2))
  cases += [
      (lambda: table.save_npz(''), ValueError, "save_npz needs a file name, got ''"),
      (lambda: table.save_json(' '), ValueError, "save_json needs a file name"),
      (lambda: table.save_npz('p.json'), ValueError, 'save_npz writes an .npz file'),
      (lambda: cfr_jax.TabularPolicy(kuhn, table.probs, table.legal), TypeError,
       "TabularPolicy takes a game's info (game.info), got Game"),
      (lambda: table.to_openspiel(kuhn), TypeError, 'to_openspiel takes a pyspiel game'),
  ]
  for call, error, message in cases:
    with pytest.raises(error, match=re.escape(message)):
      call()
  # What the messages point to works.
  assert [int(s.iteration) for s in solver_lib.unstack_states(
      solver.run_many(three(), [1, 2, 3]))] == [1, 2, 3]
  assert abs(play(env, policy, envs.UNIFORM, jax.random.PRNGKey(0), num_games=2)[0]) <= 2


def test_a_config_that_is_no_config_dict_is_refused_by_name(tmp_path):
  """training.run(None, ...) said "argument of type 'NoneType' is not
  iterable", a game's name "'str' object has no attribute 'get'"."""
  for config in (None, 'kuhn', {'game': 'kuhn'}):
    with pytest.raises(training.ConfigError, match=re.escape(
        f'the config must be an ml_collections.ConfigDict (e.g. cfr_jax.configs.leduc.'
        f'get_config()), got {type(config).__name__} {config!r}')):
      training.run(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('kwargs,message', [
    # "float64 needs jax_enable_x64" (numpy reads None as float64)
    (dict(dtype=None), 'dtype must be float32 or float64, got None'),
    (dict(dtype='f32'), "dtype must be float32 or float64, got 'f32'"),
    # numpy's TypeError "data type 'bf16' not understood"
    (dict(storage='bf16'), "storage must be bfloat16 (with dtype float32) or None, got 'bf16'")])
def test_a_dtype_make_solver_cannot_read_is_named(kwargs, message):
  import cfr_jax  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=re.escape(message)):
    cfr_jax.make_solver(cfr_jax.load_game('kuhn'), 'dcfr', **kwargs)


def test_seeds_that_do_not_fit_int64_are_refused_by_name():
  """jax.random.PRNGKey(2**63) raised 'OverflowError: Python int too large to
  convert to C long' at init(); 1.5 seeded with 1 in silence."""
  import cfr_jax  # pylint: disable=g-import-not-at-top
  game = cfr_jax.load_game('kuhn')
  for algorithm in ('es-mccfr', 'deep-cfr'):
    for seed, message in ((2**63, r'seed must be between .* \(int64\), got 9,223,'),
                          (-2**63 - 1, r'seed must be between'),
                          (1.5, 'seed must be a whole number, got 1.5'),
                          ('a', "seed must be a whole number, got 'a'")):
      with pytest.raises(ValueError, match=message):
        cfr_jax.make_solver(game, algorithm, seed=seed)
  # (and one outside 0 ... 2**32 - 1, which a PRNG key folds: tests/test_training.py)
  assert cfr_jax.make_solver(game, 'es-mccfr', seed=2**32 - 1).seed == 2**32 - 1


def test_a_long_compilation_prints_that_it_is_still_compiling(monkeypatch):
  """A flop's first compilation is minutes without output: the launcher
  prints a line every progress_seconds until it ends (and none after), and
  a stream that cannot be written ends the lines, not the block."""
  from cfr_jax.training import loop  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(loop, 'MIN_HEARTBEAT_SECONDS', 0.0)
  out = io.StringIO()
  compiled = loop._Compilations.start()  # pylint: disable=protected-access
  with loop._heartbeat(0.01, compiled, out=out):  # pylint: disable=protected-access
    deadline = time.monotonic() + 60
    while out.getvalue().count('\n') < 2 and time.monotonic() < deadline:
      time.sleep(0.01)  # until two lines, however slow the machine
  lines = out.getvalue().splitlines()
  assert len(lines) >= 2 and all(re.fullmatch(r'  still compiling: \d+ s', l) for l in lines), lines
  time.sleep(0.05)
  assert out.getvalue().splitlines() == lines  # nothing after the block

  class Closed(io.StringIO):
    writes = 0

    def write(self, text):
      type(self).writes += 1
      raise OSError(5, 'Input/output error')
  with loop._heartbeat(0.01, compiled, out=Closed()):  # pylint: disable=protected-access
    deadline = time.monotonic() + 60
    while not Closed.writes and time.monotonic() < deadline:
      time.sleep(0.01)
    time.sleep(0.05)
  assert Closed.writes == 1  # the first failed write ended the beats


def test_an_instance_keeps_the_config_its_parent_replaced(tmp_path):
  """cfr-train's instances parent writes each instance's config.json before
  the instance starts: a sweep rerun with other values replaced the old
  run's config there, so the instance could not keep it. The parent keeps
  a config.json it replaces as config.found.json (an older one first), for
  the instance's start to keep beside the old metrics or drop."""
  from cfr_jax.training import outputs  # pylint: disable=g-import-not-at-top
  assert outputs.replace_config(str(tmp_path), 'a') is None  # nothing there
  assert outputs.replace_config(str(tmp_path), 'b') == 'a'
  assert outputs.replace_config(str(tmp_path), 'c') == 'a'  # the older one stays
  assert (tmp_path / 'config.json').read_text() == 'c'
  assert outputs.replace_config(str(tmp_path), 'a') is None  # found again: dropped
  assert not (tmp_path / 'config.found.json').exists()
  # An instance's start in a workdir where another run's config was found.
  run = tmp_path / 'run'
  assert kuhn_run(run, '--config.algorithm=dcfr')[0] == training.EXIT_COMPLETE
  dcfr = (run / 'config.json').read_text()
  os.replace(run / 'config.json', run / 'config.found.json')  # as the parent leaves it
  (run / 'config.json').write_text(dcfr.replace('"dcfr"', '"cfr+"'))
  code, out, _ = kuhn_run(run, '--config.algorithm=cfr+')
  assert code == training.EXIT_COMPLETE and 'its config.json kept as' in out
  (kept,) = run.glob('config.before-*.json')
  assert kept.read_text() == dcfr and not (run / 'config.found.json').exists()


def _statuses_while(proc, workdir):
  """Every distinct progress.json the launcher `proc` writes until it ends
  (its pid's: not the file an earlier run left), polled every 2 ms (a start
  takes seconds: building, compiling, restoring)."""
  seen, path = [], os.path.join(workdir, 'progress.json')
  while True:
    ended = proc.poll() is not None
    try:
      with open(path) as f:
        p = json.load(f)
    except (OSError, ValueError):
      p = None
    if p is not None and p.get('pid') == proc.pid and (not seen or p != seen[-1]):
      seen.append(p)
    if ended:
      return seen
    time.sleep(0.002)


def test_a_starting_run_says_so_in_progress_json(tmp_path):
  """Until its first chunk a run wrote no progress.json (a new run) or left
  the stopped process's ('running' with a dead pid: cfr-status said "dead")
  for the minutes a flop's first compilation takes. It now says 'starting',
  with its own pid, keeping a resumed run's iteration and checkpoint; a late
  config mistake leaves the file as it was."""
  workdir = str(tmp_path / 'run')
  args = ('--config.max_iterations=300', '--config.chunk_iterations=100',
          '--config.compilation_cache=')
  proc = start(workdir, *args)
  seen = _statuses_while(proc, workdir)
  assert proc.returncode == 0, proc.stderr.read()
  first = seen[0]
  assert first['status'] == 'starting' and first['pid'] == proc.pid, seen[:2]
  assert first['iteration'] == 0 and first['max_iterations'] == 300
  assert seen[-1]['status'] == 'completed' and seen[-1]['iteration'] == 300
  done = seen[-1]
  # The same command again (a completed run resumes at its end): while it
  # starts, its file keeps the run's iteration and last checkpoint.
  proc = start(workdir, *args)
  seen = _statuses_while(proc, workdir)
  assert proc.returncode == 0, proc.stderr.read()
  assert seen[0]['status'] == 'starting' and seen[0]['pid'] == proc.pid
  assert seen[0]['iteration'] == 300 and seen[0]['last_checkpoint'] == done['last_checkpoint']
  assert seen[-1]['status'] == 'completed'
  # and after: the checkpoint that holds its state (was None, "saved to -")
  assert seen[-1]['last_checkpoint'] == done['last_checkpoint']
  before = open(os.path.join(workdir, 'progress.json')).read()
  # A mistake found once the run started (the game is built after the lock):
  # nothing ran, so progress.json says what it said.
  code, _, err = train(workdir, *args, '--config.game=openspiel:kuhn_pokr')
  assert code == training.EXIT_USAGE and 'kuhn_pokr' in err
  assert open(os.path.join(workdir, 'progress.json')).read() == before


def test_a_start_keeps_only_its_own_runs_progress(tmp_path):
  """`write_starting` keeps what the last progress.json said only where it is
  this run's (config.json is this config, and no other run's config was
  found), and never a value that JSON cannot hold; cfr-status reads a
  'starting' file like a 'running' one (a dead pid: 'dead')."""
  from cfr_jax.cli import status  # pylint: disable=g-import-not-at-top
  from cfr_jax.configs import kuhn  # pylint: disable=g-import-not-at-top
  from cfr_jax.training import outputs  # pylint: disable=g-import-not-at-top
  config = kuhn.get_config()
  path = tmp_path / 'progress.json'
  old = {'status': 'running', 'iteration': 660, 'pid': 1,
         'last_checkpoint': {'path': 'x', 'iteration': 600}, 'exploitability': 0.5}
  path.write_text(json.dumps(old))
  (tmp_path / 'config.json').write_text(config.to_json(indent=1))
  outputs.write_starting(str(tmp_path), config, 1.5)
  p = json.loads(path.read_text())
  assert (p['status'], p['pid'], p['iteration'], p['starting_seconds']) == (
      'starting', os.getpid(), 660, 1.5)
  assert p['last_checkpoint'] == old['last_checkpoint'] and p['exploitability'] == 0.5
  assert status.row(str(path))[1] == 'starting'
  dead = subprocess.Popen([sys.executable, '-c', '']).pid
  os.waitpid(dead, 0)
  path.write_text(json.dumps({**p, 'pid': dead}))
  # Killed mid-chunk: it resumes from its last checkpoint, not its iteration.
  assert status.row(str(path))[1] == 'dead, saved 600'
  path.write_text(json.dumps({**p, 'pid': dead, 'iteration': 600}))
  assert status.row(str(path))[1] == 'dead'
  for other in ('config_json', 'found', 'nan'):
    path.write_text(json.dumps(old) if other != 'nan' else
                    json.dumps(old).replace('0.5', 'NaN'))
    if other == 'config_json':  # another run's config
      (tmp_path / 'config.json').write_text('{}')
    if other == 'found':  # a config another run left, found by this start
      (tmp_path / 'config.json').write_text(config.to_json(indent=1))
      (tmp_path / 'config.found.json').write_text('{}')
    if other == 'nan':
      os.remove(tmp_path / 'config.found.json')
    outputs.write_starting(str(tmp_path), config, 2.0)
    p = json.loads(path.read_text())
    assert p['status'] == 'starting' and p['iteration'] == 0, (other, p)
    assert 'last_checkpoint' not in p and 'exploitability' not in p, (other, p)
