"""Test-wide setup: float64 available (reference numbers are float64 values),
and compiled programs kept where the launcher keeps them.

The persistent compilation cache is the launcher's default (`compilation_cache`
= '': ~/.cache/cfr_jax/xla, or under $XDG_CACHE_HOME), so in-process tests
share compiled programs with each other, with the other pytest worker and with
the launcher processes the tests start: many tests build a solver, an
exploitability or a chunk of the same game, and each compile of a subgame
program takes seconds. A cached program is the same executable (same
optimized HLO, same `memory_analysis()`), so no assertion depends on it.
"""
import logging

import jax
import pytest

from cfr_jax.training import config as config_lib

jax.config.update('jax_enable_x64', True)
config_lib.use_compilation_cache({})


@pytest.fixture(autouse=True)
def _absl_verbosity():
  """Each test starts at the process's absl verbosity: the command-line
  tools' `_main`s, which some tests call in process, quiet absl for the rest
  of the process (set_verbosity(WARNING)), and a later test on that worker
  that reads INFO lines (the checkpoint tests' 'attempting 1/3: ...') found
  none: the suite passed or failed by which files shared a worker. The
  logger's own level is kept, not absl's verbosity: unparsed, that reads
  WARNING while the logger is NOTSET (and follows caplog's level)."""
  logger = logging.getLogger('absl')
  level = logger.level
  yield
  logger.setLevel(level)
