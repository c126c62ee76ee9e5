"""mapo: learn semantic parsers from question-answer pairs with MAPO."""

__version__ = "0.1.0"
