"""What policy authors run over policies, beside the pipeline itself.

- :mod:`.format` - the canonical layout of whole files (``guardrails fmt``);
- :mod:`.export` - the rule graph as Graphviz DOT or Mermaid (``guardrails graph``);
- :mod:`.impact` - which decisions a policy change alters (``guardrails diff``).
"""
