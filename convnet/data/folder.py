"""Image folders: ``DIR/<class>/*.png|jpg|jpeg|bmp|gif|webp`` -> one resized uint8 array.

Each file is decoded and sized exactly as ``predict`` decodes and sizes a user's image
(``decode.read_image`` with the model's ``decode_keep``, then ``resize_centre_crop``), so a
model sees at prediction what it saw in training, down to a large photo's decoding reduction.
Class names are the sorted sub-folder names. When ``DIR`` holds
``train/`` and ``test/`` those are the splits; otherwise every 6th image of each class (by sorted
file name) is held out as the test split, so the split is the same on every machine and run.
"""

import hashlib
import io
from pathlib import Path

import numpy as np

from ..errors import DataError, ImageError
from .dataset import Dataset
from .decode import image_mode, read_image
from .preprocess import decode_keep, resize_centre_crop

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
HOLDOUT = 6  # 1 image in 6 is test: a 5:1 split, the ratio of MNIST's 60k:10k


def holdout(paths: list) -> tuple[list, list]:
    """Split one class's sorted files: every 6th goes to test, the rest to train.

    Example:
        >>> holdout([f"{i:02d}.png" for i in range(8)])
        (['00.png', '01.png', '02.png', '03.png', '04.png', '06.png', '07.png'], ['05.png'])
    """
    train = [p for i, p in enumerate(paths) if i % HOLDOUT != HOLDOUT - 1]
    test = [p for i, p in enumerate(paths) if i % HOLDOUT == HOLDOUT - 1]
    return train, test


def _images_in(directory: Path) -> list[Path]:
    """Image files directly inside ``directory``, sorted by name; hidden files skipped."""
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


def _class_dirs(directory: Path) -> dict[str, list[Path]]:
    """{class name: sorted image paths} for every sub-folder that holds at least one image."""
    found = {}
    for sub in sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = _images_in(sub)
        if images:
            found[sub.name] = images
    return found


def scan_folder(root: str | Path) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """Find the classes and the (path, label) pairs of each split.

    Returns:
        (sorted class names, {"train": [(path, label), ...], "test": [...]}).

    Raises:
        DataError: ``root`` is not a folder, or no class folder in it holds an image.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a directory")
    if (root / "train").is_dir() and (root / "test").is_dir():
        per_split = {s: _class_dirs(root / s) for s in ("train", "test")}
    else:
        per_class = _class_dirs(root)
        per_split = {"train": {}, "test": {}}
        for name, paths in per_class.items():
            per_split["train"][name], per_split["test"][name] = holdout(paths)
    classes = sorted(set(per_split["train"]) | set(per_split["test"]))
    if not classes:
        exts = "|".join(e[1:] for e in IMAGE_EXTENSIONS)
        raise DataError(f"no images found in {root}: expected {root}/<class>/*.{exts} "
                        "(one sub-folder per class)")
    label = {name: i for i, name in enumerate(classes)}
    pairs = {split: [(p, label[name]) for name, paths in by_class.items() for p in paths]
             for split, by_class in per_split.items()}
    return classes, pairs


def _is_gray(path: Path) -> bool:
    """Whether ``read_image`` will decode the file as ``L``; reads only the header."""
    try:
        return image_mode(path) == "L"
    except ImageError as exc:
        raise DataError(str(exc)) from None  # the message names the file


def _read_image(path: Path, channels: int, size: int) -> tuple[np.ndarray, str]:
    """Decode as prediction does (``read_image``, ``resize_centre_crop``); pixels and sha256."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the image ({exc.strerror or exc})") from None
    named = io.BytesIO(raw)
    named.name = str(path)  # the name ImageError messages use
    try:
        image = read_image(named, decode_keep((channels, size, size), None))
        pixels = resize_centre_crop(image, channels, size, size)  # (C, H, W)
    except ImageError as exc:
        raise DataError(str(exc)) from None
    return pixels, hashlib.sha256(raw).hexdigest()


def load_folder(root: str | Path, split: str = "train", image_size: int = 32,
                channels: int | None = None) -> Dataset:
    """Read one split of an image folder, each image sized to ``image_size`` squared.

    Each image's shorter side is resized to ``image_size`` and its centre cropped, the rule
    ``predict`` applies to a user's image (``resize_centre_crop``); 16-bit images are v / 257,
    transparency is composited onto white, EXIF rotation is applied (``read_image``).

    Args:
        root (path): the folder holding ``<class>/`` (or ``train/<class>/`` and ``test/<class>/``).
        split (str): "train" or "test".
        image_size (int): side of the square output images. Default: 32.
        channels (int, optional): 1 (grayscale) or 3 (RGB). Default: 1 if every image in the
            folder (both splits, so they agree) decodes as grayscale (``image_mode``), else 3.

    Shape:
        images (N, C, image_size, image_size) uint8; labels (N,) int64. The Dataset's name is
        "folder:<root>", its ``files`` {path relative to root: sha256}.

    Raises:
        DataError: no images, an unreadable image (named), or an empty split.
    """
    if not isinstance(image_size, int) or image_size < 1:
        raise DataError(f"image_size must be a positive int, got {image_size!r}")
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1, 3 or None (auto), got {channels!r}")
    root = Path(root)
    classes, pairs = scan_folder(root)
    if channels is None:
        everything = pairs["train"] + pairs["test"]
        channels = 1 if all(_is_gray(p) for p, _ in everything) else 3
    chosen = pairs[split]
    if not chosen:
        raise DataError(f"image folder {root} has no {split} images: the test split holds every "
                        f"{HOLDOUT}th image of each class, so give a class at least {HOLDOUT} "
                        "images, or use train/ and test/ sub-folders")
    images = np.empty((len(chosen), channels, image_size, image_size), dtype=np.uint8)
    files = {}
    for i, (path, _) in enumerate(chosen):
        images[i], files[path.relative_to(root).as_posix()] = _read_image(path, channels,
                                                                          image_size)
    labels = np.array([label for _, label in chosen], dtype=np.int64)
    return Dataset(f"folder:{root}", split, images, labels, classes, files)
