"""Scale-out: the state sharded over a device mesh, and many instances vmapped.

Multi-device bodies run in child processes with 8 simulated CPU devices
(tests/multidevice.py); vmap checks run in this process.
"""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import cfr_jax
from cfr_jax import checkpoint
from cfr_jax import solver as solver_lib
from cfr_jax import training
import multidevice

ENV = multidevice.env(None)


def test_sharded_run_equals_one_device_bitwise():
  multidevice.run_python('''
    import jax, numpy as np, cfr_jax
    from cfr_jax.solver import make_mesh
    assert len(jax.devices()) == 8
    # Alternating and simultaneous, predictive and not, both games (each case
    # compiles twice: 3 cases keep the suit's time in bounds).
    cases = (('kuhn', 'cfr', True), ('leduc', 'pcfr+', True), ('leduc', 'dcfr', False))
    for name, algorithm, alternating in cases:
      game = cfr_jax.load_game(name)
      one = cfr_jax.make_solver(game, algorithm, alternating=alternating)
      many = cfr_jax.make_solver(game, algorithm, alternating=alternating,
                                 mesh=make_mesh(8))
      a = one.run(one.init(), 40)
      b = many.run(many.run(many.init(), 15), 25)
      rows = b.regrets.shape[0]
      assert rows == -(-game.num_infosets // 8) * 8, rows
      # Really split: 8 shards of rows/8 infosets, one per device.
      shards = b.regrets.addressable_shards
      assert len(shards) == 8 and len({s.device for s in shards}) == 8
      assert all(s.data.shape == (rows // 8, game.num_actions) for s in shards)
      for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        y = np.asarray(y)
        np.testing.assert_array_equal(np.asarray(x), y[:x.shape[0]] if y.ndim else y)
      pa, pb = one.average_policy(a), many.average_policy(b)
      np.testing.assert_array_equal(pa.probs, pb.probs)
      assert cfr_jax.exploitability(game, pa) == cfr_jax.exploitability(game, pb)
    print('ok')
  ''')


@pytest.mark.slow  # ~30 s; test_launcher_moves_a_run_between_device_counts covers the path
def test_sharded_checkpoint_restores_on_other_device_counts(tmp_path):
  """Saved with 8 devices; restored sharded on 8 and 4 and unsharded on 1, in
  this process, and continued bit for bit."""
  multidevice.run_python(f'''
    import jax, numpy as np, cfr_jax
    from cfr_jax import checkpoint, training
    from cfr_jax.solver import make_mesh
    for name in ('kuhn', 'leduc'):  # 12 infosets (padded to 16 on 8 devices), 936
      game = cfr_jax.load_game(name)
      make = lambda mesh: cfr_jax.make_solver(game, 'pcfr+', mesh=mesh)
      reference = make(None)
      expected = reference.run(reference.init(), 50)
      eight = make(make_mesh(8))
      fingerprint = checkpoint.make_fingerprint(**eight.describe())
      assert fingerprint == checkpoint.make_fingerprint(**reference.describe())
      store = checkpoint.CheckpointStore({str(tmp_path)!r} + '/' + name, fingerprint=fingerprint)
      store.save(eight.run(eight.init(), 20), 20)
      for devices in (8, 4, 1):
        solver = make(None if devices == 1 else make_mesh(devices))
        state, report = training.restore_state(store, solver)
        assert report.iteration == 20, report
        if devices > 1:
          shards = state.regrets.addressable_shards
          assert len(shards) == devices
          assert all(s.data.shape[0] == solver.num_rows // devices for s in shards)
        got = solver.run(state, 30)
        for x, y in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
          y = np.asarray(y)
          np.testing.assert_array_equal(np.asarray(x), y[:x.shape[0]] if y.ndim else y)
    print('ok')
  ''')


