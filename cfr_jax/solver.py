"""SolverState and the solver (work in progress)."""
from flax import struct
import jax


@struct.dataclass
class SolverState:
  """Everything needed to continue a run bit for bit.

  regrets:      [I, A] cumulative (possibly discounted / clipped) regrets.
  strategy_sum: [I, A] weighted sum of reach-weighted current strategies.
  last_regrets: [I, A] previous instantaneous regrets (predictive algorithms; zeros otherwise).
  iteration:    [] int, number of completed iterations.
  """
  regrets: jax.Array
  strategy_sum: jax.Array
  last_regrets: jax.Array
  iteration: jax.Array
