"""Experiment reproduction framework for Pixel Deconvolutional Networks (Gao et al., 2017)."""

__version__ = "0.1.0"
