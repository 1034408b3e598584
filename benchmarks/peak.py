"""The machine's arithmetic limit: matrix-multiply GFLOP/s in float32 and bfloat16.

    python -m benchmarks.peak [--json]

One 2,048 x 2,048 x 2,048 product (2 * 2048^3 flops) repeated for ``--seconds``, best of
``--rounds``, through torch (MKL / oneDNN; bf16 uses AMX tiles where the CPU has them). This
is what a training run's achieved GFLOP/s is compared with (benchmarks.run, cifar_record).
"""

import argparse
import json
import time

import torch

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--size", type=int, default=2048)
ARGS.add_argument("--seconds", type=float, default=2.0, help="length of one timed round")
ARGS.add_argument("--rounds", type=int, default=3)
ARGS.add_argument("--json", action="store_true", help="print the result as JSON")


def gflops(dtype: torch.dtype, size: int, seconds: float, rounds: int) -> float:
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b  # warm-up: kernels chosen, pages touched
    best = 0.0
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            a @ b
            count += 1
        best = max(best, count * 2 * size ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def measure(size: int = 2048, seconds: float = 2.0, rounds: int = 3) -> dict:
    return {"fp32_gflops": gflops(torch.float32, size, seconds, rounds),
            "bf16_gflops": gflops(torch.bfloat16, size, seconds, rounds),
            "threads": torch.get_num_threads()}


def main() -> None:
    args = ARGS.parse_args()
    result = measure(args.size, args.seconds, args.rounds)
    print(json.dumps(result) if args.json else
          f"float32 {result['fp32_gflops']:,.0f} GFLOP/s, bfloat16 {result['bf16_gflops']:,.0f} "
          f"GFLOP/s ({result['threads']} threads)")


if __name__ == "__main__":
    main()
