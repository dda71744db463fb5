"""The package's version, in a module that imports nothing.

Modules inside the package (the bundle builder's manifest) name it from
here, not from ``guardrails``, whose ``__init__`` imports the engine.
"""

__version__ = "0.1.0"
