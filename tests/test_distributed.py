"""Many hosts: one run over two `jax.distributed` processes on localhost.

Each process is a real `python -m launch.train` with 2 simulated CPU devices
(4 devices in all, the state sharded over them), its peer found through a
coordinator on a free local port; stops are real signals to real processes.
"""
import contextlib
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cfr_jax import checkpoint
from cfr_jax import training
import multidevice

FLAGS = ('--config=configs/kuhn.py', '--config.eval_every=500')


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@contextlib.contextmanager
def launched():
  """start(workdir, *flags) -> [process 0, process 1]; whatever still runs at
  the end (a failed assertion) is killed, so no test leaves processes behind."""
  procs = []

  def start(workdir, *flags, name='run', base=FLAGS):
    port = free_port()
    pair = []
    for k in range(2):
      path = os.path.join(workdir, f'{name}.{k}.log')  # a file: a full pipe would block
      with open(path, 'w') as log:
        pair.append(subprocess.Popen(
            [sys.executable, '-m', 'launch.train', *base, f'--workdir={workdir}',
             '--config.distributed.enabled=true',
             f'--config.distributed.coordinator_address=localhost:{port}',
             '--config.distributed.num_processes=2', f'--config.distributed.process_id={k}',
             *flags], cwd=multidevice.REPO, env=multidevice.env(2), stdout=log,
            stderr=subprocess.STDOUT))
      pair[-1].log = path
    procs.extend(pair)
    return pair

  try:
    yield start
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()


def output(proc) -> str:
  with open(proc.log) as f:
    return f.read()


def finish(pair, timeout=150) -> list:
  deadline = time.monotonic() + timeout
  return [p.wait(timeout=max(1, deadline - time.monotonic())) for p in pair]


def progress(workdir) -> dict:
  with open(os.path.join(workdir, 'progress.json')) as f:
    return json.load(f)


def wait_for(predicate, pair, timeout=120):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    dead = [p for p in pair if p.poll() is not None]
    assert not dead, output(dead[0])[-3000:]
    try:
      if predicate():
        return
    except (OSError, ValueError, KeyError, TypeError):
      pass  # not written yet
    time.sleep(0.05)
  raise AssertionError(f'timed out waiting\n{output(pair[0])[-3000:]}')


def steps(workdir) -> list:
  return sorted(int(n) for n in os.listdir(os.path.join(workdir, 'checkpoints'))
                if n.isdigit())


def final_state(workdir, config=None):
  """The newest checkpoint of a run (of `config`, default configs/kuhn.py),
  restored here on one device."""
  if config is None:
    from configs import kuhn  # pylint: disable=g-import-not-at-top
    config = kuhn.get_config()
  solver = training.build_solver(config)
  store = checkpoint.CheckpointStore(
      os.path.join(workdir, 'checkpoints'),
      fingerprint=checkpoint.make_fingerprint(**solver.describe()))
  state, report = training.restore_state(store, solver)
  return solver, state, report


# Suite time (~75 s): the signal tests below stop both processes at one saved step.
@pytest.mark.slow
def test_two_processes_killed_resume_and_end_where_one_process_does(tmp_path):
  budget = ['--config.max_iterations=1500', '--config.chunk_iterations=500']
  reference = tmp_path / 'reference'
  reference.mkdir()
  one = subprocess.run([sys.executable, '-m', 'launch.train', *FLAGS, *budget,
                        f'--workdir={reference}'], cwd=multidevice.REPO,
                       env=multidevice.env(None), capture_output=True, text=True, timeout=150)
  assert one.returncode == training.EXIT_COMPLETE, one.stderr[-3000:]

  run = tmp_path / 'run'
  run.mkdir()
  with launched() as start:
    pair = start(run, *budget)
    wait_for(lambda: progress(run)['last_checkpoint'] is not None, pair)
    for p in pair:
      p.send_signal(signal.SIGKILL)
    assert [p.wait(timeout=30) for p in pair] == [-signal.SIGKILL] * 2
    saved = steps(run)
    assert saved and saved[-1] < 1500, saved
    # Both processes saved their shards of every step: one process's files alone
    # would not restore (checked again, on one device, below).
    assert {d for d in os.listdir(run / 'checkpoints' / str(saved[-1]) / 'state')
            if d.startswith('ocdbt.process_')} == {'ocdbt.process_0', 'ocdbt.process_1'}

    pair = start(run, *budget, name='resumed')
    assert finish(pair) == [training.EXIT_COMPLETE] * 2, output(pair[1])[-3000:]
  p = progress(run)
  assert p['status'] == 'completed' and p['iteration'] == 1500
  assert p['restored_from']['iteration'] == saved[-1]
  for proc in pair:
    assert f'(iteration {saved[-1]})' in output(proc)  # each process resumed there
  with open(run / 'metrics.jsonl') as f:  # written by process 0 alone: no duplicates
    chunks = [r['iteration'] for r in map(json.loads, f) if 'chunk' in r]
  assert chunks == sorted(set(chunks)) and chunks[-1] == 1500
  solver, expected, _ = final_state(reference)
  _, got, report = final_state(run)
  assert report.iteration == 1500
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # bit for bit
  assert progress(run)['exploitability'] == progress(reference)['exploitability']


