"""initscope: what a neural network does to its data at initialization.

The library is the product; the ``initscope`` command is a thin layer over it::

    import initscope
    rec = initscope.run("kaiming-variance", {"depth": 20}, write=False)
    rec.outcome.tables["stats"]            # tidy: view, site, layer, stat, value, stderr, n
"""

__version__ = "0.1.0"

from initscope.activations import Activation, gain, gaussian_moments, get_activation, list_activations  # noqa: E402
from initscope.data import get_input, list_inputs  # noqa: E402
from initscope.engine import ProbeConfig, ProbeResult, probe  # noqa: E402
from initscope.errors import InitscopeError  # noqa: E402
from initscope.experiments import get_experiment, list_experiments  # noqa: E402
from initscope import inspect  # noqa: E402  (callable: initscope.inspect(model, batch))
from initscope.nets import MLP, Ensemble, MLPSpec, build_ensemble, build_mlp  # noqa: E402
from initscope.repro import seed_all  # noqa: E402
from initscope.results import load_run  # noqa: E402
from initscope.runner import run  # noqa: E402
from initscope.schemes import SCHEMES, Scheme, get_scheme, list_schemes, variance_scaling_  # noqa: E402

__all__ = [
    "MLP",
    "SCHEMES",
    "Activation",
    "Ensemble",
    "InitscopeError",
    "MLPSpec",
    "ProbeConfig",
    "ProbeResult",
    "Scheme",
    "build_ensemble",
    "build_mlp",
    "gain",
    "gaussian_moments",
    "get_activation",
    "get_experiment",
    "get_input",
    "get_scheme",
    "inspect",
    "list_activations",
    "list_experiments",
    "list_inputs",
    "list_schemes",
    "load_run",
    "probe",
    "run",
    "seed_all",
    "variance_scaling_",
]
