"""Training: typed configs, batches, GAN losses, one training step, the loop, logs and checkpoints.

May import: ``core``, ``data``, ``models``, ``evaluation``, ``views`` (sample figures).
"""
