"""cfr_jax: the counterfactual regret minimization family in JAX.

    import cfr_jax
    game = cfr_jax.load_game("leduc")
    solver = cfr_jax.make_solver(game, algorithm="dcfr")
    state = solver.run(solver.init(), 1000)
    cfr_jax.exploitability(game, solver.average_policy(state))

The names below are imported on first use (PEP 562), JAX with them: `import
cfr_jax` alone takes milliseconds, so the console scripts (`cfr_jax.cli.scripts`)
take a Ctrl-C from their first instant, not only once JAX has loaded.
"""
import importlib
import sys
import types

__version__ = '0.1.0'
_API = {  # name: the module of cfr_jax that defines it
    'ALGORITHMS': 'regret', 'Game': 'games', 'abstract_exploitability': 'exploitability',
    'Solver': 'solver', 'SolverState': 'solver', 'TabularPolicy': 'policy',
    'exploitability': 'exploitability', 'game_value': 'exploitability',
    'load_game': 'games', 'make_mesh': 'solver', 'make_solver': 'solver',
    'nash_conv': 'exploitability', 'uniform_policy': 'exploitability'}
__all__ = list(_API)


def __getattr__(name: str):
  if name in _API:
    value = getattr(importlib.import_module(f'cfr_jax.{_API[name]}'), name)
    if name != 'exploitability':  # (see _Package)
      globals()[name] = value
    return value
  if not name.startswith('_'):  # a submodule not imported yet: cfr_jax.heap, ...
    try:
      return importlib.import_module(f'cfr_jax.{name}')
    except ModuleNotFoundError as e:
      if e.name != f'cfr_jax.{name}':
        raise
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
  return sorted(set(globals()) | set(_API))


class _Package(types.ModuleType):
  """`cfr_jax.exploitability` is the function, as it was when this file
  imported everything: importing the module of that name (which binds the
  module to the package's attribute) does not hide it."""

  @property
  def exploitability(self):
    return importlib.import_module('cfr_jax.exploitability').exploitability

  @exploitability.setter
  def exploitability(self, value):  # the import system binding the submodule
    del value


sys.modules[__name__].__class__ = _Package
