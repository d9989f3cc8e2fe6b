"""What every Deep CFR variant shares: the network, regret matching on its
outputs, the losses, reservoir slots, the minibatch training loop and the
checks of user settings.

Deep CFR on a compiled game (deep_cfr.py) and Deep CFR on a generative env
(env_deep_cfr.py) differ in how they traverse the game and in what a memory
sample holds (an infoset row, or the feature vector itself); the rest is here
so that both learn the same way.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from flax import linen as nn
import jax
import jax.numpy as jnp
import optax

from cfr_jax.checks import checked_bool, checked_float, checked_int64, checked_seed


class MLP(nn.Module):
  """features [..., F] -> [..., A]: ReLU layers, then the last layer's input
  normalised (as in Deep CFR's networks: regrets grow and shrink by orders of
  magnitude over a run), then a linear output."""
  hidden: Sequence[int]
  outputs: int

  @nn.compact
  def __call__(self, x):
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.outputs)(nn.LayerNorm()(x))


def matched(advantages, legal):
  """Regret matching on predicted advantages [..., A]; where none is
  positive, the largest (ties share), as in Deep CFR."""
  positive = jnp.where(legal, jnp.maximum(advantages, 0), 0)
  total = positive.sum(-1, keepdims=True)
  masked = jnp.where(legal, advantages, -jnp.inf)
  best = (masked == masked.max(-1, keepdims=True)) & legal
  fallback = best / best.sum(-1, keepdims=True)
  return jnp.where(total > 0, positive / jnp.where(total > 0, total, 1), fallback)


def masked_softmax(logits, legal):
  logits = jnp.where(legal, logits, -jnp.inf)
  return jax.nn.softmax(logits, axis=-1)


def restarting_cosine(lr: float, period: int):
  """Cosine decay from lr to 0 over each `period` steps, restarting (the
  advantage networks are retrained every iteration)."""
  period = max(int(period), 1)
  return lambda count: lr * 0.5 * (1 + jnp.cos(jnp.pi * (count % period) / period))


def optimizers(hp: dict) -> tuple:
  """(advantage, policy) optax optimizers: Adam with global-norm clipping;
  the advantage networks' learning rate restarts its cosine every iteration."""
  adv = optax.chain(optax.clip_by_global_norm(1.0),
                    optax.adam(restarting_cosine(hp['learning_rate'], hp['advantage_steps'])))
  pol = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(hp['learning_rate']))
  return adv, pol


def advantage_loss(predicted, target, weight, legal):
  """Linear-CFR-weighted squared error over legal actions."""
  err = jnp.where(legal, predicted - target, 0)
  return jnp.mean(weight * jnp.sum(err * err, -1))


def policy_loss(logits, target, weight, legal):
  err = jnp.where(legal, masked_softmax(logits, legal) - target, 0)
  return jnp.mean(weight * jnp.sum(err * err, -1))


def reservoir_slots(key, mask, seen, size: int):
  """Where reservoir sampling (Vitter's algorithm R, vectorised) puts each of
  the [M] candidates where `mask` holds, offered in order to a reservoir of
  `size` that has seen `seen` samples: [M] int32 slots, `size` for dropped."""
  pos = seen + jnp.cumsum(mask) - 1  # each candidate's place in the stream
  draw = jax.random.randint(key, mask.shape, 0, jnp.maximum(pos + 1, 1))
  slot = jnp.where(pos < size, pos, draw)
  # Out of range: dropped (not kept, or not offered). Two candidates drawing
  # the same slot in one batch: one of them is kept, as if offered in turn.
  return jnp.where(mask & (slot < size), slot, size)


def fit(apply: Callable, opt, params, opt_state, key, steps, batch_size: int, filled,
        batch_of: Callable, loss_of: Callable, mesh=None):
  """`steps` Adam steps on minibatches of a memory holding `filled` samples
  (none while it is empty). batch_of(pick [batch_size] int32) -> (inputs,
  targets, weights, legal) of those samples; loss_of(outputs, targets,
  weights, legal) -> [] loss (a mean over the minibatch).

  mesh: a 1-D mesh splits each minibatch evenly over its devices, each
  computing its part's gradient, averaged across them (`pmean`): the same
  minibatch and, up to rounding, the same step as on one device.
  """
  def gradient(params, batch):
    inputs, *rest = batch
    return jax.grad(lambda p: loss_of(apply(p, inputs), *rest))(params)

  if mesh is not None:
    # The minibatch is gathered from the (replicated) memory outside, then
    # each device differentiates its rows: a memory closed over inside a
    # shard_map could not be indexed there.
    axis, spec = mesh.axis_names[0], jax.sharding.PartitionSpec
    local = gradient
    gradient = jax.shard_map(lambda p, batch: jax.lax.pmean(local(p, batch), axis),
                             mesh=mesh, in_specs=(spec(), spec(axis)), out_specs=spec(),
                             check_vma=False)

  def step(i, carry):
    params, opt_state = carry
    pick = jax.random.randint(jax.random.fold_in(key, i), (batch_size,), 0,
                              jnp.maximum(filled, 1))
    grads = gradient(params, batch_of(pick))
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return jax.lax.fori_loop(0, jnp.where(filled > 0, steps, 0), step, (params, opt_state))


