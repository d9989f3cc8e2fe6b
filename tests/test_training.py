"""The launcher as users run it: real processes, real signals, real checkpoint files."""
import json
import os
import random
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

import cfr_jax
from cfr_jax import checkpoint
from cfr_jax import training

from launcher_util import (ENV, REPO, finish, progress, start, steps, train,  # pylint: disable=g-bad-import-order
                            wait_for)


def final_state(workdir, config):
  """The newest checkpoint of a run, restored through the store."""
  solver = training.build_solver(config)
  store = checkpoint.CheckpointStore(
      os.path.join(workdir, 'checkpoints'),
      fingerprint=checkpoint.make_fingerprint(**solver.describe()))
  state, _ = store.restore(solver.abstract_state())
  store.close()
  return state


def kuhn_config(**fields):
  from configs import kuhn  # pylint: disable=g-import-not-at-top
  config = kuhn.get_config()
  config.update(fields)
  return config


def test_iteration_budget_is_exact_and_chunks_are_saved(tmp_path):
  code, out, _ = train(tmp_path, '--config.max_iterations=2500',
                       '--config.chunk_iterations=1000', '--config.eval_every=500')
  assert code == training.EXIT_COMPLETE
  p = progress(tmp_path)
  assert (p['status'], p['iteration'], p['chunk']) == ('completed', 2500, 3)
  assert p['exploitability_iteration'] == 2500 and p['exploitability'] < 1e-3
  assert steps(tmp_path) == [1000, 2000, 2500]
  with open(tmp_path / 'metrics.jsonl') as f:
    records = [json.loads(line) for line in f]
  assert [m['iteration'] for m in records if 'chunk' in m] == [1000, 2000, 2500]
  assert [m['iteration'] for m in records if 'exploitability' in m] == [500 * k for k in range(1, 6)]
  assert 'completed (iteration budget)' in out
  # Running it again is a no-op that still reports completion.
  code, out, _ = train(tmp_path, '--config.max_iterations=2500')
  assert code == training.EXIT_COMPLETE and progress(tmp_path)['restored_from']['iteration'] == 2500
  assert 'completed (iteration budget) at iteration 2500' in out
  # A lowered budget trains nothing and says why, not a bare "completed".
  code, out, _ = train(tmp_path, '--config.max_iterations=2000')
  assert code == training.EXIT_COMPLETE and progress(tmp_path)['iteration'] == 2500
  assert ('completed (iteration budget: the run was already past config.max_iterations=2000; '
          'raise it to train on) at iteration 2500') in out
  assert steps(tmp_path) == [1000, 2000, 2500]


def test_time_budget_counts_across_processes(tmp_path):
  flags = ['--config.max_iterations=1000000000', '--config.time_budget_minutes=0.25',
           '--config.chunk_minutes=0.02', '--config.eval_every=100000']
  first = start(tmp_path, *flags, config='configs/leduc.py')
  wait_for(lambda: progress(tmp_path)['last_checkpoint'] is not None)
  first.send_signal(signal.SIGTERM)
  code, _, _ = finish(first)
  assert code == training.EXIT_INTERRUPTED
  spent = progress(tmp_path)['elapsed_seconds']
  assert 0 < spent < 15
  code, out, _ = train(tmp_path, *flags, config='configs/leduc.py')
  assert code == training.EXIT_COMPLETE and 'time budget' in out
  p = progress(tmp_path)
  assert p['restored_from'] is not None
  # The second process only had the budget's remainder, and stopped once it was spent.
  assert 15 <= p['elapsed_seconds'] < 15 + 3
  assert p['last_checkpoint']['iteration'] == p['iteration'] > 0


