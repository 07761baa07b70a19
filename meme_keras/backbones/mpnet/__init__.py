"""MPNet (Song et al., 2020) in the keras-hub manner: keras-hub has no MPNet backbone.

`MPNetBackbone` (token ids -> per-token features), its layers, and `load_mpnet` for the
sentence-transformers folder of all-mpnet-base-v2 (shipped on PyPI as a split zip).
"""

from meme_keras.backbones.mpnet.mpnet_backbone import MPNetBackbone
from meme_keras.backbones.mpnet.mpnet_layer import MPNetLayer
from meme_keras.backbones.mpnet.mpnet_preset import load_mpnet, mpnet_folder
from meme_keras.backbones.mpnet.relative_position_bias import RelativePositionBias

__all__ = ["MPNetBackbone", "MPNetLayer", "RelativePositionBias", "load_mpnet", "mpnet_folder"]
