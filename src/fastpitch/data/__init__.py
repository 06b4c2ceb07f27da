"""Data: corpus synthesis, dataset readers and checks, the feature cache, and the PyTorch Dataset/sampler."""
