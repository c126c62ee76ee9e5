"""The LMDB store: its environment, value formats and files, and the
explored-prefix filters. Only the one writing process opens it for writing.

May import `core` (it stores bytes and never runs programs).
"""
