"""``guardrails playground``: a local page to edit, check, evaluate, graph, test and diff policies.

The modules: :mod:`.files` (the policy directory: listing and the one atomic
save), :mod:`.api` (each page request as a function of JSON, over the
engine's own pipeline, export, testing and impact code), :mod:`.worker`
(those functions in a child process under a time limit) and :mod:`.server`
(the HTTP server and its checks). The page itself is ``static/``: plain
JavaScript written for it, no library, no CDN.
"""

from guardrails.playground.server import Settings, make_server, parse_listen

__all__ = ["Settings", "make_server", "parse_listen"]
