r"""ImageNet top-1 of our models with weights you hold: ``kb evaluate``.

The accuracy claims of the MobileNet papers are ``reported`` in the notebooks: checking them needs
trained weights and the ImageNet validation set, which this project neither downloads nor ships.
With both on your machine, ``kb evaluate`` loads the weights into our model
([`refimpl.loaders`][refimpl.loaders]), runs it on an ImageFolder-style directory (one folder per
class, sorted names = class indices, as the 1000 ImageNet synset folders ``n01440764`` … give) and
records the measured top-1 next to the value the paper prints:

```sh
kb evaluate                                   # what can be evaluated, with the paper's values
kb evaluate Sandler2018CVPR --model 1.0-224 --weights mobilenetv2_100.safetensors --peer timm \
    --imagenet ~/data/imagenet/val            # → build/evaluate/Sandler2018CVPR-1.0-224.json
```

Preprocessing needs only PIL and NumPy: the shorter side resized to ``resolution / 0.875`` (256 for
224, bilinear), the centre ``resolution²`` crop, scaled to [0, 1] and normalised with the ImageNet
mean and standard deviation — what timm and torchvision train their MobileNets with. Weights
from another source (e.g. TF-slim's, trained on [−1, 1] inputs) need their own preprocessing.

Without a validation folder or weights nothing runs: the command says the evaluation is skipped
and the claim stays ``reported``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel mean of ImageNet's RGB values in [0, 1] (the normalisation timm's and torchvision's weights expect)."""

IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel standard deviation, likewise."""

CROP_FRACTION = 0.875
"""The centre crop is 87.5 % of the resized shorter side: 224 of 256 (timm's ``crop_pct``, torchvision's ``Resize(256)``)."""

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".ppm", ".bmp", ".webp")
"""Files counted as images in a class folder (any letter case)."""

NUM_CLASSES = 1000
"""ImageNet-1k: the class folders must be exactly as many as the model's outputs."""


class Target(NamedTuple):
    """One model of a paper whose ImageNet top-1 the paper prints."""

    build: Callable[[], object]
    """Our model in the configuration released weights have."""
    resolution: int
    """Input side, px."""
    top1: float
    """Top-1 accuracy as the paper prints it, %."""
    source: str
    """Where the paper prints it."""
    note: str = ""
    """How our model differs from the one the paper measured, if it does; copied into the evaluation's record."""


def _v1(alpha: float):
    def build():
        from refimpl.mobilenet_v1 import MobileNetV1

        return MobileNetV1(alpha)

    return build


def _v2(alpha: float):
    def build():
        from refimpl.mobilenet_v2 import MobileNetV2

        return MobileNetV2(alpha)

    return build


def _v3(variant: str, alpha: float):
    def build():
        from refimpl.mobilenet_v3 import MobileNetV3

        # Released Small weights (TF reference, timm, torchvision) have no SE on the last 1×1 conv that Table 2 ticks.
        return MobileNetV3(variant, alpha, **({"last_conv_se": False} if variant == "small" else {}))

    return build


_SMALL = "without the SE Table 2 ticks on the last 1×1 conv: no released weights have it"

TARGETS: dict[str, dict[str, Target]] = {
    "Howard2017arxiv": {  # arXiv:1704.04861v1
        "1.0-224": Target(_v1(1.0), 224, 70.6, "Table 6"),
        "0.75-224": Target(_v1(0.75), 224, 68.4, "Table 6"),
        "0.5-224": Target(_v1(0.5), 224, 63.7, "Table 6"),
        "0.25-224": Target(_v1(0.25), 224, 50.6, "Table 6"),
        "1.0-192": Target(_v1(1.0), 192, 69.1, "Table 7"),
        "1.0-160": Target(_v1(1.0), 160, 67.2, "Table 7"),
        "1.0-128": Target(_v1(1.0), 128, 64.4, "Table 7"),
        "0.5-160": Target(_v1(0.5), 160, 60.2, "Table 9"),
    },
    "Sandler2018CVPR": {  # arXiv:1801.04381v4
        "1.0-224": Target(_v2(1.0), 224, 72.0, "Table 4"),
        "1.4-224": Target(_v2(1.4), 224, 74.7, "Table 4"),
    },
    "Howard2019arxiv": {  # arXiv:1905.02244v5
        "large-1.0": Target(_v3("large", 1.0), 224, 75.2, "Table 3"),
        "large-0.75": Target(_v3("large", 0.75), 224, 73.3, "Table 3"),
        "small-1.0": Target(_v3("small", 1.0), 224, 67.4, "Table 3", _SMALL),
        "small-0.75": Target(_v3("small", 0.75), 224, 65.4, "Table 3", _SMALL),
    },
}
"""``{paper key: {model name: Target}}``: every ImageNet top-1 the MobileNet papers print for a model built here."""


