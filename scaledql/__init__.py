"""scaledql: a reproducibility book for Scaled QL (Kumar et al., ICLR 2023), as a JAX package."""

__version__ = "0.1.0"
