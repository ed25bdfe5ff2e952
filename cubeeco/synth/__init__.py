"""The synthetic coal base: realistic COGs + STAC items + planted truth (the offline default)."""

from .build import SynthResult, synthesize
from .config import PRESETS, SynthConfig, preset
from .landscape import Landscape

__all__ = ["PRESETS", "Landscape", "SynthConfig", "SynthResult", "preset", "synthesize"]
