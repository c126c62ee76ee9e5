"""The demo dataset's generator, in small pieces; `../generate.py` runs it.

`text` and `cells` (strings and cell values, as mapo reads them), `table`
(one generated table), `templates` (reads the question phrasings in
`templates/<kind>.toml`), `tables` (the eight kinds' builders, drawing cell
values from `words.toml`), `interpreter` (runs reference programs), `linking`
and `questions` (propose and check questions), `release` (writes the
WikiTableQuestions layout). Standard library only, so that the dataset can be
remade without installing mapo.
"""