def test_launcher_moves_a_run_between_device_counts(tmp_path):
  """A launcher run on 8 devices (Kuhn, padded), resumed on 1 device and then
  on 4, ends exactly where an uninterrupted one-device run does."""
  def train(workdir, devices, config_devices, iterations):
    proc = subprocess.run(
        [sys.executable, '-m', 'launch.train', '--config=configs/kuhn.py',
         f'--workdir={workdir}', f'--config.devices={config_devices}',
         f'--config.max_iterations={iterations}', '--config.chunk_iterations=200',
         '--config.eval_every=200'], cwd=multidevice.REPO, env=multidevice.env(devices),
        capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout

  train(tmp_path / 'reference', None, 1, 900)
  run = tmp_path / 'moved'
  assert 'new run in' in train(run, 8, 0, 300)
  assert 'resumed from' in train(run, None, 1, 600)
  assert 'resumed from' in train(run, 4, 4, 900)
  config = cfr_jax_config()
  solver = training.build_solver(config)
  states = []
  for d in ('reference', 'moved'):
    store = checkpoint.CheckpointStore(
        tmp_path / d / 'checkpoints',
        fingerprint=checkpoint.make_fingerprint(**solver.describe()))
    state, report = training.restore_state(store, solver)
    assert report.iteration == 900
    states.append(state)
  for x, y in zip(*(jax.tree.leaves(s) for s in states)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def cfr_jax_config(**fields):
  from configs import kuhn  # pylint: disable=g-import-not-at-top
  config = kuhn.get_config()
  config.update(fields)
  return config


# ----------------------------------------------------------------------------
# Many instances vmapped on one device.


# Instances are not bitwise equal to separate runs: XLA:CPU always allows
# LLVM to contract a*b+c into a fused multiply-add, and whether it does
# depends on fusion and vectorisation, which vmap changes. The first
# iterations agree to rounding; after that CFR's regret matching (which jumps
# when a regret crosses 0) amplifies 1-ulp differences, as it does for any
# change of summation order: on float32 Leduc, DCFR(1, 0, 2) at 100 iterations
# was 2.3e-2 alone and 5.3e-2 vmapped, at 1,000 1.62e-3 and 1.55e-3.
def assert_close_states(solver, expected, got, rtol):
  for field in ('regrets', 'last_regrets', 'strategy_sum'):
    x, y = (np.asarray(getattr(s, field), np.float64) for s in (expected, got))
    assert np.abs(x - y).max() <= rtol * max(np.abs(x).max(), 1e-30), field
  np.testing.assert_array_equal(np.asarray(expected.iteration), np.asarray(got.iteration))
  np.testing.assert_allclose(solver.average_policy(got).probs,
                             solver.average_policy(expected).probs, atol=rtol)


def exploitabilities(game, solvers, states):
  return np.asarray([cfr_jax.exploitability(game, s.average_policy(x))
                     for s, x in zip(solvers, states)])


@pytest.mark.parametrize('algorithm,sweep,long_run', [
    ('dcfr', {'alpha': [1.0, 1.5, 2.0], 'gamma': [2.0, 1.0, 3.0]}, True),
    ('pcfr+', {'gamma': [0.0, 2.0, 5.0]}, False),
    ('cfr+', None, False)])
def test_run_many_equals_separate_runs(algorithm, sweep, long_run):
  game = cfr_jax.load_game('leduc')
  count = 3
  hp = [{k: v[i] for k, v in (sweep or {}).items()} for i in range(count)]
  solvers = [cfr_jax.make_solver(game, algorithm, **h) for h in hp]
  sweep_arrays = {k: np.asarray(v) for k, v in (sweep or {}).items()}
  separate = [s.run(s.run(s.init(), 4), 6) for s in solvers]
  batched = solver_lib.stack_states([s.init() for s in solvers])
  batched = solvers[0].run_many(batched, [4, 10, 0], sweep_arrays)  # per-instance counts
  batched = solvers[0].run_many(batched, [6, 0, 10], sweep_arrays)
  assert solvers[0]._run_many.keys() == {False}  # pylint: disable=protected-access
  for solver, expected, got in zip(solvers, separate, solver_lib.unstack_states(batched)):
    assert_close_states(solver, expected, got, rtol=1e-4)
  if not long_run:
    return
  # Long runs: the same convergence (differences of rounding, amplified).
  separate = [s.run(x, 990) for s, x in zip(solvers, separate)]
  batched = solvers[0].run_many(batched, 990, sweep_arrays)
  assert solvers[0]._run_many.keys() == {True, False}  # pylint: disable=protected-access
  ours = exploitabilities(game, solvers, solver_lib.unstack_states(batched))
  theirs = exploitabilities(game, solvers, separate)
  np.testing.assert_allclose(ours, theirs, rtol=0.5)
  assert (ours < 1e-2).all()


def test_run_many_rejects_bad_input():
  solver = cfr_jax.make_solver(cfr_jax.load_game('kuhn'), 'cfr+')
  states = solver_lib.stack_states([solver.init()] * 2)
  with pytest.raises(ValueError, match='>= 0'):
    solver.run_many(states, [1, -1])
  with pytest.raises(ValueError, match='takes hyperparameters'):
    solver.run_many(states, 1, {'alpha': np.ones(2)})


@pytest.mark.slow  # ~20-40 s; vmap mode's SIGTERM test stays in the default run
def test_vmap_mode_instances_equal_separate_runs_and_resume(tmp_path):
  sweep = dict(sweep_field='alpha', sweep_values='1.0,2.0,3.0', instances_mode='vmap',
               algorithm='dcfr', chunk_iterations=150, eval_every=100)
  config = cfr_jax_config(max_iterations=200, **sweep)
  assert training.run(config, str(tmp_path / 'vmap')) == training.EXIT_COMPLETE
  config = cfr_jax_config(max_iterations=500, **sweep)  # resume every instance
  assert training.run(config, str(tmp_path / 'vmap')) == training.EXIT_COMPLETE
  for k, alpha in enumerate((1.0, 2.0, 3.0)):
    d = tmp_path / 'vmap' / f'instance_{k}'
    with open(d / 'progress.json') as f:
      p = json.load(f)
    assert p['status'] == 'completed' and p['iteration'] == 500
    assert p['restored_from']['iteration'] == 200
    with open(d / 'config.json') as f:
      assert json.load(f)['alpha'] == alpha
    with open(d / 'metrics.jsonl') as f:
      evaluated = [r['iteration'] for r in map(json.loads, f) if 'exploitability' in r]
    assert evaluated == [100, 200, 300, 400, 500]
    single = cfr_jax_config(max_iterations=500, algorithm='dcfr', alpha=alpha,
                            chunk_iterations=150, eval_every=100)
    assert training.run(single, str(tmp_path / f'single_{k}')) == training.EXIT_COMPLETE
    solver = training.build_solver(single)
    fingerprint = checkpoint.make_fingerprint(**solver.describe())
    states = []
    for where in (d, tmp_path / f'single_{k}'):
      store = checkpoint.CheckpointStore(where / 'checkpoints', fingerprint=fingerprint)
      states.append(store.restore(solver.abstract_state())[0])
    # Kuhn is small enough that rounding differences stay small.
    assert_close_states(solver, states[1], states[0], rtol=1e-3)


def test_vmap_mode_sigterm_saves_every_instance(tmp_path):
  proc = subprocess.Popen(
      [sys.executable, '-m', 'launch.train', '--config=configs/leduc.py',
       f'--workdir={tmp_path}', '--config.instances_mode=vmap', '--config.num_instances=2',
       '--config.max_iterations=100000000'], cwd=multidevice.REPO, env=ENV,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  paths = [tmp_path / f'instance_{k}' / 'progress.json' for k in range(2)]

  def iterations():
    out = []
    for p in paths:
      try:
        with open(p) as f:
          out.append(json.load(f)['iteration'])
      except (OSError, ValueError):
        out.append(0)
    return out

  import time  # pylint: disable=g-import-not-at-top
  deadline = time.monotonic() + 120
  while min(iterations()) == 0 and time.monotonic() < deadline:
    time.sleep(0.1)
  proc.send_signal(15)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == training.EXIT_INTERRUPTED, err[-2000:]
  for p in paths:
    with open(p) as f:
      progress = json.load(f)
    assert progress['status'] == 'interrupted'
    assert progress['last_checkpoint']['iteration'] == progress['iteration'] > 0


@pytest.mark.parametrize('fields,message', [
    (dict(instances_mode='threads'), "instances_mode must be 'process' or 'vmap'"),
    (dict(devices=-1), 'devices must be a whole number'),
    (dict(storage='int8'), 'storage must be'),
    (dict(devices=64), 'devices; 1 available'),
    (dict(instances_mode='vmap', num_instances=2, devices=2), 'runs on one device'),
    (dict(instances_mode='vmap', sweep_field='algorithm', sweep_values='cfr+,dcfr'),
     'cannot sweep config.algorithm')])
def test_config_errors(tmp_path, fields, message):
  with pytest.raises(training.ConfigError, match=message):
    training.run(cfr_jax_config(**fields), str(tmp_path))


# ----------------------------------------------------------------------------
# Compact (bfloat16) storage.


def test_bfloat16_storage_halves_memory_and_still_converges():
  game = cfr_jax.load_game('leduc')
  full = cfr_jax.make_solver(game, 'dcfr')
  compact = cfr_jax.make_solver(game, 'dcfr', storage='bfloat16')
  nbytes = lambda s: sum(x.nbytes for x in jax.tree.leaves(s))
  state = compact.init()
  assert {np.dtype(x.dtype).name for x in jax.tree.leaves(state)} == {'bfloat16', 'int32'}
  assert nbytes(state) - 4 == (nbytes(full.init()) - 4) // 2
  state = compact.run(state, 1000)
  # float32: 2.1e-4; bfloat16 with round-to-nearest regrets stalled at 2.8e-4.
  assert cfr_jax.exploitability(game, compact.average_policy(state)) <= 3e-4
  assert checkpoint.make_fingerprint(**compact.describe()) != checkpoint.make_fingerprint(
      **full.describe())


def test_bfloat16_storage_is_chunking_invariant_and_checkpoints(tmp_path):
  game = cfr_jax.load_game('kuhn')
  solver = cfr_jax.make_solver(game, 'pcfr+', storage='bfloat16')
  whole = solver.run(solver.init(), 37)
  fingerprint = checkpoint.make_fingerprint(**solver.describe())
  store = checkpoint.CheckpointStore(tmp_path, fingerprint=fingerprint)
  store.save(solver.run(solver.init(), 10), 10)
  restored, report = training.restore_state(store, solver)
  assert report.iteration == 10 and restored.regrets.dtype == jax.numpy.bfloat16
  parts = solver.run(restored, 27)
  for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(parts)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bfloat16_storage_sharded_equals_one_device():
  """The stochastic rounding hashes (row, column, iteration): the padding and
  sharding of an 8-device run leave it unchanged."""
  multidevice.run_python('''
    import jax, numpy as np, cfr_jax
    from cfr_jax.solver import make_mesh
    game = cfr_jax.load_game('kuhn')  # 12 infosets: padded to 16
    one = cfr_jax.make_solver(game, 'dcfr', storage='bfloat16')
    many = cfr_jax.make_solver(game, 'dcfr', storage='bfloat16', mesh=make_mesh(8))
    a, b = one.run(one.init(), 30), many.run(many.init(), 30)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      y = np.asarray(y)
      np.testing.assert_array_equal(np.asarray(x), y[:x.shape[0]] if y.ndim else y)
    print('ok')
  ''')


@pytest.mark.slow  # suite time; tests/test_distributed.py runs the same two-process path
# (state sharded over both, Orbax shards per process, bit for bit) through the launcher
def test_two_process_distributed_solve_and_orbax_round_trip(tmp_path):
  """Two jax.distributed processes of 4 CPU devices each: the state sharded
  over all 8 equals a one-device run, and Orbax writes and reads it back with
  each process holding its own shards. (The launcher's multi-host path, with
  the checkpoint store, progress files and preemption: tests/test_distributed.py.)"""
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('localhost', 0))
    port = s.getsockname()[1]
  code = f'''
    import sys
    import jax
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize('localhost:{port}', num_processes=2,
                               process_id=int(sys.argv[1]))
    import numpy as np, orbax.checkpoint as ocp, cfr_jax
    from cfr_jax.solver import make_mesh
    assert jax.process_count() == 2 and len(jax.devices()) == 8
    game = cfr_jax.load_game('leduc')
    solver = cfr_jax.make_solver(game, 'pcfr+', mesh=make_mesh(0))
    state = solver.run(solver.init(), 30)
    assert not state.regrets.is_fully_addressable
    assert len(state.regrets.addressable_shards) == 4
    one = cfr_jax.make_solver(game, 'pcfr+')
    expected = one.average_policy(one.run(one.init(), 30)).probs
    np.testing.assert_array_equal(solver.average_policy(state).probs, expected)
    with ocp.StandardCheckpointer() as checkpointer:
      checkpointer.save({str(tmp_path)!r} + '/30', state)
      checkpointer.wait_until_finished()
      back = checkpointer.restore({str(tmp_path)!r} + '/30', solver.abstract_state())
    np.testing.assert_array_equal(solver.average_policy(solver.run(back, 20)).probs,
                                  one.average_policy(one.run(one.run(one.init(), 30), 20)).probs)
    print('ok', jax.process_index())
  '''
  import textwrap  # pylint: disable=g-import-not-at-top
  procs = [subprocess.Popen([sys.executable, '-c', textwrap.dedent(code), str(k)],
                            cwd=multidevice.REPO, env=multidevice.env(4),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for k in range(2)]
  results = [p.communicate(timeout=240) for p in procs]
  for k, (p, (out, err)) in enumerate(zip(procs, results)):
    assert p.returncode == 0 and f'ok {k}' in out, err[-3000:]
