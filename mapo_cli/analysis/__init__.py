"""What users read: decoding a data file, one-program execution, store and run
reports, the spurious-program analysis. Returns data; never prints.

May import every layer below it: `learn`, `search`, `store`, `data`, `language`, `core`.
"""
