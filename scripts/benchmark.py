"""The paper's Table 2 protocol on the code that trains: the trainer's training step and prediction,
per up-sampler, on synthetic tensors, composed from configs/ like train.py.

    python scripts/benchmark.py --device cpu --model unet --width 16 --size 64 --iters 3
    python scripts/benchmark.py --device cuda --model unet            # the paper's width 64 at 256x256
    python scripts/benchmark.py --device cuda --precision bf16 --channels-last --compile --batch-size 8
    python scripts/benchmark.py --model vae --size 64 --names deconv6 pixeldcl resize_nearest
    python scripts/benchmark.py --device cpu trainer.optimizer._target_=torch.optim.SGD   # any train.py override

Prints a K40-style table extrapolated to the paper's workload (10,000 iterations, 2109 images),
ratios to deconv6 (the paper's DCL) and deconv, the paper's ratios beside them, each model's
multiply-accumulates per image and achieved GFLOP/s against the roofline's ceiling (the faster of a
torch.mm and a 3x3 convolution timed in the same rounds), and the load average around the run;
writes JSON + Markdown under --out-dir.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pixeldcn.benchmark import models as bench
from pixeldcn.benchmark import save_report
from pixeldcn.upsamplers import UPSAMPLERS
from pixeldcn.utils.timing import resolve_device

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
PAPER_NAMES = ["deconv6", "deconv", "ipixeldcl", "pixeldcl"]


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default)")
    parser.add_argument("--model", default="unet", choices=list(bench.MODEL_DATASETS))
    parser.add_argument("--names", nargs="+", default=PAPER_NAMES, choices=list(UPSAMPLERS), metavar="UPSAMPLER")
    parser.add_argument("--width", type=int, default=None, help="model.width (default: the model config's; U-Net 64)")
    parser.add_argument("--size", type=int, default=None, help="dataset.image_size (default: VOC's 256, CelebA's 64)")
    parser.add_argument("--batch-size", type=int, default=None, help="trainer.batch_size (default: the config's, 8)")
    parser.add_argument("--precision", default="32", choices=list(bench.PRECISION_DTYPES), help="trainer.precision")
    parser.add_argument("--channels-last", action="store_true", help="trainer.channels_last=true")
    parser.add_argument("--compile", action="store_true", help="trainer.compile=true")
    parser.add_argument("--num-classes", type=int, default=21, help="classes of the synthetic masks (VOC: 21)")
    parser.add_argument("--iters", type=int, default=5, help="timed rounds: training steps and prediction batches")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--share-rounds",
        type=int,
        default=3,
        help="further training steps per model with its up-samplers timed inside the step (0: none)",
    )
    parser.add_argument(
        "--train-iterations", type=int, default=10_000, help="workload the training time is extrapolated to"
    )
    parser.add_argument(
        "--predict-images", type=int, default=2109, help="workload the prediction time is extrapolated to"
    )
    parser.add_argument(
        "--matmul-size",
        type=int,
        default=None,
        help="roofline torch.mm side, 4x its conv's channels (2048 CPU, 8192 GPU)",
    )
    parser.add_argument("--out-dir", type=Path, default=Path("outputs/bench"))
    parser.add_argument("overrides", nargs="*", help="further train.py overrides (key=value)")
    args = parser.parse_args(argv)

    setup = bench.Setup(
        model=args.model, width=args.width, size=args.size, batch_size=args.batch_size, precision=args.precision,
        channels_last=args.channels_last, compile=args.compile, num_classes=args.num_classes,
    )  # fmt: skip
    names = list(dict.fromkeys([*bench.BASELINES, *args.names]))
    workload = bench.Workload(args.train_iterations, args.predict_images)
    device = resolve_device(args.device)
    report = bench.run(
        CONFIG_DIR, setup, names, device, args.iters, args.warmup, workload,
        matmul_size=args.matmul_size, extra_overrides=args.overrides, share_rounds=args.share_rounds,
    )  # fmt: skip
    s = report["setup"]
    label = (
        f"{args.model}_{str(device).replace(':', '')}_w{s['width']}_s{s['size']}_b{s['batch_size']}_p{s['precision']}"
    )
    label += "_cl" * s["channels_last"] + "_compiled" * s["compile"]
    return save_report(args.out_dir, label, report, bench.to_markdown(report))


if __name__ == "__main__":
    main()
