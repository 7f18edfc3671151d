"""GPU benchmarks: training throughput and MFU, memory under varying compression, generation speed.

Library side of `hnet bench` and the `bench/gpu_*.py` scripts. Every figure
is measured in one process on one GPU, against that GPU's measured bf16 matmul
rate (`device.matmul_peak`), so MFU figures from one run compare directly.
"""
