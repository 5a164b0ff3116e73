"""Will a run fit this machine? One place for the estimates every config checks up front."""

from __future__ import annotations

import os

from initscope.errors import InitscopeError

# Runs past this many multiply-adds would take days on a CPU (about 1e11 per second here).
MAX_OPERATIONS = 1e15


def physical_memory() -> int:
    """Bytes of RAM on this machine (a generous 64 GiB where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 64 * 2**30


def check_memory(need: float, what: str, budget: float | None = None, knob: str = "make the run smaller") -> None:
    """Refuse ``need`` bytes for ``what`` past ``budget`` (default: half of this machine's RAM)."""
    limit = budget if budget is not None else physical_memory() / 2
    if need > limit:
        name = "memory_mb" if budget is not None else "half of this machine's memory"
        raise InitscopeError(f"{what} need {need / 2**20:,.6g} MB, above {name} ({limit / 2**20:,.6g} MB); {knob}")


def check_operations(ops: float, knob: str) -> None:
    if ops > MAX_OPERATIONS:
        raise InitscopeError(
            f"this run needs about {ops:.1e} multiply-adds, past the {MAX_OPERATIONS:.0e} that finish within hours on a CPU; {knob}"
        )


def check_model(spec, rows: int, item: int = 4, what: str = "the model") -> None:
    """An MLP of ``spec`` built as a module and pushed ``rows`` inputs at once: parameters with
    their gradients and optimizer state (x4) and every layer's activations (x4)."""
    dims = (spec.input_dim, *spec.layer_widths, *((spec.output_dim,) if spec.output_dim else ()))
    weights = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    check_memory(4.0 * weights * item + 4.0 * rows * sum(dims) * item, f"{what} ({weights:,} weights, {rows:,} inputs at once)")
    check_operations(float(weights) * rows * max(spec.n_layers, 1), "use a smaller model or fewer inputs")
