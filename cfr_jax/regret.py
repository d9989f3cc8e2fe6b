"""The regret-update kernels of the CFR family, written for one infoset.

Each algorithm is a pair of pure functions over one infoset's `[A]` vectors,
elementwise (regret matching's sums are per row), so the solver applies them
to blocks of `[rows, A]` at once:

  policy(regrets, last_regrets, t, hp, legal) -> strategy to play at iteration t
  update(regrets, last_regrets, inst_regret, t, hp) -> (regrets, last_regrets)

`t` is the 1-based iteration (a float); `hp` a dict of traced hyperparameters,
so changing them does not recompile. All algorithms share `accumulate`, the
average strategy's sum, which weighs iteration k by k^gamma (gamma = 0 is
CFR's plain sum, 1 linear averaging, 2 DCFR's and PCFR+'s quadratic weights).

References:
  CFR:      Zinkevich et al., "Regret minimization in games with incomplete information", 2007.
  CFR+:     Tammelin, "Solving large imperfect information games using CFR+", 2014.
  LCFR, DCFR: Brown & Sandholm, "Solving imperfect-information games via discounted regret minimization", AAAI 2019.
  PCFR+:    Farina, Kroer & Sandholm, "Faster game solving via predictive Blackwell approachability", AAAI 2021.
  DCFR+, PDCFR+: Xu et al., "Minimizing weighted counterfactual regret with optimistic online mirror descent", IJCAI 2024.
  SAPCFR+:  Meng, Yang, Zhang, Ge & Gao, "Faster game solving via asymmetry of step sizes",
            arXiv:2503.12770 v2, 2025 (v1 called it "Asynchronous PCFR+").

Hyperparameter schedules (`SCHEDULES`) make an algorithm's hyperparameters
functions of the iteration; they are traced like the hyperparameters:
  'hs':       Zhang, McAleer & Sandholm, "Faster game solving via hyperparameter
              schedules", arXiv:2404.09097 (v2, eq. 4): HS-DCFR, HS-PCFR+ (and
              its gamma schedule on PDCFR+).
  'postflop': the DCFR variant of postflop-solver (b-inary/postflop-solver,
              src/solver.rs, `DiscountParams`): alpha 1.5 one iteration late,
              negatives halved, cubic averaging restarted at powers of 4.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


def regret_matching(regrets, legal):
  """[..., A] -> [..., A]: positive regrets normalised; uniform over legal
  actions if none (each row on its own: the leading axes are rows)."""
  positive = jnp.where(legal, jnp.maximum(regrets, 0), 0)
  # Summed in a fixed order: XLA's reduction order changes under vmap, and
  # vmapped instances must match separate runs bit for bit.
  total = sum(positive[..., a:a + 1] for a in range(positive.shape[-1]))
  uniform = legal / legal.sum(-1, keepdims=True).astype(regrets.dtype)
  return jnp.where(total > 0, positive / jnp.where(total > 0, total, 1), uniform)


def accumulate(strategy_sum, low, reached_strategy, t, gamma):
  """One step of the average strategy's sum, weighing iteration t by t^gamma,
  to float rounding exactly: `strategy_sum + low` is the sum, `low` what
  rounding would have lost.

  The sum is kept scaled by 2^-e_t, e_t = floor(gamma * log2 t), so that it
  stays of order t and rescaling is an exact power-of-two multiply; the
  addition is an exact TwoSum. A plain float32 `S * ((t-1)/t)^gamma + x`
  instead loses low-probability actions and drifts by rounding: on Leduc its
  exploitability climbed from 7e-6 at 1e4 iterations to 2e-4 at 1e5 (measured).
  """
  log_weight = gamma * jnp.log2(t)
  previous = jnp.where(t > 1, gamma * jnp.log2(jnp.maximum(t - 1, 1)), log_weight)
  return accumulate_weighted(strategy_sum, low, reached_strategy, log_weight, previous)


def accumulate_weighted(strategy_sum, low, reached_strategy, log_weight, previous_log_weight):
  """`accumulate` for any weights: iteration t weighs 2^log_weight, the sum
  so far having been kept relative to 2^previous_log_weight (the previous
  iteration's log_weight; -inf restarts the sum from this iteration).

  A sum whose iterations are discounted by factors d_k (S_t = d_t S_{t-1} + x_t)
  is this with log_weight_t = sum_{k <= t} -log2 d_k (up to a constant): the
  log-weights come in closed form from t, so nothing is accumulated but the
  sum itself, which stays exact to rounding as in `accumulate`.
  """
  exponent = jnp.floor(log_weight)
  shift = jnp.exp2(jnp.floor(previous_log_weight) - exponent)  # a power of two (0 on restart)
  weight = jnp.exp2(log_weight - exponent)  # in [1, 2)
  big = strategy_sum * shift
  small = low * shift + weight * reached_strategy
  total = big + small  # TwoSum: total + error == big + small exactly
  from_small = total - big
  error = (big - (total - from_small)) + (small - from_small)
  return total, error


def _power_weight(t, p):
  """t^p / (t^p + 1), written so that large t^p cannot overflow to inf/inf."""
  return 1 / (1 + t ** -p)


def _discount(regrets, t, alpha, beta):
  """DCFR's discount of accumulated regrets after iteration t."""
  return regrets * jnp.where(regrets > 0, _power_weight(t, alpha), _power_weight(t, beta))


# --- CFR: plain regret sums, uniform average.
def _cfr_policy(regrets, last, t, hp, legal):
  del last, t, hp
  return regret_matching(regrets, legal)


def _cfr_update(regrets, last, inst, t, hp):
  del t, hp
  return regrets + inst, last


# --- CFR+: regrets floored at 0, linear averaging (gamma = 1).
def _cfr_plus_update(regrets, last, inst, t, hp):
  del t, hp
  return jnp.maximum(regrets + inst, 0), last


# --- DCFR(alpha, beta, gamma); linear CFR is DCFR(1, 1, 1).
def _dcfr_update(regrets, last, inst, t, hp):
  return _discount(regrets + inst, t, hp['alpha'], hp['beta']), last


# --- DCFR+: CFR+'s floor at 0 with DCFR's discount of positive regrets (alpha);
# regrets after iteration t-1 are discounted by (t-1)^alpha / ((t-1)^alpha + 1)
# as iteration t's regrets are added (Xu et al. 2024, alpha 1.5 and gamma 4
# as there; their reference code, rpSebastian/PDCFRPlus, writes + 1.5 in that
# denominator: on Leduc the difference is within a rounding draw, see bench/RESULTS.md).
def _dcfr_plus_update(regrets, last, inst, t, hp):
  return jnp.maximum(regrets * _power_weight(t - 1, hp['alpha']) + inst, 0), last


# --- PCFR+: CFR+ whose strategy also counts the last regret as a prediction.
def _pcfr_plus_policy(regrets, last, t, hp, legal):
  del t, hp
  return regret_matching(regrets + last, legal)


def _pcfr_plus_update(regrets, last, inst, t, hp):
  del last, t, hp
  return jnp.maximum(regrets + inst, 0), inst


# --- SAPCFR+: PCFR+ whose prediction takes a smaller step than the regrets:
# the strategy plays [R + r_last / (1 + alpha)]^+ with the asymmetry alpha fixed
# at 2 (Meng et al.: "a single-line modification" of PCFR+; their APCFR+ adapts
# alpha per iteration). `prediction` is that 1 / (1 + alpha); 1 is PCFR+.
# Regrets, their floor and the quadratic average are PCFR+'s.
def _sapcfr_plus_policy(regrets, last, t, hp, legal):
  del t
  return regret_matching(regrets + hp['prediction'] * last, legal)


# --- PDCFR+: PCFR+ with DCFR's discount of positive regrets (alpha).
def _pdcfr_plus_policy(regrets, last, t, hp, legal):
  # Strategy of iteration t: regrets after t-1, discounted as of t-1, plus prediction.
  return regret_matching(regrets * _power_weight(t - 1, hp['alpha']) + last, legal)


def _pdcfr_plus_update(regrets, last, inst, t, hp):
  del last
  return jnp.maximum(regrets * _power_weight(t - 1, hp['alpha']) + inst, 0), inst


class Algorithm(NamedTuple):
  policy: Callable
  update: Callable
  defaults: dict  # hyperparameters and their default values
  fixed: tuple = ()  # hyperparameters the algorithm's definition fixes
  predictive: bool = False  # whether policy/update read last_regrets


ALGORITHMS = {
    'cfr': Algorithm(_cfr_policy, _cfr_update, {'gamma': 0.0}),
    'cfr+': Algorithm(_cfr_policy, _cfr_plus_update, {'gamma': 1.0}),
    'linear_cfr': Algorithm(_cfr_policy, _dcfr_update,
                            {'alpha': 1.0, 'beta': 1.0, 'gamma': 1.0},
                            fixed=('alpha', 'beta', 'gamma')),
    'dcfr': Algorithm(_cfr_policy, _dcfr_update,
                      {'alpha': 1.5, 'beta': 0.0, 'gamma': 2.0}),
    'dcfr+': Algorithm(_cfr_policy, _dcfr_plus_update, {'alpha': 1.5, 'gamma': 4.0}),
    'pcfr+': Algorithm(_pcfr_plus_policy, _pcfr_plus_update, {'gamma': 2.0},
                       predictive=True),
    'pdcfr+': Algorithm(_pdcfr_plus_policy, _pdcfr_plus_update,
                        {'alpha': 2.3, 'gamma': 5.0}, predictive=True),
    'sapcfr+': Algorithm(_sapcfr_plus_policy, _pcfr_plus_update,
                         {'gamma': 2.0, 'prediction': 1 / 3}, predictive=True),
}
ALIASES = {'cfrplus': 'cfr+', 'cfr_plus': 'cfr+', 'lcfr': 'linear_cfr',
           'dcfr_plus': 'dcfr+', 'dcfrplus': 'dcfr+', 'pcfr_plus': 'pcfr+',
           'pcfrplus': 'pcfr+', 'pdcfr_plus': 'pdcfr+', 'pdcfrplus': 'pdcfr+',
           'sapcfr_plus': 'sapcfr+', 'sapcfrplus': 'sapcfr+'}


def get_algorithm(name: str) -> tuple[str, Algorithm]:
  """Canonical name and definition; ValueError naming the choices if unknown.

  A scheduled name ('hs_dcfr', 'hs_pcfr+', 'postflop_dcfr', see
  `parse_algorithm`) gives its base algorithm."""
  key, _ = parse_algorithm(name)
  return key, ALGORITHMS[key]


def parse_algorithm(name: str) -> tuple[str, str | None]:
  """(canonical algorithm, schedule or None) of an algorithm name, which may
  name a schedule too: 'hs_dcfr' is ('dcfr', 'hs'), 'postflop_dcfr' is
  ('dcfr', 'postflop'). ValueError naming the choices if unknown."""
  key = str(name).strip().lower().replace('-', '_')
  key, schedule = SCHEDULED_NAMES.get(key, (key, None))
  key = ALIASES.get(key, key)
  if key not in ALGORITHMS:
    raise ValueError(f'unknown algorithm {name!r}; choose one of '
                     f'{", ".join(list(ALGORITHMS) + list(SCHEDULED_NAMES))}')
  return key, schedule


# --- Hyperparameter schedules.
#
# A schedule maps (hp, t) to the hyperparameters of iteration t (t: 1-based,
# a float), the time the regret discount of iteration t uses, and the average
# strategy's log2-weights (this iteration's and the previous one's, for
# `accumulate_weighted`). Everything is a closed-form function of t and the
# traced hp, so `run(run(s, a), b) == run(s, a + b)` bit for bit.


def _progress(t, horizon):
  return jnp.minimum(t / horizon, 1)


def _hs_log_weight(t, gamma0, horizon):
  """log2 of the weight of iteration t in HS's average, up to a constant:
  S_t = S_{t-1} ((t-1)/t)^gamma(t-1) + x_t with gamma(k) = gamma0 - 5 min(k/n, 1),
  so log_weight_t = sum_{k<t} gamma(k) log2((k+1)/k)
    = gamma0 log2 t - (5/n) sum_{k<min(t, n+1)} k log2((k+1)/k) - 5 log2(t/(n+1))^+,
  and sum_{k<m} k log2((k+1)/k) = ((m-1) ln m - ln Gamma(m)) / ln 2 exactly."""
  m = jnp.minimum(t, horizon + 1)
  ramp = ((m - 1) * jnp.log(m) - jax.lax.lgamma(m)) / jnp.log(2.0).astype(t.dtype)
  beyond = jnp.maximum(jnp.log2(t) - jnp.log2(horizon + 1), 0)
  return gamma0 * jnp.log2(t) - 5 * ramp / horizon - 5 * beyond


def _hs_weights(hp, t):
  log_weight = lambda k: _hs_log_weight(k, hp['gamma'], hp['horizon'])
  now = log_weight(t)
  return now, jnp.where(t > 1, log_weight(jnp.maximum(t - 1, 1)), now)


def _hs_dcfr_hyperparameters(hp, t):
  """HS-DCFR: the regrets discounted after iteration t use alpha = 1 + 3 p and
  beta = -1 - 2 p, p = min(t / horizon, 1)."""
  p = _progress(t, hp['horizon'])
  return {**hp, 'alpha': 1 + 3 * p, 'beta': -1 - 2 * p}, t


def _same_hyperparameters(hp, t):
  return hp, t


def _postflop_hyperparameters(hp, t):
  """postflop-solver discounts the regrets accumulated through iteration t
  by (t-1)^alpha / ((t-1)^alpha + 1) (0 after the first iteration)."""
  return hp, t - 1


def _postflop_weights(hp, t):
  """postflop-solver's average: with s = t - 1 (its 0-based iteration) and
  p = the largest power of 4 <= s (0 for s = 0), S = S (s-p)^g/(s-p+1)^g + x,
  so iteration t weighs (t - p)^gamma, and the sum restarts when s = p."""
  s = (t - 1).astype(jnp.int32)
  bits = 31 - jax.lax.clz(jnp.maximum(s, 1))  # floor(log2 s)
  p = jnp.where(s > 0, jnp.left_shift(1, bits - bits % 2), 0).astype(t.dtype)
  now = hp['gamma'] * jnp.log2(t - p)
  restart = (s == p) & (s > 0)
  previous = hp['gamma'] * jnp.log2(jnp.maximum(t - 1 - p, 1))
  previous = jnp.where(restart, -jnp.inf, jnp.where(t > 1, previous, now))
  return now, previous


class Schedule(NamedTuple):
  hyperparameters: Callable  # (hp, t) -> (hp of iteration t, t of its regret discount)
  weights: Callable  # (hp, t) -> (log2-weight of iteration t, of iteration t - 1)
  defaults: dict  # hyperparameters of the scheduled algorithm and their defaults
  fixed: tuple = ()  # hyperparameters the schedule fixes


# HS's horizon is the number of iterations the run is planned for (the paper
# sets it to the run's length); past it the hyperparameters stay at their final
# values. gamma is gamma_0, the averaging exponent at iteration 0 (HS-X(30);
# gamma=15 gives HS-X(15)).
_HS_DEFAULTS = {'gamma': 30.0, 'horizon': 1000.0}
SCHEDULES = {
    ('dcfr', 'hs'): Schedule(_hs_dcfr_hyperparameters, _hs_weights, dict(_HS_DEFAULTS),
                             fixed=('alpha', 'beta')),
    ('pcfr+', 'hs'): Schedule(_same_hyperparameters, _hs_weights, dict(_HS_DEFAULTS)),
    ('pdcfr+', 'hs'): Schedule(_same_hyperparameters, _hs_weights,
                               {'alpha': 2.3, **_HS_DEFAULTS}),
    ('dcfr', 'postflop'): Schedule(_postflop_hyperparameters, _postflop_weights,
                                   {'alpha': 1.5, 'beta': 0.0, 'gamma': 3.0}),
}
SCHEDULED_NAMES = {'hs_dcfr': ('dcfr', 'hs'), 'hs_pcfr+': ('pcfr+', 'hs'),
                   'hs_pcfr_plus': ('pcfr+', 'hs'), 'hs_pdcfr+': ('pdcfr+', 'hs'),
                   'hs_pdcfr_plus': ('pdcfr+', 'hs'), 'postflop_dcfr': ('dcfr', 'postflop'),
                   'dcfr_postflop': ('dcfr', 'postflop')}


def get_schedule(algorithm: str, schedule: str) -> Schedule:
  """The schedule `schedule` of the canonical `algorithm`; ValueError if none."""
  key = (algorithm, str(schedule).strip().lower())
  if key not in SCHEDULES:
    choices = sorted(f'{s} ({a})' for a, s in SCHEDULES)
    raise ValueError(f'no schedule {schedule!r} for {algorithm}; choose one of '
                     f'{", ".join(choices)}')
  return SCHEDULES[key]
