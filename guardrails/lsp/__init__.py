"""`guardrails lsp`: a language server for policy files, built on pygls.

Only :mod:`.server` imports pygls (the ``lsp`` extra); the rest is plain
Python over the engine's own load pipeline, so the editor sees exactly what
``guardrails check`` prints:

- :mod:`.lexicon` - the words of a policy's text: tokens, the keywords of the grammar
- :mod:`.workspace` - a directory loaded with the editor's unsaved buffers over the disk
- :mod:`.names` - what a name under the cursor is: hover text and where it is defined
- :mod:`.complete` - completion items for the place the cursor is at
- :mod:`.paths` - attribute paths: what the schema declares, what the policies read
- :mod:`.outline` - document symbols: the policy, its declarations, stages and rules
- :mod:`.server` - the pygls server: LSP messages in, these answers out
"""
