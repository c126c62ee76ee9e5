"""Learning: features and vocabulary, pretrained vectors, the model, decoding,
the objectives (eq. 6), actor and learner, the training loop and its runners,
configuration, checkpoints and run directories.

May import `search`, `store`, `data`, `language` and `core`.
"""
