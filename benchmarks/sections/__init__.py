"""The benchmark sections, registered in the order they run (so not sorted)."""

from . import pii, injection, detectors, grounding, tools, sessions, rules, schema, prove, scaling, startup, sidecar, streaming, soak, hostile  # noqa: F401, I001
