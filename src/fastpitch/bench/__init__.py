"""Benchmarks that span several areas (`fastpitch bench synth`); each area keeps its own beside its code."""