def test_sigterm_mid_chunk_saves_and_resumes(tmp_path):
  flags = ['--config.max_iterations=100000000', '--config.chunk_iterations=100000000']
  proc = start(tmp_path, *flags, config='configs/leduc.py')
  wait_for(lambda: progress(tmp_path)['iteration'] >= 1000)
  proc.send_signal(signal.SIGTERM)
  code, _, err = finish(proc)
  assert code == training.EXIT_INTERRUPTED
  assert 'SIGTERM' in err
  p = progress(tmp_path)
  reached = p['iteration']
  assert p['status'] == 'interrupted' and p['last_checkpoint']['iteration'] == reached
  assert steps(tmp_path) == [reached]
  code, _, _ = train(tmp_path, f'--config.max_iterations={reached + 500}', config='configs/leduc.py')
  assert code == training.EXIT_COMPLETE
  p = progress(tmp_path)
  assert p['restored_from']['iteration'] == reached and p['iteration'] == reached + 500


def test_a_signal_waits_for_a_step_of_about_a_second_however_slow_an_iteration(tmp_path):
  """The first step is one iteration and each later one about a quarter of
  progress_seconds at the measured rate (at most a second), so a signal is
  acted on within a step. A floor of 100 iterations per step made a flop
  run (seconds per iteration) wait for its whole 20-iteration chunk, ~a
  minute, before saving. The turn config, signalled once it has iterated:
  saved at a few iterations, where the floor made the first step 100."""
  flags = ['--config.max_iterations=100000', '--config.chunk_iterations=100000',
           '--config.eval_every=100000', '--config.progress_seconds=0.4']
  proc = start(tmp_path, *flags, config='configs/holdem_turn.py')
  wait_for(lambda: progress(tmp_path)['iteration'] >= 1, timeout=180)
  proc.send_signal(signal.SIGTERM)
  code, _, err = finish(proc)
  assert code == training.EXIT_INTERRUPTED, err
  p = progress(tmp_path)
  assert 1 <= p['iteration'] < 100, p['iteration']
  assert p['last_checkpoint']['iteration'] == p['iteration']


def test_sigkill_at_random_moments_resumes_bit_for_bit(tmp_path):
  flags = ['--config.max_iterations=30000', '--config.chunk_iterations=1500',
           '--config.eval_every=1500']
  reference = tmp_path / 'reference'
  assert train(reference, *flags)[0] == training.EXIT_COMPLETE
  run = tmp_path / 'killed'
  rng = random.Random(0)
  kills = 0
  # Once during a save (an Orbax temporary directory is present), then at
  # random progress points (mid-chunk or between chunks) of later restarts.
  proc = start(run, *flags)
  ckpt = run / 'checkpoints'
  wait_for(lambda: any('tmp' in n for n in os.listdir(ckpt)), every=0.002)
  proc.kill(); proc.wait(); kills += 1
  for _ in range(3):
    proc = start(run, *flags)
    target = max(steps(run), default=0) + rng.randint(200, 2500)

    def reached(proc=proc, target=target):
      p = progress(run)
      return proc.poll() is not None or (p['pid'] == proc.pid and p['iteration'] >= target)

    wait_for(reached, every=0.01)
    if proc.poll() is None:
      proc.kill(); proc.wait(); kills += 1
  code = None
  for _ in range(3):  # rerun until it completes
    code, _, _ = train(run, *flags)
    if code == training.EXIT_COMPLETE:
      break
  assert code == training.EXIT_COMPLETE and kills == 4
  assert progress(run)['iteration'] == 30000
  config = kuhn_config()
  expected, got = final_state(reference, config), final_state(run, config)
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_corrupt_newest_checkpoint_falls_back_and_is_named(tmp_path):
  assert train(tmp_path, '--config.max_iterations=3000',
               '--config.chunk_iterations=1000')[0] == training.EXIT_COMPLETE
  newest = tmp_path / 'checkpoints' / '3000'
  files = [os.path.join(d, f) for d, _, fs in os.walk(newest / 'state') for f in fs]
  biggest = max(files, key=os.path.getsize)
  with open(biggest, 'r+b') as f:
    f.truncate(0)
  code, out, _ = train(tmp_path, '--config.max_iterations=4000', '--config.chunk_iterations=1000')
  assert code == training.EXIT_COMPLETE
  p = progress(tmp_path)
  assert p['restored_from']['iteration'] == 2000
  assert [r['path'] for r in p['rejected']] == [str(newest)]
  assert p['iteration'] == 4000 and 'skipped checkpoint' in out


