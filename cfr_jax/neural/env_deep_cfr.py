"""Deep CFR on a generative env alone: games that never compile.

    env = envs.load_env('liars_dice(dice=2,sides=6)')       # ~1e10 histories
    solver = make_env_deep_cfr(env, traversals=2048)
    state = solver.run(solver.init(), 10)
    envs.head_to_head(env, solver.policy(state), envs.UNIFORM, key)

The iteration is deep_cfr.py's (Brown et al., ICML 2019) with two changes
that let it run where the tree does not fit:
  * traversals are sampled trajectories through the env (env_traversal.py:
    outcome sampling with exploration epsilon, Lanctot et al. 2009, the
    "robust sampling" of Double Neural CFR at epsilon = 1), `traversals` of
    them per player and iteration, each a `lax.scan` of `max_depth` steps,
    vmapped; the networks are queried inside the scan on `env.observation`;
  * memories hold the samples' feature vectors and legal masks themselves
    (`FeatureMemory`), not rows of a compiled table.
Networks, losses, optimizers and reservoir sampling are deep_cfr.py's
(common.py). Progress is measured by play (`evaluate`: head-to-head against
the uniform policy), or, for a game that also compiles, exactly through
`tabular_policy` and `cfr_jax.exploitability`.

Everything a resumed run needs is in the `DeepCFRState`; iteration t's key is
fold_in(state.key, t), so `run(run(s, a), b) == run(s, a + b)` bit for bit on CPU.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax import placement
from cfr_jax.checks import checked_count, checked_int64, checked_state
from cfr_jax.envs.core import Env
from cfr_jax.envs.play import UNIFORM, head_to_head
from cfr_jax.neural.common import (MLP, DeepCFRIteration, check_hidden,
                                   check_hyperparameters, fit, matched, masked_softmax,
                                   optimizers, reservoir_slots)
from cfr_jax.neural.deep_cfr import DeepCFRState
from cfr_jax.neural.env_traversal import sampled_traversal
from cfr_jax.policy import TabularPolicy


DEFAULTS = {
    'traversals': 1024,  # sampled trajectories per player and iteration
    'epsilon': 0.5,  # the traverser's exploration (env_traversal.py)
    'advantage_steps': 500,
    'policy_steps': 200,
    'batch_size': 512,
    'advantage_memory': 200_000,  # samples per player
    'policy_memory': 400_000,
    'learning_rate': 3e-3,
    'reinitialize': True,
    'seed': 0,
}


@struct.dataclass
class FeatureMemory:
  """A reservoir of samples that carry their own inputs.

  features: [B, F] float32; legal: [B, A] bool; targets: [B, A]; weights:
  [B] the iteration that produced each sample; corrections: [B] its sampling
  correction (env_traversal.py's weight); seen: [] int32 samples offered.
  A sample's loss weight is weights * corrections.
  """
  features: jax.Array
  legal: jax.Array
  targets: jax.Array
  weights: jax.Array
  corrections: jax.Array
  seen: jax.Array

  @staticmethod
  def empty(size: int, num_features: int, num_actions: int) -> 'FeatureMemory':
    return FeatureMemory(jnp.zeros((size, num_features), jnp.float32),
                         jnp.zeros((size, num_actions), bool),
                         jnp.zeros((size, num_actions), jnp.float32),
                         jnp.zeros(size, jnp.float32), jnp.zeros(size, jnp.float32),
                         jnp.zeros((), jnp.int32))

  def add(self, key, mask, features, legal, targets, weight, corrections
          ) -> 'FeatureMemory':
    """Offers the [M] candidates where `mask` holds, in order (weight: [])."""
    slot = reservoir_slots(key, mask, self.seen, self.weights.shape[0])
    put = lambda buf, x: buf.at[slot].set(jnp.asarray(x, buf.dtype), mode='drop')
    return FeatureMemory(put(self.features, features), put(self.legal, legal),
                         put(self.targets, targets),
                         put(self.weights, jnp.broadcast_to(weight, mask.shape)),
                         put(self.corrections, corrections),
                         self.seen + mask.sum(dtype=jnp.int32))

  def batch(self, pick, now):
    return (self.features[pick], self.targets[pick],
            self.weights[pick] * self.corrections[pick] / now, self.legal[pick])


@dataclasses.dataclass(frozen=True, eq=False)
class EnvDeepCFRSolver(DeepCFRIteration):
  """Deep CFR bound to a generative env. Build it with `make_env_deep_cfr`.

  `game` is None (nothing compiles); the launcher measures progress with
  `evaluate` instead of exact exploitability.
  """
  env: Env
  hyperparameters: dict
  hidden: tuple = (64, 64)
  eval_games: int = 20_000  # games per `evaluate` (not part of the state's meaning)
  algorithm: str = 'deep-cfr'
  game: Any = None
  mesh: Any = None

  def __post_init__(self):
    hp = self.hyperparameters
    adv_opt, pol_opt = optimizers(hp)
    for name, value in (('_net', MLP(tuple(self.hidden), self.env.num_actions)),
                        ('_adv_opt', adv_opt), ('_pol_opt', pol_opt),
                        ('_scale', float(self.env.payoff_scale) or 1.0),
                        ('num_features', int(self.env.num_features))):
      object.__setattr__(self, name, value)
    object.__setattr__(self, '_run', jax.jit(self._run_impl, donate_argnums=(0,)))
    object.__setattr__(self, '_init', jax.jit(self._init_impl))
    object.__setattr__(self, '_probs', jax.jit(self._probs_impl))

  # --- public API -----------------------------------------------------------

  def init(self) -> DeepCFRState:
    """Fresh networks, empty memories, iteration 0."""
    return self._init()

  def run(self, state: DeepCFRState, num_iterations: int) -> DeepCFRState:
    """Runs `num_iterations` more iterations in one jitted call (`state` is donated)."""
    n = checked_count(checked_state(self, state).iteration, num_iterations)
    return self._run(state, placement.to_device(n, np.int32))

  def abstract_state(self) -> DeepCFRState:
    return jax.eval_shape(self._init_impl)

  def policy_fn(self, params, s, env=None):
    """[A] the average-strategy network's probabilities at env state `s`."""
    env = self.env if env is None else env
    return masked_softmax(self._net.apply(params, env.observation(s)), env.legal_mask(s))

  def policy(self, state: DeepCFRState) -> tuple:
    """The average policy as an `envs.head_to_head` player: (fn, params)."""
    return (self.policy_fn, state.policy_params)

  def average_policy_probs(self, state: DeepCFRState, states) -> jax.Array:
    """[B, A] the average policy at a batch of env states ([B]-stacked)."""
    return self._probs(state.policy_params, states)

  def tabular_policy(self, state: DeepCFRState, game) -> TabularPolicy:
    """The average policy on every infoset of `game`, a compiled game that
    `self.env` was `envs.align`ed to (for exact exploitability)."""
    from cfr_jax.envs.align import infoset_observations  # pylint: disable=g-import-not-at-top
    features = infoset_observations(self.env, game)
    logits = jax.jit(self._net.apply)(state.policy_params, features)
    probs = masked_softmax(logits, game.legal)
    return TabularPolicy(game.info, np.asarray(probs), np.asarray(game.legal),
                         normalised=True)

  def snapshot(self, state: DeepCFRState):
    """A copy of the average policy's parameters that outlives `state` (which
    `run` donates): an earlier policy for `evaluate` to play against."""
    return jax.tree.map(jnp.copy, state.policy_params)

  def evaluate(self, state: DeepCFRState, previous=None) -> dict:
    """Progress by play, over `eval_games` games on always the same deals (a
    fixed key: successive evaluations differ by the policy, not by the luck
    of the draw): {'vs_uniform', 'vs_uniform_se'}, the average policy's mean
    payoff against the uniform policy and its standard error, and with
    `previous` (a `snapshot` of an earlier state) {'vs_previous',
    'vs_previous_se'} against that earlier policy, the signal that does not
    saturate once uniform is beaten."""
    key = jax.random.PRNGKey(12345)
    mean, se = head_to_head(self.env, self.policy(state), UNIFORM, key, self.eval_games)
    out = {'vs_uniform': mean, 'vs_uniform_se': se}
    if previous is not None:
      mean, se = head_to_head(self.env, self.policy(state), (self.policy_fn, previous), key,
                              self.eval_games)
      out.update(vs_previous=mean, vs_previous_se=se)
    return out

  def describe(self) -> dict:
    """What gives a state its meaning (for checkpoint fingerprints)."""
    return {'game': env_spec(self.env), 'algorithm': 'deep-cfr',
            'traversal': 'outcome-sampling',
            'hyperparameters': dict(self.hyperparameters),
            'network': {'kind': 'mlp', 'hidden': list(self.hidden),
                        'features': f'{type(self.env).__name__}.observation',
                        'feature_size': self.num_features},
            'dtype': 'float32', 'shape': [self.num_features, self.env.num_actions]}

  # --- the jitted pieces ----------------------------------------------------

  def _new_params(self, key):
    return self._net.init(key, jnp.zeros((1, self.num_features), jnp.float32))

  def _init_impl(self) -> DeepCFRState:
    hp, a, f = self.hyperparameters, self.env.num_actions, self.num_features
    key = jax.random.PRNGKey(hp['seed'])
    k_adv, k_pol = jax.random.split(jax.random.fold_in(key, 0))  # iterations use t >= 1
    adv = jax.vmap(self._new_params)(jax.random.split(k_adv))
    pol = self._new_params(k_pol)
    memory = FeatureMemory.empty(hp['advantage_memory'], f, a)
    return DeepCFRState(
        advantage_params=adv, advantage_opt=jax.vmap(self._adv_opt.init)(adv),
        policy_params=pol, policy_opt=self._pol_opt.init(pol),
        advantage_memory=jax.tree.map(lambda x: jnp.stack([x, x]), memory),
        policy_memory=FeatureMemory.empty(hp['policy_memory'], f, a),
        iteration=jnp.zeros((), jnp.int32), key=key)

  def _probs_impl(self, params, states):
    return jax.vmap(self.policy_fn, in_axes=(None, 0))(params, states)

  def _strategy(self, advantage_params):
    """strategy(features [F], legal [A], player) -> [A]: regret matching on
    the acting player's advantage network."""
    def strategy(features, legal, player):
      out = jax.vmap(self._net.apply, in_axes=(0, None))(advantage_params, features)
      return matched(jnp.where(player == 1, out[1], out[0]), legal)
    return strategy

  def _fit(self, params, opt_state, opt, memory, key, steps, loss_of, now):
    filled = jnp.minimum(memory.seen, memory.weights.shape[0])
    return fit(self._net.apply, opt, params, opt_state, key, steps,
               self.hyperparameters['batch_size'], filled,
               lambda pick: memory.batch(pick, now), loss_of)

  def _sample(self, adv_params, p, k_walk, now, memory, pol_memory, k_adv, k_pol):
    hp, a, f = self.hyperparameters, self.env.num_actions, self.num_features
    walk = lambda k: sampled_traversal(self.env, self._strategy(adv_params), p,
                                       hp['epsilon'], k)
    obs, legal, mine, regrets, theirs, sigma, weight = jax.vmap(walk)(
        jax.random.split(k_walk, hp['traversals']))
    obs, legal, sigma = obs.reshape(-1, f), legal.reshape(-1, a), sigma.reshape(-1, a)
    weight = weight.reshape(-1)  # the sampling correction (linear CFR's t apart)
    memory = memory.add(k_adv, mine.reshape(-1), obs, legal,
                        regrets.reshape(-1, a) / self._scale, now, weight)
    return memory, pol_memory.add(k_pol, theirs.reshape(-1), obs, legal, sigma, now, weight)


def env_spec(env: Env) -> str:
  """A stable name of `env` for fingerprints (`envs.load_env` reads it back)."""
  spec = getattr(env, 'spec', None)
  return spec if isinstance(spec, str) else type(env).__name__


def make_env_deep_cfr(env: Env, hidden: Sequence[int] = (64, 64), eval_games: int = 20_000,
                      **hyperparameters) -> EnvDeepCFRSolver:
  """Deep CFR with sampled traversals on a generative `env` (one with
  `observation`, e.g. `envs.load_env('liars_dice(dice=2,sides=6)')`).

  hidden: the networks' hidden layer widths. eval_games: games per `evaluate`.
  hyperparameters (defaults in `DEFAULTS`): traversals (trajectories per
    player and iteration), epsilon (the traverser's exploration, in [0, 1];
    > 0 keeps the regret targets' variance bounded), advantage_steps,
    policy_steps, batch_size, advantage_memory, policy_memory, learning_rate,
    reinitialize, seed: as `make_deep_cfr`'s.
  """
  if not isinstance(env, Env):
    raise TypeError(f'expected a generative env (cfr_jax.envs), got {type(env).__name__}')
  try:
    env.num_features
  except NotImplementedError as e:
    raise ValueError(str(e)) from None
  hp = check_hyperparameters('deep-cfr', DEFAULTS, hyperparameters, fractions=('epsilon',))
  if hp['epsilon'] == 0:
    raise ValueError('epsilon must be > 0 (without exploration the traverser never '
                     'samples the actions its strategy gives probability 0)')
  eval_games = checked_int64(eval_games, 'eval_games')
  if eval_games < 2 or eval_games % 2:
    raise ValueError(f'eval_games must be an even number >= 2, got {eval_games}')
  return EnvDeepCFRSolver(env=env, hyperparameters=hp, hidden=check_hidden(hidden),
                          eval_games=eval_games)
