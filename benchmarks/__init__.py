"""sitelog benchmarks: ``python -m benchmarks`` prints one JSON line per benchmark.

Every figure comes with a baseline measured in the same run on the same services
(raw aiokafka, raw COPY), because shared machines are noisy: read the ratios.
"""
