"""Systematic exploration (Algorithm 1) and its parallel driver: workers
compute, the driver alone writes the store.

May import `store`, `data`, `language` and `core`.
"""
