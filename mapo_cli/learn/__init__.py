"""Learning: features and vocabulary, pretrained vectors, the model, decoding,
the objectives (eq. 6), actor and learner, the training loop and its runners
with what the loop calls beside the learner (evaluation, metrics, checkpoints,
store updates, versioned weights), configuration and run directories.

May import `search`, `store`, `data`, `language` and `core`.
"""
