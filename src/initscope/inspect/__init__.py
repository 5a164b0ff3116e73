"""``initscope inspect``: the at-init check for any ``torch.nn.Module``, in the order the data
flows:

- :mod:`~initscope.inspect.load`: the user's model, data and how to call it;
- :mod:`~initscope.inspect.record`: one forward + backward pass with hooks, reduced in the hooks;
- :mod:`~initscope.inspect.structure`: what each module is (weighted layer and its fans, norm,
  attention, embedding) and the repeated blocks around a residual stream;
- :mod:`~initscope.inspect.stats`: bounded statistics (text 000's decomposition, token
  similarity, attention entropy, weight scale, distinct units);
- :mod:`~initscope.inspect.verdicts`: each quantity judged by its role, thresholds in one place;
- :mod:`~initscope.inspect.fixes`: LSUV and sample-variance;
- :mod:`~initscope.inspect.report`: the run directory and the HTML report;
- :mod:`~initscope.inspect.zoo`: small models of the families people train, healthy and broken.

``initscope.inspect(model, batch)`` inspects a model in memory (this package is callable);
``inspect_model(factory, input_shape=...)`` is the command line's form.
"""

from __future__ import annotations

import sys
import types

from initscope.inspect.core import InspectResult, Output, at_init_mode, inspect, inspect_model
from initscope.inspect.fixes import FIXES, fix_model
from initscope.inspect.load import Batch, call_factory, load_object
from initscope.inspect.record import Recorder
from initscope.inspect.stats import as_samples_by_units
from initscope.inspect.verdicts import Finding

__all__ = ["FIXES", "Batch", "Finding", "InspectResult", "Output", "Recorder", "as_samples_by_units", "at_init_mode",
           "call_factory", "fix_model", "inspect", "inspect_model", "load_object", "record", "run_inspect"]


def record(model, batch, *, seed: int = 0):  # noqa: ANN001, ANN201
    """The per-module-call table of one inspection (``inspect(model, batch).layers``)."""
    return inspect(model, batch, seed=seed).layers


def run_inspect(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201
    """The ``initscope inspect`` command as a library call (see :mod:`initscope.inspect.report`)."""
    from initscope.inspect.report import run_inspect as _run

    return _run(*args, **kwargs)


class _CallablePackage(types.ModuleType):
    """``initscope.inspect(model, batch)``: the package is also the in-memory entry point, so
    ``import initscope; initscope.inspect(model, batch)`` works whichever of the two the
    attribute holds."""

    def __call__(self, model, batch, **kwargs):  # noqa: ANN001, ANN003, ANN204
        return inspect(model, batch, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
