"""pghistory command line: list, install, check and prune history triggers from a DSN.

Layer: adapter (operator tool). Imports ``pghistory_core`` and its own modules only, never
another adapter.
"""