@pytest.mark.parametrize('flag,message', [
    ('--config.max_iterations=0', 'max_iterations must be a positive'),
    ('--config.max_iterations=-5', 'max_iterations must be a positive'),
    ('--config.max_iterations=many', 'invalid literal'),
    ('--config.time_budget_minutes=nan', 'time_budget_minutes must be a finite'),
    ('--config.time_budget_minutes=inf', 'time_budget_minutes must be a finite'),
    ('--config.alpha=nan', 'alpha must be a finite'),
    ('--config.alpha=-inf', 'alpha must be a finite'),
    ('--config.chunk_minutes=-1', 'chunk_minutes must be a positive'),
    ('--config.chunk_iterations=0', 'chunk_iterations must be a positive'),
    ('--config.target_exploitability=-0.1', 'target_exploitability must be a number >= 0'),
    ('--config.target_exploitability=nan', 'target_exploitability must be a finite'),
    ('--config.target_pot_percent=0.5', "target_pot_percent is for hold'em subgames"),
    ('--config.algorithm=cfr++', 'unknown algorithm'),
    ('--config.game=chess', 'unknown game'),
    ('--config.no_such_field=1', 'unknown config field'),
    ('--workdir=/proc/version/run', 'cannot write to workdir'),
    ('stray', 'unexpected arguments')])
def test_bad_input_is_one_line_and_exit_1(tmp_path, flag, message):
  args = [flag] if flag.startswith('--workdir') else [f'--workdir={tmp_path}', flag]
  proc = subprocess.run([sys.executable, '-m', 'launch.train', '--config=configs/kuhn.py', *args],
                        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
  assert proc.returncode == training.EXIT_USAGE
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0] and 'Traceback' not in proc.stderr


def test_an_exploitability_target_completes_the_run_at_the_first_evaluation_meeting_it(
    tmp_path):
  """target_pot_percent (hold'em) ends the run at the first evaluation at or
  below that share of the pot; a rerun of a run that met it does nothing, and
  a stricter target resumes it. Both targets at once are refused."""
  river = 'configs/holdem_river.py'
  flags = ['--config.eval_every=10', '--config.chunk_iterations=1000']
  code, out, err = train(tmp_path, *flags, '--config.target_pot_percent=0.5', config=river)
  assert code == training.EXIT_COMPLETE, err
  evals = [m for m in _metrics(tmp_path) if 'exploitability' in m]
  pot = 10.0  # configs/holdem_river.py
  first = next(m for m in evals if m['exploitability'] <= 0.005 * pot)
  p = progress(tmp_path)
  assert p['iteration'] == first['iteration'] == evals[-1]['iteration'] < 2000
  assert p['exploitability_pot_percent'] == pytest.approx(100 * first['exploitability'] / pot)
  assert p['target_exploitability'] == pytest.approx(0.005 * pot)
  assert 'completed (exploitability target, 0.5% of the pot)' in out
  shown = subprocess.run([sys.executable, '-m', 'launch.status', str(tmp_path)], cwd=REPO,
                         env=ENV, capture_output=True, text=True, timeout=120)
  assert f'({p["exploitability_pot_percent"]:.3g}% of the pot)' in shown.stdout, shown.stdout
  code, out, _ = train(tmp_path, *flags, '--config.target_pot_percent=0.5', config=river)
  again = progress(tmp_path)
  assert code == training.EXIT_COMPLETE and again['iteration'] == first['iteration']
  assert again['chunk'] == 0 and again['elapsed_seconds_chunk'] == 0.0  # no chunk ran
  code, out, _ = train(tmp_path, *flags, '--config.target_pot_percent=0.1', config=river)
  assert code == training.EXIT_COMPLETE
  evals = [m for m in _metrics(tmp_path) if 'exploitability' in m]
  later = [m for m in evals if m['iteration'] > first['iteration']]
  assert later and all(m['exploitability'] > 0.001 * pot for m in later[:-1])
  assert later[-1]['exploitability'] <= 0.001 * pot
  assert progress(tmp_path)['iteration'] == later[-1]['iteration']
  code, _, err = train(tmp_path / 'both', '--config.target_pot_percent=0.5',
                       '--config.target_exploitability=0.05', config=river)
  assert code == training.EXIT_USAGE and 'not both' in err


