"""The benchmark sections, registered in the order they run."""

from . import pii, injection, detectors, tools, scaling, startup, sidecar, streaming, soak  # noqa: F401
