"""The program language: grammar files, per-table program contexts, semantics,
the token-by-token interpreter with its code assistance, the notation, liveness.

May import `core` only: everything else is built on it.
"""
