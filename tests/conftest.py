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
import jax

from cfr_jax.training import config as config_lib

jax.config.update('jax_enable_x64', True)
config_lib.use_compilation_cache({})
