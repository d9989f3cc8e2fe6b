r"""An independent, plain-Python check of the CFR kernels' curves.

    python bench/reference_cfr.py --game=leduc_poker --algorithm=pcfr+ --iterations=1000
    python bench/reference_cfr.py --game=kuhn_poker --algorithm=dcfr

Recursive tabular CFR over OpenSpiel's game tree (pyspiel), float64 numpy,
alternating updates, written from the papers and sharing no code with
cfr_jax: PCFR+ (Farina, Kroer & Sandholm 2021: strategy from
[R + m]^+ with m the last instantaneous regret, R floored at 0, quadratic
averaging), CFR+ (linear averaging) and DCFR(1.5, 0, 2) (Brown & Sandholm
2019). Exploitability is OpenSpiel's (NashConv / 2) of the average policy,
printed at 10, 30, 100, 300, 1,000, ... iterations. It is slow (Leduc: about
a minute per 1,000 iterations) and exists to tell an implementation bug from
an algorithm's real curve (bench/RESULTS.md, "Convergence").
"""
import argparse
import time

import numpy as np
import pyspiel
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import exploitability

CHECKPOINTS = (10, 30, 100, 300, 1000, 3000, 10000)


class Tree:
  """The game tree as flat lists: kind ('t', 'c', 'd'), acting player,
  infoset index, children, chance probabilities, player 0's utility."""

  def __init__(self, game):
    self.kind, self.player, self.infoset, self.children = [], [], [], []
    self.probs, self.utility = [], []
    self.keys, self.actions, self.owner, self._index = [], [], [], {}
    self._add(game.new_initial_state())

  def _add(self, state) -> int:
    n = len(self.kind)
    for column, value in ((self.kind, 'd'), (self.player, -1), (self.infoset, -1),
                          (self.children, ()), (self.probs, ()), (self.utility, 0.0)):
      column.append(value)
    if state.is_terminal():
      self.kind[n], self.utility[n] = 't', state.returns()[0]
    elif state.is_chance_node():
      outcomes = state.chance_outcomes()
      self.kind[n], self.probs[n] = 'c', [p for _, p in outcomes]
      self.children[n] = [self._add(state.child(a)) for a, _ in outcomes]
    else:
      p = state.current_player()
      key, legal = state.information_state_string(p), state.legal_actions()
      if key not in self._index:
        self._index[key] = len(self.keys)
        self.keys.append(key)
        self.actions.append(legal)
        self.owner.append(p)
      self.player[n], self.infoset[n] = p, self._index[key]
      self.children[n] = [self._add(state.child(a)) for a in legal]
    return n


def regret_matching(x):
  positive = np.maximum(x, 0)
  total = positive.sum()
  return positive / total if total > 0 else np.full(len(x), 1 / len(x))


def solve(game, algorithm: str, iterations: int, checkpoints=CHECKPOINTS):
  """Yields (iteration, exploitability of the average policy) at `checkpoints`
  and at the last iteration."""
  tree = Tree(game)
  sizes = [len(a) for a in tree.actions]
  regrets = [np.zeros(k) for k in sizes]
  last = [np.zeros(k) for k in sizes]  # PCFR+'s prediction
  sums = [np.zeros(k) for k in sizes]
  strategy = lambda i: regret_matching(regrets[i] + last[i])  # last is 0 but for PCFR+
  sigma = [strategy(i) for i in range(len(sizes))]
  gamma = {'pcfr+': 2.0, 'cfr+': 1.0, 'dcfr': 2.0}[algorithm]
  owned = [[i for i, p in enumerate(tree.owner) if p == me] for me in (0, 1)]

  def walk(n, me, reach_others, reach_mine, inst, weight):
    kind = tree.kind[n]
    if kind == 't':
      return tree.utility[n] if me == 0 else -tree.utility[n]
    if kind == 'c':
      return sum(p * walk(c, me, reach_others * p, reach_mine, inst, weight)
                 for c, p in zip(tree.children[n], tree.probs[n]))
    i, s = tree.infoset[n], sigma[tree.infoset[n]]
    if tree.player[n] != me:
      return sum(s[a] * walk(c, me, reach_others * s[a], reach_mine, inst, weight)
                 for a, c in enumerate(tree.children[n]))
    values = np.array([walk(c, me, reach_others, reach_mine * s[a], inst, weight)
                       for a, c in enumerate(tree.children[n])])
    value = float(s @ values)
    inst[i] += reach_others * (values - value)
    sums[i] += weight * reach_mine * s
    return value

  def average():
    policy = policy_lib.TabularPolicy(game)
    for i, (key, legal) in enumerate(zip(tree.keys, tree.actions)):
      row = policy.state_lookup[key]
      policy.action_probability_array[row] = 0
      policy.action_probability_array[row, legal] = regret_matching(sums[i])
    return policy

  for t in range(1, iterations + 1):
    for me in (0, 1):
      inst = [np.zeros(k) for k in sizes]
      walk(0, me, 1.0, 1.0, inst, float(t) ** gamma)
      for i in owned[me]:
        if algorithm == 'dcfr':
          r = regrets[i] + inst[i]
          regrets[i] = np.where(r > 0, r * t ** 1.5 / (t ** 1.5 + 1), r * 0.5)
        else:
          regrets[i] = np.maximum(regrets[i] + inst[i], 0)
          if algorithm == 'pcfr+':
            last[i] = inst[i]
        sigma[i] = strategy(i)
    if t in checkpoints or t == iterations:
      yield t, exploitability.exploitability(game, average())


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--game', default='leduc_poker', help='an OpenSpiel game string')
  parser.add_argument('--algorithm', default='pcfr+', choices=('pcfr+', 'cfr+', 'dcfr'))
  parser.add_argument('--iterations', type=int, default=1000)
  args = parser.parse_args()
  began = time.time()
  for t, value in solve(pyspiel.load_game(args.game), args.algorithm, args.iterations):
    print(f'{args.algorithm} {t:6d} iterations: exploitability {value:.4g} '
          f'({time.time() - began:.0f} s)', flush=True)


if __name__ == '__main__':
  main()
