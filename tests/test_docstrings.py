"""Every example in a docstring runs and gives what it says (STYLE section 9)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import trialkit

# __main__ runs the command line when imported
MODULES = sorted(m.name for m in pkgutil.walk_packages(trialkit.__path__, "trialkit.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} docstring example(s) failed"
