"""What every layer uses: the error type, text normalisation, a small LRU.

Imports nothing else of mapo's.
"""
