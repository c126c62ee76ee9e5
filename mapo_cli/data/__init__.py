"""Datasets: tables, questions and entity linking, preparation (one module per
source), reading prepared data, and the answer scorer.

May import `language` and `core`.
"""
