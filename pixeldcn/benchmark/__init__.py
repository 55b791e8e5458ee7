"""Benchmarks that time layers and models against the deconvolution baselines in one process."""