# --------------------------------------------------------------------------- data


def preprocess(path: Path, resolution: int = 224):
    """One image as a normalised ``(3, resolution, resolution)`` float32 array (NumPy), as described above.

    The resize follows torchvision's ``Resize(int)``: the shorter side becomes
    ``round(resolution / 0.875)`` and the longer one ``int(side · long / short)``; the crop offset
    is ``int(round((side − resolution) / 2))`` (``CenterCrop``).

    Args:
        path: an image file PIL can read.
        resolution: the crop's side.
    """
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        width, height = image.size
        short_side = int(round(resolution / CROP_FRACTION))
        if width <= height:
            size = (short_side, int(short_side * height / width))
        else:
            size = (int(short_side * width / height), short_side)
        image = image.resize(size, Image.BILINEAR)
        left, top = (int(round((s - resolution) / 2.0)) for s in size)
        image = image.crop((left, top, left + resolution, top + resolution))
        pixels = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3)
    pixels = (pixels - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # (3, H, W)


def image_folder(root: Path, num_classes: int = NUM_CLASSES) -> list[tuple[Path, int]]:
    """``(image, class index)`` of an ImageFolder-style directory: class folders in sorted order, images sorted.

    Args:
        root: the directory holding one folder per class.
        num_classes: how many class folders there must be (the model's outputs).
    """
    if not root.is_dir():
        raise ValueError(f"--imagenet {root}: not a directory (give the validation folder with one sub-folder per class)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) != num_classes:
        raise ValueError(f"--imagenet {root}: {len(classes)} class folders, the model has {num_classes} outputs: "
                         f"give the whole validation set, one folder per class (n01440764 … for ImageNet)")
    samples = [(p, i) for i, c in enumerate(classes) for p in sorted((root / c).iterdir())
               if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not samples:
        raise ValueError(f"--imagenet {root}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return samples


# --------------------------------------------------------------------------- evaluation


def top1(model, samples: Sequence[tuple[Path, int]], resolution: int, batch_size: int = 32) -> tuple[int, int]:
    """(correct, total) top-1 predictions of ``model`` (eval mode, no gradients) on ``samples``.

    Args:
        model (nn.Module): a classifier returning ``(N, classes)`` logits.
        samples: ``(image, class index)`` pairs, e.g. from [`image_folder`][refimpl.evaluate.image_folder].
        resolution: the input side.
        batch_size: images per forward pass.
    """
    import numpy as np
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            batch = samples[start:start + batch_size]
            x = torch.from_numpy(np.stack([preprocess(path, resolution) for path, _ in batch]))
            predicted = model(x).argmax(1)
            correct += int((predicted == torch.tensor([label for _, label in batch])).sum())
    return correct, len(samples)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def evaluate(key: str, name: str, weights: Path, peer: str, imagenet: Path, limit: Optional[int] = None,
             batch_size: int = 32) -> dict:
    """Load ``weights`` into the target model, measure top-1 on ``imagenet`` and return the record.

    Args:
        key: the paper, a key of [`TARGETS`][refimpl.evaluate.TARGETS].
        name: the model, e.g. ``"1.0-224"``.
        weights: a checkpoint file (see [`read_state_dict`][refimpl.loaders.read_state_dict]).
        peer: who trained them: ``"timm"``, ``"torchvision"`` or ``"refimpl"``.
        imagenet: the validation folder.
        limit: evaluate only ``limit`` images, spread evenly over the sorted list (a quick look; the record says so).
        batch_size: images per forward pass.
    """
    import torch

    from refimpl.loaders import load_weights

    target = _target(key, name)
    samples = image_folder(imagenet)
    if limit is not None:  # spread over the classes, not the first few of them
        samples = samples[:: max(1, len(samples) // limit)][:limit]
    model = target.build()
    report = load_weights(model, weights, peer)
    started = time.perf_counter()
    correct, total = top1(model, samples, target.resolution, batch_size)
    measured = 100.0 * correct / total
    return {
        "paper": key, "model": name, "resolution": target.resolution,
        "measured_top1": measured, "reported_top1": target.top1, "source": target.source,
        "difference": measured - target.top1, "correct": correct, "images": total, "limit": limit,
        "weights": str(weights), "weights_sha256": _sha256(weights), "peer": peer, "load": str(report),
        "preprocessing": f"shorter side {int(round(target.resolution / CROP_FRACTION))} (bilinear), centre crop "
                         f"{target.resolution}, ImageNet mean/std", "note": target.note,
        "seconds": round(time.perf_counter() - started, 1), "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(), "torch": torch.__version__,
    }


def _target(key: Optional[str], name: Optional[str]) -> Target:
    if key not in TARGETS:
        raise ValueError(f"no ImageNet top-1 to evaluate for {key!r}; papers: {', '.join(TARGETS)}")
    if name not in TARGETS[key]:
        raise ValueError(f"{key} has no model {name!r}; models: {', '.join(TARGETS[key])}")
    return TARGETS[key][name]


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``kb evaluate``.

    Args:
        parser: the sub-command's parser.
    """
    parser.add_argument("key", nargs="?", metavar="KEY", help="paper key (without: list what can be evaluated)")
    parser.add_argument("--model", metavar="NAME", help="the paper's model, e.g. 1.0-224 (without: every model of KEY)")
    parser.add_argument("--weights", type=Path, metavar="FILE", help="checkpoint file you downloaded (.pth, .safetensors, …)")
    parser.add_argument("--peer", choices=("timm", "torchvision", "refimpl"), default="timm",
                        help="who trained the weights (default: timm)")
    parser.add_argument("--imagenet", type=Path, metavar="DIR", help="ImageNet validation folder, one sub-folder per class")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate only N images, spread over the classes")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per forward pass (default 32)")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="where to write the record (default: build/evaluate/KEY-MODEL.json)")


def _say(message: str) -> None:
    print(f"kb evaluate: {message}", flush=True)


def run(args: argparse.Namespace, root: Path) -> int:
    """Run ``kb evaluate``; returns the exit status (0: evaluated, listed or skipped; 2: a usage error).

    Args:
        args: the parsed options (see [`add_arguments`][refimpl.evaluate.add_arguments]).
        root: the project root (records go to ``build/evaluate/`` under it).
    """
    try:
        return _run(args, root)
    except ValueError as exc:  # a bad key, folder or checkpoint: one line, no traceback
        print(f"kb evaluate: {exc}", file=sys.stderr, flush=True)
        return 2


def _run(args: argparse.Namespace, root: Path) -> int:
    if args.key is None:
        for key, models in TARGETS.items():
            for name, t in models.items():
                print(f"{key:18} {name:11} {t.resolution} px   paper: {t.top1} % top-1 ({t.source})")
        print("evaluate one with: kb evaluate KEY --model NAME --weights FILE --peer timm --imagenet DIR")
        return 0
    names = [args.model] if args.model else list(TARGETS.get(args.key, {}))
    for name in names or [None]:
        _target(args.key, name)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be a positive number of images; got {args.limit}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be positive; got {args.batch_size}")
    missing = [flag for flag, value in (("--imagenet DIR", args.imagenet), ("--weights FILE", args.weights)) if value is None]
    if missing or len(names) != 1:
        why = f"no {' and no '.join(missing)} given" if missing else "one --model at a time (one weights file each)"
        for name in names:
            t = TARGETS[args.key][name]
            _say(f"skipped {args.key} {name}: {why}; the paper's {t.top1} % top-1 ({t.source}) stays 'reported'")
        return 0
    record = evaluate(args.key, names[0], args.weights, args.peer, args.imagenet, args.limit, args.batch_size)
    output = args.output or root / "build" / "evaluate" / f"{args.key}-{names[0]}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    subset = f" (a subset: --limit {args.limit})" if args.limit else ""
    _say(f"{args.key} {names[0]}: top-1 {record['measured_top1']:.2f} % on {record['images']} images{subset}; "
         f"the paper prints {record['reported_top1']} % ({record['source']}), difference "
         f"{record['difference']:+.2f}; written to {output}")
    return 0
