"""Sampling from an H-Net with its step-by-step caches.

    from hnet_cli.generate import Prompt, SamplingParams, generate
    model = hnet_cli.load("runs/text")
    params = SamplingParams(temperature=0.8, top_p=0.95, max_bytes=200, stop=(b"\n\n",), seed=1)
    for sample in generate(model, [Prompt(b"Once upon a time", "1", 0)], params, num_samples=4):
        print(sample.data.decode("utf-8", "replace"), sample.end)

`generate_stream` yields SampleStart / SampleBytes / Sample events for
streaming; `write_samples` (job.py) writes text, FASTA or JSON Lines as the
`hnet generate` command does, and `run_generate(GenerateRequest(...))` is the
whole command (model loading and thread policy included).
"""

from hnet_cli.generate.engine import GenerationStats, Sample, SampleBytes, SampleStart, generate, generate_stream
from hnet_cli.generate.job import GenerateRequest, GenerateResult, run_generate
from hnet_cli.generate.prompts import Prompt
from hnet_cli.generate.sampling import SamplingParams, sample_seed

__all__ = [
    "GenerateRequest", "GenerateResult", "GenerationStats", "Prompt", "Sample", "SampleBytes", "SampleStart", "SamplingParams",
    "generate", "generate_stream", "run_generate", "sample_seed",
]
