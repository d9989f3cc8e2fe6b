"""Test-wide setup: float64 available (reference numbers are float64 values)."""
import jax

jax.config.update('jax_enable_x64', True)
