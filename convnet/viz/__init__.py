"""Pictures of what a network computes: classic kernels applied to an image (more to come)."""

from .kernels import CLASSIC_KERNELS, apply_kernel, render_kernels

__all__ = ["CLASSIC_KERNELS", "apply_kernel", "render_kernels"]
