"""Pictures of what a network computes, each view in its own module.

``capture`` (forward hooks: every layer's output), ``maps`` (feature maps), ``filters`` (learned
filters and their nearest classic kernel), ``saliency`` (gradient saliency, Grad-CAM),
``kernels`` (classic kernels applied to an image, re-exported here), ``show`` (all of them for
one image, in one folder), ``report`` (one run as an offline HTML page), ``draw`` (the shared
PNG helpers).
"""

from .kernels import CLASSIC_KERNELS, apply_kernel, render_kernels

__all__ = ["CLASSIC_KERNELS", "apply_kernel", "render_kernels"]
