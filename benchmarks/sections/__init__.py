"""The benchmark sections, registered in the order they run."""

from . import pii, tools, scaling, startup, soak  # noqa: F401
