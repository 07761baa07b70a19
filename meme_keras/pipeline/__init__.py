"""Examples ready for a model: cached features, token tags, and their tf.data batches.

Shared by training and inference (this package never imports `meme_keras.training`).
"""
