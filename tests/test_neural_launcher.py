"""Deep CFR through the launcher: checkpoints, chunking, SIGKILL and resume,
foreign architectures, refusals (real processes where users run them)."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from cfr_jax import checkpoint
from cfr_jax import training

from launcher_util import (ENV, REPO, finish, progress, start, steps, train,  # pylint: disable=g-bad-import-order
                            wait_for)

CONFIG = 'configs/kuhn_deep_cfr.py'
# Tiny networks and memories: seconds per run, every code path of a real one.
TINY = ['--config.traversals=32', '--config.advantage_steps=20', '--config.policy_steps=10',
        '--config.batch_size=64', '--config.advantage_memory=4096',
        '--config.policy_memory=4096']
# Not in TINY: ml_collections' config_flags appends a repeated tuple override
# (--config.hidden=16 --config.hidden=32 gives (16, 32)).
HIDDEN = '--config.hidden=16'


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
  """One compilation cache for the module's processes: each compiles less."""
  return f'--config.compilation_cache={tmp_path_factory.mktemp("xla")}'


def deep_train(workdir, cache, *flags, hidden=HIDDEN):
  return train(workdir, *TINY, hidden, cache, *flags, config=CONFIG)


def final_state(workdir):
  """The newest checkpoint of a run, restored as the run restores it."""
  _, state = training.load_run(str(workdir))
  return state


