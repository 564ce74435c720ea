"""``make bench``: benchmarks, not tests. Prints a table, writes data/08_reporting/bench.json."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from benchmarks import pretrain, serving
from benchmarks.compression import distill_factorize_suite, int8_suite, pruning_suite
from benchmarks.data_layer import bench_augment, bench_folder_ingest
from benchmarks.precision import compare_precision
from benchmarks.streaming import bench_streaming
from benchmarks.training_loop import compare

OUT = Path("data/08_reporting/bench.json")


def run(only: set[str] | None = None) -> dict[str, list[dict]]:
    suites = {
        "training_loop": lambda: [
            compare("resnet18", 32, n_images=512, batch_size=64),
            compare("lenet5", 32, n_images=8192, batch_size=128),
        ],
        "precision": lambda: [
            compare_precision("resnet20", n_train=2048, batch_size=128),
            compare_precision("resnet18", n_train=512, batch_size=64, n_infer=1024),
        ],
        "augmentation": lambda: [{
            "what": "crop(pad 4)+flip+normalise, 512×3×32×32 uint8, CPU",
            "images_per_s": round(bench_augment(batch_size=512, image_size=32)),
            "target_images_per_s": 20_000}],
        "folder_ingest": lambda: [{
            "what": "decode 60,000 generated 32×32 JPEGs, 10 classes, 2 workers",
            "seconds": round(bench_folder_ingest(n=60_000, workers=2), 1),
            "target_seconds": 60}],
        # Peak memory of one epoch, resident vs streamed from shards (10k vs 200k 64×64 images).
        "streaming": bench_streaming,
        "int8": int8_suite,
        "pruning": pruning_suite,
        "distill_factorize": distill_factorize_suite,
        "pretrain": lambda: [pretrain.compare()],
        "predict": lambda: [serving.bench_predict()],
        "onnx": lambda: [serving.bench_onnx("resnet20"), serving.bench_onnx("lenet5")],
    }
    return {name: fn() for name, fn in suites.items() if only is None or name in only}


def table(results: dict[str, list[dict]]) -> str:
    lines = []
    for suite, rows in results.items():
        lines.append(f"\n## {suite}")
        keys = list(dict.fromkeys(k for r in rows for k in r))  # rows may differ in columns
        lines.append(" | ".join(keys))
        lines.append(" | ".join("---" for _ in keys))
        lines.extend(" | ".join(str(r.get(k, "")) for k in keys) for r in rows)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="suites to run (default: all)")
    args = parser.parse_args()
    results = run(set(args.only) if args.only else None)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": {"cpu_threads": torch.get_num_threads(),
                                           "torch": torch.__version__,
                                           "python": platform.python_version()},
                               **results}, indent=2))
    print(table(results))
    print(f"\nwritten to {OUT}")


if __name__ == "__main__":
    main()
