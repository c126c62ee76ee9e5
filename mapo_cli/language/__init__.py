"""The program language: the built-ins (each declared once, semantics.py on registry.py),
grammar files that select them, per-table program contexts, the token-by-token
interpreter with its code assistance, the notation, liveness, and the semantics
version derived from the built-ins' code (version.py).

May import `core` only: everything else is built on it.
"""