def assert_equal_states(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# Suite time (~75 s): Deep CFR's launcher resume is the SIGKILL test below, the
# network in the fingerprint is test_neural's describe test, and a foreign
# fingerprint's refusal is test_checkpoint's.
@pytest.mark.slow
def test_runs_in_chunks_then_refuses_another_architecture(tmp_path, cache):
  code, out, err = deep_train(tmp_path, cache, '--config.max_iterations=4',
                              '--config.chunk_iterations=2', '--config.eval_every=2')
  assert code == training.EXIT_COMPLETE, err
  p = progress(tmp_path)
  assert (p['status'], p['iteration'], p['chunk']) == ('completed', 4, 2)
  assert p['exploitability_iteration'] == 4 and 0 < p['exploitability'] < 0.6
  assert steps(tmp_path) == [2, 4]
  with open(tmp_path / 'metrics.jsonl') as f:
    records = [json.loads(line) for line in f]
  assert [m['iteration'] for m in records if 'exploitability' in m] == [2, 4]
  assert 'completed (iteration budget)' in out
  solver, state = training.load_run(str(tmp_path))
  assert solver.describe()['network']['hidden'] == [16] and int(state.iteration) == 4
  # Another architecture: the checkpoints are foreign, never loaded, left in place.
  code, out, err = deep_train(tmp_path, cache, '--config.max_iterations=3',
                              '--config.chunk_iterations=3', hidden='--config.hidden=32')
  assert code == training.EXIT_COMPLETE, err
  assert 'STARTING FRESH' in out and "'hidden': [16]" in out and "'hidden': [32]" in out, out
  assert progress(tmp_path)['restored_from'] is None
  assert steps(tmp_path) == [2, 3, 4]
  # ... and its own run resumes from them.
  code, out, err = deep_train(tmp_path, cache, '--config.max_iterations=5')
  assert code == training.EXIT_COMPLETE, err
  assert progress(tmp_path)['restored_from']['iteration'] == 4


@pytest.mark.slow  # suite time: see README "Two commands"
def test_chunking_is_invariant(tmp_path):
  # In process, as tests/test_sampled.py: each chunk saved and the state
  # rebuilt from its checkpoint; two chunk sizes, the same final state.
  from cfr_jax.configs import kuhn_deep_cfr  # pylint: disable=g-import-not-at-top
  states = []
  for chunk in (2, 5):
    config = kuhn_deep_cfr.get_config()
    config.update(dict(traversals=32, advantage_steps=20, policy_steps=10, batch_size=64,
                       hidden=(16,), advantage_memory=4096, policy_memory=4096,
                       max_iterations=5, chunk_iterations=chunk, eval_every=5))
    config.compilation_cache = str(tmp_path / 'cache')
    workdir = str(tmp_path / f'chunk{chunk}')
    assert training.run(config, workdir) == training.EXIT_COMPLETE
    solver, state = training.load_run(workdir)
    assert int(state.iteration) == 5 and solver.describe()['algorithm'] == 'deep-cfr'
    states.append(state)
  assert_equal_states(*states)


def test_sigkill_mid_chunk_resumes_bit_for_bit(tmp_path, cache):
  flags = ['--config.max_iterations=40', '--config.chunk_iterations=10',
           '--config.eval_every=5']
  reference = tmp_path / 'reference'
  assert deep_train(reference, cache, *flags)[0] == training.EXIT_COMPLETE
  run = tmp_path / 'killed'
  proc = start(run, *TINY, HIDDEN, cache, *flags, config=CONFIG)

  def mid_chunk():  # past a save, before the next one: its iterations are lost
    p = progress(run)
    return proc.poll() is not None or (p['pid'] == proc.pid and p['iteration'] >= 15)

  wait_for(mid_chunk, every=0.005)
  assert proc.poll() is None, 'the run ended before it could be killed'
  proc.kill()
  proc.wait()
  killed_at = progress(run)['iteration']
  assert killed_at < 40 and progress(run)['status'] == 'running'
  code, _, err = finish(start(run, *TINY, HIDDEN, cache, *flags, config=CONFIG))
  assert code == training.EXIT_COMPLETE, err
  p = progress(run)
  assert p['iteration'] == 40 and p['restored_from']['iteration'] <= killed_at
  assert_equal_states(final_state(reference), final_state(run))


@pytest.mark.parametrize('flag,message', [
    ('--config.instances_mode=vmap', 'runs no vmapped instances'),
    ('--config.devices=2', 'asked for 2 devices; 1 available'),  # splits minibatches
    ('--config.storage=bfloat16', 'no compact storage'),
    ('--config.dtype=float64', 'float32'),
    ('--config.hidden=0', 'config.hidden must be one or more positive'),
    ('--config.traversals=0', 'config.traversals must be a whole number >= 1, got 0'),
    ('--config.learning_rate=-1.0', 'learning_rate must be a positive'),
])
def test_refusals_are_one_line(tmp_path, flag, message):
  # Checked before anything runs: a ConfigError, printed by the launcher in one line.
  from cfr_jax.configs import kuhn_deep_cfr  # pylint: disable=g-import-not-at-top
  config = kuhn_deep_cfr.get_config()
  name, value = flag[len('--config.'):].split('=')
  config[name] = type(config[name])((int(value),)) if name == 'hidden' else type(
      config[name])(value)
  with pytest.raises(training.ConfigError, match=message) as e:
    training.run(config, str(tmp_path))
  assert '\n' not in str(e.value)


@pytest.mark.parametrize('field,value,message', [
    ('devices', 2, 'generative env runs on one device'),
    ('distributed.enabled', True, 'generative env runs in one process')])
def test_deep_cfr_on_an_env_runs_on_one_device(tmp_path, field, value, message):
  from cfr_jax.configs import liars_dice_2x2_deep_cfr  # pylint: disable=g-import-not-at-top
  config = liars_dice_2x2_deep_cfr.get_config()
  config.update_from_flattened_dict({field: value})
  with pytest.raises(training.ConfigError, match=message):
    training.run(config, str(tmp_path))


def test_bad_value_through_the_launcher_is_one_line_and_exit_1(tmp_path):
  proc = subprocess.run([sys.executable, '-m', 'launch.train', f'--config={CONFIG}',
                         f'--workdir={tmp_path}', '--config.instances_mode=vmap'],
                        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
  assert proc.returncode == training.EXIT_USAGE
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and 'deep-cfr runs no vmapped' in lines[0]
  assert 'Traceback' not in proc.stderr


@pytest.mark.slow  # suite time: see README "Two commands"
def test_sanity_check_reads_network_states():
  # What restore checks on a Deep CFR checkpoint (a checksum mismatch alone
  # loads it): finite parameters and memories, the iteration of its step.
  import cfr_jax  # pylint: disable=g-import-not-at-top
  solver = cfr_jax.make_solver(cfr_jax.load_game('kuhn'), 'deep-cfr', hidden=(8,),
                               traversals=4, advantage_steps=2, policy_steps=2, batch_size=8,
                               advantage_memory=64, policy_memory=64)
  state = solver.run(solver.init(), 2)
  check = training.resume.sanity_check
  assert check(state, 2) is None
  assert 'iteration counter says 2' in check(state, 3)
  nan = jax.tree.map(lambda x: x.at[0].set(np.nan), state.policy_params)
  assert 'non-finite' in check(state.replace(policy_params=nan), 2)
  memory = state.policy_memory
  future = memory.replace(weights=memory.weights.at[0].set(3.0))
  assert 'policy memory' in check(state.replace(policy_memory=future), 2)


def test_divergence_stops_with_a_clear_error(tmp_path):
  # Adam steps of 1e38 overflow the parameters: the run stops at the first
  # evaluation, says so, and saves nothing non-finite.
  code, _, err = train(tmp_path, *TINY, HIDDEN, '--config.learning_rate=1e38',
                       '--config.max_iterations=4', '--config.chunk_iterations=2',
                       '--config.eval_every=2', config=CONFIG)
  assert code == training.EXIT_FAILURE, err
  assert 'diverged' in err and 'Traceback' not in err
  p = progress(tmp_path)
  assert p['status'] == 'failed' and 'diverged' in p['error']
  assert not os.path.exists(tmp_path / 'checkpoints') or steps(tmp_path) == []
