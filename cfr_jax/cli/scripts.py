"""The console scripts (pyproject.toml's [project.scripts]), `python -m
cfr_jax` and `launch/<name>.py`: each has a stop signal exit at once with one
line and code 75 (`cli.exit_at_once_on_signals`), then imports its program
and runs its `main()`, which installs its own handlers.

Importing a program imports JAX (a second or more): a Ctrl-C meanwhile
printed a KeyboardInterrupt traceback, a SIGTERM ended the process silently
(143). Nothing here, nor in `cfr_jax` and `cfr_jax.cli`, imports anything
heavy, so the signals are handled from the first instant.
"""
import importlib

from cfr_jax import cli


def _program(name: str):
  def main():
    cli.exit_at_once_on_signals()  # the program's main() takes them over
    return importlib.import_module(f'cfr_jax.cli.{name}').main()
  main.__name__ = name
  main.__doc__ = f'The `cfr_jax.cli.{name}` program, signals held from the start.'
  return main


train = _program('train')
status = _program('status')
plot = _program('plot')
query = _program('query')
export = _program('export')
solve = _program('solve')  # python -m cfr_jax
