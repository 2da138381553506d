"""Training: typed configs, batches, GAN losses, the training loop and its checkpoints.

May import: ``core``, ``data``, ``models``, ``evaluation``, ``views`` (sample figures).
"""