def _metrics(workdir) -> list:
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()]


def test_progress_file_is_always_valid_json(tmp_path):
  proc = start(tmp_path, '--config.max_iterations=20000', '--config.chunk_iterations=2000',
               '--config.eval_every=1000', '--config.progress_seconds=0.5')
  path = tmp_path / 'progress.json'
  reads = 0
  while proc.poll() is None:
    if path.exists():
      with open(path) as f:
        json.load(f)  # raises on a torn write
      reads += 1
  assert proc.wait() == training.EXIT_COMPLETE
  assert reads > 20


def test_divergence_stops_with_a_clear_error_and_a_good_checkpoint(tmp_path):
  # Pots of 1e37 chips overflow float32 regrets after ~220 CFR iterations.
  huge = '0' * 37
  code, _, err = train(tmp_path, f'--config.game=leduc(ante=1{huge},stack=1{huge}0)',
                       '--config.algorithm=cfr', '--config.chunk_iterations=50',
                       '--config.eval_every=50', '--config.max_iterations=1000')
  assert code == training.EXIT_FAILURE
  assert 'diverged' in err and 'Traceback' not in err
  p = progress(tmp_path)
  assert p['status'] == 'failed' and 'diverged' in p['error']
  good = p['last_checkpoint']['iteration']
  assert 0 < good < p['iteration'] and steps(tmp_path)[-1] == good


def test_two_instances_one_killed_other_completes(tmp_path):
  proc = start(tmp_path, '--config.num_instances=2', '--config.max_iterations=40000',
               '--config.chunk_iterations=4000', config='configs/leduc.py')
  first = tmp_path / 'instance_0'
  wait_for(lambda: progress(first)['iteration'] > 0)
  os.kill(progress(first)['pid'], signal.SIGKILL)
  code, out, _ = finish(proc)
  assert code == training.EXIT_FAILURE
  assert 'instance 0: killed by SIGKILL' in out and 'instance 1: completed' in out
  assert progress(tmp_path / 'instance_1')['iteration'] == 40000
  status = subprocess.run([sys.executable, '-m', 'launch.status', str(tmp_path)], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=60)
  rows = status.stdout.strip().splitlines()[1:]
  assert len(rows) == 2
  assert 'instance_0' in rows[0] and 'dead' in rows[0]
  assert 'instance_1' in rows[1] and 'completed' in rows[1]


def test_sigterm_to_parent_stops_and_saves_every_instance(tmp_path):
  proc = start(tmp_path, '--config.sweep_field=algorithm', '--config.sweep_values=cfr+,dcfr',
               '--config.max_iterations=100000000', config='configs/leduc.py')
  dirs = [tmp_path / f'instance_{k}' for k in range(2)]
  wait_for(lambda: all(progress(d)['iteration'] > 0 for d in dirs))
  proc.send_signal(signal.SIGTERM)
  code, out, _ = finish(proc)
  assert code == training.EXIT_INTERRUPTED
  for d, algorithm in zip(dirs, ('cfr+', 'dcfr')):
    p = progress(d)
    assert p['status'] == 'interrupted' and p['algorithm'] == algorithm
    assert p['last_checkpoint']['iteration'] == p['iteration']
  assert out.count('interrupted (resumable)') == 2


def test_python_api_runs_in_process(tmp_path):
  """Notebooks call the same function as the launcher."""
  config = kuhn_config(max_iterations=300, chunk_iterations=100, eval_every=100)
  assert training.run(config, str(tmp_path)) == training.EXIT_COMPLETE
  assert progress(tmp_path)['iteration'] == 300
  state = final_state(tmp_path, config)
  solver = training.build_solver(config)
  assert cfr_jax.exploitability(solver.game, solver.average_policy(state)) < 0.01


