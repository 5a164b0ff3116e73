"""The probe: randomness views, exact fast samplers, streaming moments."""

from initscope.engine.moments import RunningMoments, ScalarMoments
from initscope.engine.probe import SAMPLERS, VIEWS, ProbeConfig, ProbeResult, probe

__all__ = ["SAMPLERS", "VIEWS", "ProbeConfig", "ProbeResult", "RunningMoments", "ScalarMoments", "probe"]
