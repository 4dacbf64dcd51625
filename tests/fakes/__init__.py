"""Loopback fakes used only by the tests and the benchmarks, kept out of the shipped `sandbox` package."""
