"""Which string literals a question offers: entity linking as `mapo prepare` does it."""

from __future__ import annotations

from .table import Table
from .text import contains, normalize_text

STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "nor", "not", "no", "of", "in", "on", "at", "to", "for",
    "from", "by", "with", "without", "about", "as", "into", "onto", "upon", "over", "under",
    "than", "then", "that", "this", "these", "those", "there", "here", "it", "its", "is", "are",
    "was", "were", "be", "been", "being", "am", "do", "does", "did", "done", "doing", "have",
    "has", "had", "having", "will", "would", "shall", "should", "can", "could", "may", "might",
    "must", "s", "t", "re", "ve", "ll", "d", "m", "what", "which", "who", "whom", "whose", "when",
    "where", "why", "how", "many", "much", "more", "most", "less", "least", "i", "me", "my", "we",
    "our", "you", "your", "he", "him", "his", "she", "her", "they", "them", "their", "if", "so",
    "also", "just", "only", "other", "another", "each", "any", "all", "some", "same", "such",
    "very", "too", "up", "down", "out", "off", "again", "once", "both", "either", "neither",
))


def linked_strings(table: Table, question: str) -> set[str]:
    """The string entities that entity linking finds in a question.

    Like mapo's prepare step: left to right, the longest span of question
    tokens that some cell contains (and that is not only stopwords), no
    overlaps. A literal that a longer span swallows ("seville ," in "other
    than seville, where ...") is not offered to programs.
    """
    cells = {cell for row in table.norm for cell in row if cell}
    vocabulary = {token for cell in cells for token in cell.split(" ")}
    tokens = normalize_text(question).split(" ")
    found, i = set(), 0
    while i < len(tokens):
        reach = i
        while reach < len(tokens) and reach - i < 12 and tokens[reach] in vocabulary:
            reach += 1
        for end in range(reach, i, -1):
            span = tokens[i:end]
            value = " ".join(span)
            content = any(tok not in STOPWORDS and tok.isalnum() for tok in span)
            if content and any(contains(cell, value) for cell in cells):
                found.add(value)
                i = end - 1
                break
        i += 1
    return found


def lit_ok(table: Table, question: str, literal: str, column: int) -> bool:
    """A string literal that a question offers and that names exactly the intended rows.

    Entity linking finds it in the question, it occurs in no column but
    `column`, and in `column` the cells that contain it are exactly those whose
    literal form is it.
    """
    if normalize_text(literal) != literal or literal not in linked_strings(table, question):
        return False
    for c in range(len(table.headers)):
        hits = [i for i in range(table.n) if contains(table.norm[i][c], literal)]
        if c != column and hits:
            return False
        if c == column and hits != [i for i in range(table.n) if table.lits[c][i] == literal]:
            return False
    return True