@pytest.mark.parametrize('sig,why', [
    # SIGTERM is JAX's preemption notice: Orbax's check stops both at one step.
    (signal.SIGTERM, 'a preemption notice (SIGTERM)'),
    # SIGINT is ours: the stop flag is all-gathered every step.
    (signal.SIGINT, 'a signal to process 1')])
def test_a_signal_to_one_process_stops_both_at_the_same_saved_step(tmp_path, sig, why):
  with launched() as start:
    pair = start(tmp_path, '--config.max_iterations=100000000',
                 '--config.chunk_iterations=100000000')
    wait_for(lambda: progress(tmp_path)['iteration'] >= 300, pair)
    pair[1].send_signal(sig)  # the process that writes no progress file
    assert finish(pair) == [training.EXIT_INTERRUPTED] * 2, output(pair[0])[-3000:]
  p = progress(tmp_path)
  reached = p['iteration']
  assert p['status'] == 'interrupted' and p['last_checkpoint']['iteration'] == reached
  assert steps(tmp_path) == [reached]  # one save, of the same step by both
  assert f'interrupted by {why} at iteration {reached}' in output(pair[0])
  assert f'at iteration {reached};' in output(pair[1])
  _, state, report = final_state(tmp_path)
  assert report.iteration == reached and int(state.iteration) == reached


# Sampled and neural solvers split each batch over every device of the job:
# configs/leduc_mccfr.py on Kuhn, configs/kuhn_deep_cfr.py, both small.
SPLIT_RUNS = {
    'es-mccfr': ('configs/leduc_mccfr.py', dict(game='kuhn', batch_size=64, max_iterations=60,
                                                chunk_iterations=20, eval_every=20)),
    'deep-cfr': ('configs/kuhn_deep_cfr.py', dict(
        max_iterations=4, chunk_iterations=2, eval_every=2, traversals=32,
        advantage_steps=20, policy_steps=10, batch_size=64)),
}


@pytest.mark.parametrize('algorithm', [
    'es-mccfr',
    # Suite time (~70 s on 2 busy cores); its single-process split is tested
    # by tests/test_neural.py, and placement is the same code as es-mccfr's.
    pytest.param('deep-cfr', marks=pytest.mark.slow)])
def test_sampled_and_neural_runs_span_two_processes_as_one_of_four_devices(tmp_path, algorithm):
  path, fields = SPLIT_RUNS[algorithm]
  flags = [f'--config.{k}={v}' for k, v in fields.items()]
  # The same run in one process over 4 devices: each device draws from its
  # index in the mesh, so the two layouts must train the same state.
  reference = tmp_path / 'reference'
  reference.mkdir()
  one = subprocess.run([sys.executable, '-m', 'launch.train', f'--config={path}', *flags,
                        '--config.devices=4', f'--workdir={reference}'], cwd=multidevice.REPO,
                       env=multidevice.env(4), capture_output=True, text=True, timeout=200)
  assert one.returncode == training.EXIT_COMPLETE, one.stderr[-3000:]
  run = tmp_path / 'run'
  run.mkdir()
  with launched() as start:
    pair = start(run, *flags, base=(f'--config={path}',))
    assert finish(pair, timeout=200) == [training.EXIT_COMPLETE] * 2, output(pair[1])[-3000:]
  config = runpy.run_path(os.path.join(multidevice.REPO, path))['get_config']()
  config.update(fields)
  _, expected, _ = final_state(reference, config)
  _, got, report = final_state(run, config)
  assert report.iteration == fields['max_iterations']
  # The sums over devices (psum, pmean) meet in another order across
  # processes than within one: equal to rounding, not bit for bit.
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
  assert progress(run)['exploitability'] == pytest.approx(
      progress(reference)['exploitability'], rel=1e-3)


@pytest.mark.parametrize('flag,message', [
    ('--config.distributed.enabled=maybe', 'enabled'),
    ('--config.distributed.num_processes=-2', 'num_processes must be a whole number'),
    ('--config.distributed.process_id=2', 'process_id must be -1'),
    ('--config.distributed.coordinator_address=nohost', "must be 'host:port'"),
    ('--config.distributed.local_device_ids=a,b', 'local_device_ids must be'),
    ('--config.num_instances=2', 'one instance over every process')])
def test_bad_distributed_flags_are_one_line_and_exit_1(tmp_path, flag, message):
  proc = subprocess.run(
      [sys.executable, '-m', 'launch.train', '--config=configs/kuhn.py',
       f'--workdir={tmp_path}', '--config.distributed.enabled=true',
       '--config.distributed.num_processes=2', flag], cwd=multidevice.REPO,
      env=multidevice.env(None), capture_output=True, text=True, timeout=120)
  assert proc.returncode == training.EXIT_USAGE
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0] and 'Traceback' not in proc.stderr
