"""Names of a package imported on first use (PEP 562), so that importing the
package (or a light module of it) does not import JAX: the console scripts
answer --help, flag mistakes and cfr-status without it."""
import importlib
import sys


def exports(package: str, api: dict) -> tuple:
  """(__getattr__, __dir__) for `package`, whose names `api` maps to the
  submodule defining each ({name: submodule}); a name is bound on the package
  once imported."""
  module = sys.modules[package]

  def __getattr__(name: str):  # pylint: disable=invalid-name
    if name in api:
      value = getattr(importlib.import_module(f'{package}.{api[name]}'), name)
      setattr(module, name, value)
      return value
    raise AttributeError(f'module {package!r} has no attribute {name!r}')

  def __dir__():  # pylint: disable=invalid-name
    return sorted(set(vars(module)) | set(api))

  return __getattr__, __dir__