class DeepCFRIteration:
  """One Deep CFR iteration, shared by the solvers that differ only in how
  they traverse and what a memory sample holds.

  Subclasses provide `hyperparameters`, `_new_params(key)`, `_adv_opt`,
  `_pol_opt`, `_fit(params, opt_state, opt, memory, key, steps, loss_of, now)`
  and `_sample(adv_params, p, key, now, memory, policy_memory, k_adv, k_pol)
  -> (memory, policy_memory)`: player p's traversals under the strategies the
  advantage networks give, offered to p's advantage memory and the policy
  memory. The state is a `deep_cfr.DeepCFRState`; `state_type` builds it.
  """

  def _iteration(self, _, state):
    hp = self.hyperparameters
    t = state.iteration + 1
    now = t.astype(jnp.float32)
    key = jax.random.fold_in(state.key, t)
    adv_params, adv_opt = state.advantage_params, state.advantage_opt
    adv_memory, pol_memory = state.advantage_memory, state.policy_memory
    player = lambda tree, p: jax.tree.map(lambda x: x[p], tree)
    put = lambda tree, p, new: jax.tree.map(lambda m, x: m.at[p].set(x), tree, new)
    for p in (0, 1):
      k_walk, k_adv, k_pol, k_init, k_fit = jax.random.split(jax.random.fold_in(key, p), 5)
      memory, pol_memory = self._sample(adv_params, p, k_walk, now, player(adv_memory, p),
                                        pol_memory, k_adv, k_pol)
      adv_memory = put(adv_memory, p, memory)
      params, opt_state = player(adv_params, p), player(adv_opt, p)
      if hp['reinitialize']:
        params = self._new_params(k_init)
        opt_state = self._adv_opt.init(params)
      params, opt_state = self._fit(params, opt_state, self._adv_opt, memory, k_fit,
                                    hp['advantage_steps'], advantage_loss, now)
      adv_params, adv_opt = put(adv_params, p, params), put(adv_opt, p, opt_state)

    pol_params, pol_opt = self._fit(state.policy_params, state.policy_opt, self._pol_opt,
                                    pol_memory, jax.random.fold_in(key, 2),
                                    hp['policy_steps'], policy_loss, now)
    return type(state)(adv_params, adv_opt, pol_params, pol_opt, adv_memory, pol_memory,
                       t, state.key)

  def _run_impl(self, state, n):
    return jax.lax.fori_loop(0, n, self._iteration, state)


def check_hyperparameters(name: str, defaults: dict, given: dict, floats=('learning_rate',),
                          bools=('reinitialize',), may_be_zero=('seed', 'policy_steps'),
                          fractions=()) -> dict:
  """`defaults` updated with `given`, each value checked and cast (ValueError
  naming the first bad or unknown one). floats: positive; fractions: in
  [0, 1]; bools; the rest whole numbers >= 1 (>= 0 for `may_be_zero`)."""
  unknown = set(given) - set(defaults)
  if unknown:
    raise ValueError(f'{name} takes {sorted(defaults)}; got unknown {sorted(unknown)}')
  hp = {**defaults, **given}
  for k in defaults:
    if k in bools:
      hp[k] = checked_bool(hp[k], k)
    elif k in floats or k in fractions:
      hp[k] = checked_float(hp[k], k)
      if k in floats and not (math.isfinite(hp[k]) and hp[k] > 0):
        raise ValueError(f'{k} must be a positive number, got {hp[k]}')
      if k in fractions and not 0 <= hp[k] <= 1:
        raise ValueError(f'{k} must be in [0, 1], got {hp[k]}')
    else:
      # a whole number (that fits int64; a seed, the 32 bits a PRNG key is made from)
      hp[k] = checked_seed(hp[k], k) if k == 'seed' else checked_int64(hp[k], k)
      low = 0 if k in may_be_zero else 1
      if hp[k] < low:
        raise ValueError(f'{k} must be >= {low}, got {hp[k]}')
  return hp


def check_hidden(hidden) -> tuple:
  """`hidden` as a tuple of ints; ValueError unless one or more whole widths
  >= 1 (int() made 64.5 a width of 64, True one of 1, in silence)."""
  try:
    widths = tuple(hidden)
    widths = tuple(checked_int64(h, 'hidden') for h in widths)
  except (TypeError, ValueError):
    widths = ()
  if not widths or min(widths) < 1:
    raise ValueError(f'hidden must be one or more positive layer widths, got {hidden!r}')
  return widths
