"""Loads the app named by an app spec such as ``mysite.wsgi:application``.

``module:attr`` (attr may be dotted), ``module:factory()`` to call a factory, or just
``module`` for its ``application`` attribute, as gunicorn does. Failures raise
:class:`AppImportError` with one message that names the module or attribute.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

from amphicorn.errors import AppImportError, AppSpecError


def parse_spec(spec: str) -> tuple[str, str, bool]:
    """``'pkg.mod:app.attr()'`` → ``('pkg.mod', 'app.attr', True)``."""
    module, _, attribute = spec.strip().partition(":")
    attribute = attribute or "application"
    call = attribute.endswith("()")
    if call:
        attribute = attribute[:-2]
    names = module.split(".") + attribute.split(".")
    if not all(name.isidentifier() for name in names):
        raise AppSpecError(f"app spec {spec!r}: expected 'module:attribute', e.g. 'mysite.wsgi:application'")
    return module, attribute, call


def import_app(spec: str, app_dir: str = ".", factory: bool = False) -> Any:
    """Imports and returns the callable named by ``spec``; with ``factory``, calls what
    ``spec`` names and returns the result (as ``module:attr()`` does)."""
    module_name, attribute, call = parse_spec(spec)
    call = call or factory
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name) and _is_prefix(error.name, module_name):
            raise AppImportError(f"Could not import module {module_name!r}: {error}") from None
        raise AppImportError(_with_traceback(f"Error while importing module {module_name!r}", error)) from None
    except BaseException as error:  # the app's module may raise anything, SystemExit included
        raise AppImportError(_with_traceback(f"Error while importing module {module_name!r}", error)) from None

    target: Any = module
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise AppImportError(f"Attribute {attribute!r} not found in module {module_name!r}") from None
    if call:
        try:
            target = target()
        except Exception as error:
            raise AppImportError(_with_traceback(f"Error while calling factory {spec!r}", error)) from None
    if not callable(target):
        raise AppImportError(f"{spec!r} is not callable (it is {type(target).__name__})")
    return target


def _is_prefix(missing: str, module_name: str) -> bool:
    """True when the missing module is ``module_name`` or one of its parent packages."""
    return module_name == missing or module_name.startswith(missing + ".")


def _with_traceback(message: str, error: BaseException) -> str:
    """The message, then the traceback from the app's own first frame on (the frames of
    this module and of the import machinery say nothing about what went wrong)."""
    frames = error.__traceback__
    while frames is not None and _is_machinery(frames.tb_frame.f_code.co_filename):
        frames = frames.tb_next
    details = "".join(traceback.format_exception(type(error), error, frames or error.__traceback__))
    return f"{message}: {error!r}\n{details.rstrip()}"


def _is_machinery(filename: str) -> bool:
    return filename == __file__ or filename.startswith("<frozen importlib") or filename == importlib.__file__