@pytest.mark.parametrize('algorithm', ['es-mccfr', 'deep-cfr'])
def test_the_api_refuses_seeds_a_prng_key_folds(algorithm):
  """A PRNG key is made from 32 bits of its seed: seeds 5 and 2**32 + 5 (or
  -1 and 2**32 - 1) gave the identical run in silence."""
  game = cfr_jax.load_game('kuhn')
  assert cfr_jax.make_solver(game, algorithm, seed=2**32 - 1) is not None
  for seed in (2**32 + 5, -1):
    with pytest.raises(ValueError, match=f'seed must be between 0 and 4,294,967,295 .*got '
                       f'{seed:,}'):
      cfr_jax.make_solver(game, algorithm, seed=seed)
  config = kuhn_config(seed=2**32 + 5)  # and training.run, before anything is written
  with pytest.raises(training.ConfigError, match='config.seed must be between 0 and '):
    training.validate(config)


@pytest.mark.parametrize('workdir', ['', '  ', None, 5])
def test_the_api_takes_no_workdir_that_names_no_directory(tmp_path, monkeypatch, workdir):
  """training.run(config, '') trained in the current directory (the
  launcher refuses --workdir=); None was a TypeError from os.path."""
  monkeypatch.chdir(tmp_path)
  config = kuhn_config(max_iterations=10, chunk_iterations=10, eval_every=10)
  for call in (lambda: training.run(config, workdir), lambda: training.load_run(workdir)):
    with pytest.raises(training.ConfigError, match='workdir must name a directory'):
      call()
  assert not os.listdir(tmp_path)


def test_load_run_reads_the_workdir_training_run_wrote(tmp_path, monkeypatch):
  """training.run expands '~'; load_run said the same path did not exist."""
  monkeypatch.setenv('HOME', str(tmp_path))
  config = kuhn_config(max_iterations=10, chunk_iterations=10, eval_every=10)
  assert training.run(config, '~/run') == training.EXIT_COMPLETE
  assert int(training.load_run('~/run')[1].iteration) == 10


def test_status_and_plot_read_finished_runs(tmp_path):
  for name, algorithm in (('a', 'cfr+'), ('b', 'pcfr+')):
    config = kuhn_config(algorithm=algorithm, max_iterations=400, chunk_iterations=200,
                         eval_every=100)
    assert training.run(config, str(tmp_path / name)) == training.EXIT_COMPLETE
  status = subprocess.run([sys.executable, '-m', 'launch.status', str(tmp_path)], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=60)
  rows = status.stdout.strip().splitlines()
  assert len(rows) == 3 and all('completed' in r and '400/400' in r for r in rows[1:])
  pytest.importorskip('matplotlib')
  out = tmp_path / 'cmp.png'
  plot = subprocess.run([sys.executable, '-m', 'launch.plot', str(tmp_path), f'--out={out}'],
                        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
  assert plot.returncode == 0 and '2 run(s)' in plot.stdout
  with open(out, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_second_signal_exits_at_once_keeping_the_last_checkpoint(tmp_path):
  flags = ['--config.max_iterations=100000000', '--config.chunk_iterations=20000']
  proc = start(tmp_path, *flags, config='configs/leduc.py')
  wait_for(lambda: progress(tmp_path)['last_checkpoint'] is not None)
  kept = steps(tmp_path)
  # Two different signals: the kernel would merge two pending SIGINTs into one.
  proc.send_signal(signal.SIGINT)
  proc.send_signal(signal.SIGTERM)
  code, _, err = finish(proc)
  assert code == training.EXIT_INTERRUPTED and 'second signal' in err
  # Nothing was saved on the way out; what was complete before is still there.
  assert steps(tmp_path) == kept
  code, _, _ = train(tmp_path, f'--config.max_iterations={kept[-1] + 100}',
                     config='configs/leduc.py')
  assert code == training.EXIT_COMPLETE
