"""Deep CFR (Brown, Lerer, Gross & Sandholm, "Deep counterfactual regret
minimization", ICML 2019) on games that compile, with flax networks, optax
optimizers and reservoir memories held as fixed-size device arrays.

One Deep CFR iteration t, for each player p in turn:
  1. `traversals` external-sampling traversals (traversal.py, vmapped) under
     the strategies the advantage networks give by regret matching (all
     predicted advantages <= 0: the largest one, ties shared, as the paper);
  2. each traverser infoset on a path adds (infoset, t, sampled regrets) to
     p's advantage memory, each opponent infoset (infoset, t, its strategy) to
     the strategy memory, by reservoir sampling;
  3. p's advantage network is trained `advantage_steps` Adam steps on its
     memory, loss sum_i t_i |V(I_i) - r_i|^2 over legal actions (linear CFR's
     weights), from fresh parameters when `reinitialize` (as the paper).
Then the average-strategy network takes `policy_steps` Adam steps on the
strategy memory (loss t_i |softmax(Pi(I_i)) - sigma_i|^2), continuing from its
previous parameters, so `average_policy` is available after every iteration
and exploitability is exact on every infoset.

Everything a resumed run needs (parameters, optimizer states, memories,
iteration, RNG key) is in `DeepCFRState`; the key of iteration t is derived
from the state's key and t, so `run(run(s, a), b) == run(s, a + b)` bit for
bit on CPU.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from cfr_jax import placement
from cfr_jax.games.tree import Game
from cfr_jax.checks import checked_count, checked_state
from cfr_jax.neural.common import (MLP, DeepCFRIteration, check_hidden,
                                   check_hyperparameters, fit, matched, masked_softmax,
                                   optimizers, reservoir_slots)
from cfr_jax.neural.features import infoset_features
from cfr_jax.neural.traversal import external_sampling
from cfr_jax.policy import TabularPolicy


DEFAULTS = {
    'traversals': 256,  # per player and iteration
    # Leduc's advantage networks fit their memories (error 0.0125 against
    # targets of 0.057, in units of the largest payoff) with 1,000 steps of
    # 1,024 at 3e-3; 200 of 512 at 1e-3 left the error at 0.071 of 0.091.
    'advantage_steps': 1000,  # Adam steps per player and iteration
    'policy_steps': 200,  # Adam steps of the average-strategy network per iteration
    'batch_size': 1024,
    'advantage_memory': 200_000,  # samples per player
    'policy_memory': 400_000,
    'learning_rate': 3e-3,
    'reinitialize': True,  # advantage networks from fresh parameters every iteration
    'seed': 0,
}


@struct.dataclass
class Memory:
  """A reservoir of samples (Vitter's algorithm R, vectorised).

  ids: [B] int32 infoset slots; targets: [B, A]; weights: [B] the iteration
  that produced each sample; seen: [] int32 samples offered so far (each was
  kept with probability B / seen).
  """
  ids: jax.Array
  targets: jax.Array
  weights: jax.Array
  seen: jax.Array

  @staticmethod
  def empty(size: int, num_actions: int) -> 'Memory':
    return Memory(jnp.zeros(size, jnp.int32), jnp.zeros((size, num_actions), jnp.float32),
                  jnp.zeros(size, jnp.float32), jnp.zeros((), jnp.int32))

  def add(self, key, mask, ids, targets, weight) -> 'Memory':
    """Offers the [M] candidates where `mask` holds, in order."""
    slot = reservoir_slots(key, mask, self.seen, self.ids.shape[0])
    put = lambda buf, x: buf.at[slot].set(jnp.asarray(x, buf.dtype), mode='drop')
    return Memory(put(self.ids, ids), put(self.targets, targets),
                  put(self.weights, jnp.broadcast_to(weight, mask.shape)),
                  self.seen + mask.sum(dtype=jnp.int32))


@struct.dataclass
class DeepCFRState:
  """Everything needed to continue a Deep CFR run bit for bit.

  advantage_params / advantage_opt: the two players' advantage networks and
  their Adam states, stacked on a leading [2] axis. policy_params /
  policy_opt: the average-strategy network. advantage_memory: [2]-stacked
  reservoirs; policy_memory: one. iteration: [] int32 completed iterations.
  key: [2] uint32, the run's base RNG key.
  """
  advantage_params: Any
  advantage_opt: Any
  policy_params: Any
  policy_opt: Any
  advantage_memory: Memory
  policy_memory: Memory
  iteration: jax.Array
  key: jax.Array


@dataclasses.dataclass(frozen=True, eq=False)
class DeepCFRSolver(DeepCFRIteration):
  """Deep CFR bound to a compiled game. Build it with `make_deep_cfr`."""
  game: Game
  hyperparameters: dict
  hidden: tuple = (64, 64)
  algorithm: str = 'deep-cfr'
  mesh: Any = None  # a 1-D mesh splits every training minibatch over its devices

  def __post_init__(self):
    hp = self.hyperparameters
    features, kind = infoset_features(self.game)
    # Regrets are learnt in units of the largest payoff: targets of order 1
    # train in far fewer steps than raw chips (Leduc's reach 13), and regret
    # matching does not see the scale.
    scale = float(np.abs(self.game.info.float_arrays['utility']).max()) or 1.0
    object.__setattr__(self, '_scale', scale)
    net = MLP(tuple(self.hidden), self.game.num_actions)
    adv_opt, pol_opt = optimizers(hp)
    for name, value in (('_features', jnp.asarray(features)), ('feature_kind', kind),
                        ('_net', net), ('_adv_opt', adv_opt), ('_pol_opt', pol_opt)):
      object.__setattr__(self, name, value)
    object.__setattr__(self, '_run', jax.jit(self._run_impl, donate_argnums=(0,)))
    object.__setattr__(self, '_init', jax.jit(self._init_impl))
    object.__setattr__(self, '_policy_probs', jax.jit(self._policy_impl))
    object.__setattr__(self, '_current', jax.jit(self._strategy))

  # --- public API (the tabular Solver's) ------------------------------------

  def init(self) -> DeepCFRState:
    """Fresh networks, empty memories, iteration 0 (whole on every device
    of the mesh, if any)."""
    state = self._init()
    return state if self.mesh is None else placement.put(state, self._replicated)

  @property
  def _replicated(self):
    return jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())

  def run(self, state: DeepCFRState, num_iterations: int) -> DeepCFRState:
    """Runs `num_iterations` more Deep CFR iterations in one jitted call
    (`state` is donated)."""
    n = checked_count(checked_state(self, state).iteration, num_iterations)
    return self._run(state, placement.to_device(n, np.int32))

  def abstract_state(self) -> DeepCFRState:
    """Shapes and dtypes (and, with a mesh, shardings) of a state (for
    restoring checkpoints)."""
    shapes = jax.eval_shape(self._init_impl)
    if self.mesh is None:
      return shapes
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                       sharding=self._replicated), shapes)

  def average_policy(self, state: DeepCFRState) -> TabularPolicy:
    """The average-strategy network's policy on every infoset."""
    probs = self._policy_probs(checked_state(self, state).policy_params)
    return TabularPolicy(self.game.info, np.asarray(probs), np.asarray(self.game.legal),
                         normalised=True)

  def current_policy(self, state: DeepCFRState) -> TabularPolicy:
    """The strategy the advantage networks give (what the next iteration plays)."""
    probs = self._current(checked_state(self, state).advantage_params)
    return TabularPolicy(self.game.info, np.asarray(probs), np.asarray(self.game.legal),
                         normalised=True)

  def describe(self) -> dict:
    """What gives a state its meaning (for checkpoint fingerprints): the game,
    the algorithm and its settings, the network architecture and its inputs."""
    return {'game': self.game.info.spec, 'algorithm': 'deep-cfr',
            'hyperparameters': dict(self.hyperparameters),
            'network': {'kind': 'mlp', 'hidden': list(self.hidden),
                        'features': self.feature_kind,
                        'feature_size': int(self._features.shape[1])},
            'dtype': 'float32',
            'shape': [self.game.num_infosets, self.game.num_actions]}

  # --- the jitted pieces --------------------------------------------------

  def _new_params(self, key):
    return self._net.init(key, self._features[:1])

  def _init_impl(self) -> DeepCFRState:
    hp, a = self.hyperparameters, self.game.num_actions
    key = jax.random.PRNGKey(hp['seed'])
    k_adv, k_pol = jax.random.split(jax.random.fold_in(key, 0))  # iterations use t >= 1
    adv = jax.vmap(self._new_params)(jax.random.split(k_adv))
    pol = self._new_params(k_pol)
    memory = Memory.empty(hp['advantage_memory'], a)
    return DeepCFRState(
        advantage_params=adv, advantage_opt=jax.vmap(self._adv_opt.init)(adv),
        policy_params=pol, policy_opt=self._pol_opt.init(pol),
        advantage_memory=jax.tree.map(lambda x: jnp.stack([x, x]), memory),
        policy_memory=Memory.empty(hp['policy_memory'], a),
        iteration=jnp.zeros((), jnp.int32), key=key)

  def _strategy(self, advantage_params):
    """[I, A] both players' current strategies from their networks."""
    out = jax.vmap(self._net.apply, in_axes=(0, None))(advantage_params, self._features)
    player = self.game.infoset_player[:, None]
    return matched(jnp.where(player == 0, out[0], out[1]), self.game.legal)

  def _policy_impl(self, policy_params):
    return masked_softmax(self._net.apply(policy_params, self._features), self.game.legal)

  def _fit(self, params, opt_state, opt, memory, key, steps, loss_of, now):
    """`steps` Adam steps on minibatches of `memory` (none while it is empty)."""
    legal = self.game.legal

    def batch_of(pick):
      ids = memory.ids[pick]
      return self._features[ids], memory.targets[pick], memory.weights[pick] / now, legal[ids]
    return fit(self._net.apply, opt, params, opt_state, key, steps,
               self.hyperparameters['batch_size'], jnp.minimum(memory.seen, memory.ids.shape[0]),
               batch_of, loss_of, self.mesh)

  def _sample(self, adv_params, p, k_walk, now, memory, pol_memory, k_adv, k_pol):
    hp, game = self.hyperparameters, self.game
    ids = jnp.tile(jnp.arange(game.num_infosets, dtype=jnp.int32), hp['traversals'])
    sigma = self._strategy(adv_params)
    walks = jax.random.split(k_walk, hp['traversals'])
    mine, regrets, theirs = jax.vmap(external_sampling, in_axes=(None, None, None, 0))(
        game, sigma, p, walks)
    memory = memory.add(k_adv, mine.reshape(-1), ids,
                        regrets.reshape(-1, game.num_actions) / self._scale, now)
    return memory, pol_memory.add(k_pol, theirs.reshape(-1), ids, sigma[ids], now)


def make_deep_cfr(game: Game, hidden: Sequence[int] = (64, 64), mesh=None,
                  **hyperparameters) -> DeepCFRSolver:
  """A Deep CFR solver for a compiled `game` (not a hold'em subgame).

  hidden: the widths of the networks' hidden layers (advantage and average
    strategy networks share the architecture).
  mesh: None (one device) or a 1-D mesh (`cfr_jax.make_mesh`): the state is
    whole on every device and each Adam step's minibatch is split over them,
    the gradients averaged (data parallelism; on a CPU, simulated host
    devices put one device on each core). batch_size must split evenly.
  hyperparameters (defaults in `DEFAULTS`): traversals, advantage_steps,
    policy_steps, batch_size, advantage_memory, policy_memory (samples),
    learning_rate (Adam; the advantage networks' decays to 0 over each
    iteration's steps), reinitialize (bool), seed.
  """
  if not isinstance(game, Game):
    raise TypeError('deep-cfr needs a game from cfr_jax.load_game (hold\'em subgames are '
                    f'solved full-width), got {type(game).__name__}')
  hp = check_hyperparameters('deep-cfr', DEFAULTS, hyperparameters)
  hidden = check_hidden(hidden)
  if mesh is not None:
    if not isinstance(mesh, jax.sharding.Mesh) or len(mesh.axis_names) != 1:
      raise ValueError(f'deep-cfr takes a 1-D jax.sharding.Mesh (cfr_jax.make_mesh), got '
                       f'{mesh!r}')
    if hp['batch_size'] % mesh.size:
      raise ValueError(f"batch_size {hp['batch_size']} does not split evenly over "
                       f'{mesh.size} devices')
  return DeepCFRSolver(game=game, hyperparameters=hp, hidden=hidden, mesh=mesh)
