"""Datasets as whole uint8 arrays: ``load_dataset(name, split) -> Dataset``.

A split is loaded in one piece (airbench style): images uint8 ``(N, C, H, W)``, labels int64
``(N,)`` (``dataset.Dataset``). Readers, each returning a ``Dataset``: ``idx`` (MNIST,
Fashion-MNIST), ``cifar`` (CIFAR-10), ``folder`` (your own images), ``semeion``; ``download``
knows the URLs, checksums and the cache. This module finds a split's files and picks the reader.
"""

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from .cifar import BIN_META, META, TEST_BATCHES, TRAIN_BATCHES, load_cifar10, load_cifar10_bin
from .dataset import Dataset, select_classes
from .download import ChecksumWarning, canonical_sha256, cache_dir, default_roots, download_dataset
from .folder import load_folder
from .idx import declared_size, load_idx
from .semeion import load_semeion

__all__ = ["Dataset", "load_dataset", "select_classes", "DATASETS", "ChecksumWarning"]

DATASETS = ("mnist", "fashion-mnist", "cifar10", "semeion")
SPLITS = ("train", "test")


# --- where each dataset's files can be -------------------------------------------------------
# Sub-folders tried inside each root, in order; "" is the root itself (the user pointed at the
# dataset folder). MNIST/raw and FashionMNIST/raw are torchvision's layout.
_SUBDIRS = {
    "mnist": ("mnist", "MNIST/raw", ""),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw", ""),
    "cifar10": ("cifar10/cifar-10-batches-bin", "cifar10/cifar-10-batches-py",
                "cifar-10-batches-bin", "cifar-10-batches-py", "cifar10", ""),
    "semeion": ("extra/semeion", "semeion", ""),
}


def _required(name: str, split: str) -> list[tuple[str, ...]]:
    """The files a split needs, each as a tuple of accepted spellings (first = canonical)."""
    if name in ("mnist", "fashion-mnist"):
        prefix = "train" if split == "train" else "t10k"
        return [(f"{prefix}-{kind}-{idx}-ubyte.gz", f"{prefix}-{kind}-{idx}-ubyte",
                 f"{prefix}-{kind}.{idx}-ubyte", f"{prefix}-{kind}.{idx}-ubyte.gz")
                for kind, idx in (("images", "idx3"), ("labels", "idx1"))]
    if name == "cifar10":  # the binary version (first: no unpickling), or the python one
        batches = TRAIN_BATCHES if split == "train" else TEST_BATCHES
        return [(BIN_META, META)] + [(f"{b}.bin", b) for b in batches]
    return [("semeion.data",)]


def _find_in(root: Path, name: str, required: list[tuple[str, ...]]) -> list[Path] | None:
    """The paths of every required file in the first sub-folder of ``root`` that has them all."""
    for sub in _SUBDIRS[name]:
        directory = root / sub
        paths = [next((directory / a for a in alts if (directory / a).is_file()), None)
                 for alts in required]
        if all(paths):
            return paths
    return None


def _missing_message(root: Path, name: str, split: str, required: list[tuple[str, ...]]) -> str:
    """One line: which files are missing from the most complete candidate folder."""
    folders = [root / sub for sub in _SUBDIRS[name]]
    def present(d: Path) -> int:
        return sum(any((d / a).is_file() for a in alts) for alts in required)
    best = max(folders, key=present)  # ties keep the first, i.e. <root>/<name>
    missing = [alts[0] for alts in required if not any((best / a).is_file() for a in alts)]
    return (f"{name} {split} split: missing {', '.join(missing)} in {best} "
            f"(also looked in {', '.join(str(f) for f in folders if f != best)})")


def _locate(name: str, split: str, data_dir, download: bool) -> list[Path]:
    """Find a split's files: data_dir (strictly), else $CONVNET_DATA, the cache, a download."""
    required = _required(name, split)
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise DataError(f"data dir {root} does not exist or is not a directory")
        found = _find_in(root, name, required)
        if found is None:  # never download into a folder the user chose
            raise DataError(_missing_message(root, name, split, required))
        return found
    roots = default_roots()
    for root in roots:
        found = _find_in(root, name, required)
        if found is not None:
            return found
    if not download:
        looked = " or ".join(str(r) for r in roots)
        raise DataError(f"{name} {split} files not found in {looked} and download is off: "
                        f"put them in DIR/{name}/ and pass --data DIR or set CONVNET_DATA=DIR")
    download_dataset(name, cache_dir())
    found = _find_in(cache_dir(), name, required)
    if found is None:
        raise DataError(_missing_message(cache_dir(), name, split, required))
    return found


# --- readers ---------------------------------------------------------------------------------
def _read(name: str, split: str, paths: list[Path]) -> Dataset:
    """Read a located split with the reader for its format."""
    if name in ("mnist", "fashion-mnist"):
        ds = load_idx(paths[0], paths[1], name, split)
        _same_size_as_other_split(name, split, paths[0], ds.images.shape[2:])
        return ds
    if name == "cifar10":
        binary = all(p.suffix == ".bin" for p in paths[1:])
        return (load_cifar10_bin if binary else load_cifar10)(paths[0].parent, split)
    return load_semeion(paths[0], split)  # no official split: both are all 1,593 digits


def _same_size_as_other_split(name: str, split: str, path: Path, size: tuple) -> None:
    """Refuse IDX splits of different image sizes (the other split's header, when it is there).

    Training fits both splits to the model's input, so a 32x32 test split beside 28x28 training
    images would be silently resized and scored. An unreadable other file is left to its own load.
    """
    alts = _required(name, "test" if split == "train" else "train")[0]  # its images file
    other = next((path.parent / a for a in alts if (path.parent / a).is_file()), None)
    try:
        other_size = declared_size(other) if other is not None else tuple(size)
    except DataError:
        return
    if tuple(other_size) != tuple(size):
        raise DataError(f"{path} holds {size[0]}x{size[1]} images but {other} holds "
                        f"{other_size[0]}x{other_size[1]}; the train and test splits of a "
                        "dataset must have images of one size")


def _check_usable(ds: Dataset) -> None:
    """A split a classifier can use: some images, at least 2 classes, and (train) 2 in use.

    A one-class dataset trains a model that scores 100 % by answering the only class.
    """
    if len(ds) == 0:
        raise DataError(f"{ds.name} {ds.split} split has no images")
    if len(ds.classes) < 2:
        raise DataError(f"{ds.name}: {len(ds.classes)} class {ds.classes!r:.100}; a classifier "
                        "needs at least 2 classes")
    if ds.split == "train" and np.all(ds.labels == ds.labels[0]):
        raise DataError(f"{ds.name} train split: all {len(ds):,} images are of class "
                        f"{ds.classes[ds.labels[0]]!r:.100}; a classifier needs at least 2 "
                        "classes to learn")


def _warn_if_not_canonical(ds: Dataset) -> None:
    """One ChecksumWarning per file whose bytes differ from the published original."""
    for filename, sha in ds.files.items():
        expected = canonical_sha256(ds.name, filename)
        if expected is not None and sha != expected:
            warnings.warn(f"{ds.name}/{filename}: checksum differs from the canonical file "
                          "(re-packed or edited copy?); structure is valid, using it",
                          ChecksumWarning, stacklevel=3)


def _folder_path(name) -> Path | None:
    """The image folder that ``name`` points at ("folder:PATH" or an existing dir), else None."""
    text = os.fspath(name)
    if text.startswith("folder:"):
        path = Path(text[len("folder:"):]).expanduser()
        if not path.is_dir():
            raise DataError(f"image folder {path} does not exist or is not a directory")
        return path
    if text not in DATASETS and Path(text).expanduser().is_dir():
        return Path(text).expanduser()
    return None


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 classes: list[str] | None = None, download: bool = True,
                 image_size: int = 32, channels: int | None = None) -> Dataset:
    """Load one split of a known dataset or of an image folder.

    Args:
        name (str): one of ``DATASETS``, or an image folder as "folder:PATH" or an existing path.
        split (str): "train" or "test". Default: "train".
        data_dir (path, optional): where the files are: ``<data_dir>/<name>/`` or ``<data_dir>/``
            itself. Missing files there are an error, never a download. Default: search
            ``$CONVNET_DATA``, then the cache (``$XDG_CACHE_HOME/convnet``).
        classes (list[str], optional): keep only these classes, relabelled 0..k-1 in this order,
            e.g. ["dog", "cat", "ship", "bird"]. Default: all.
        download (bool): fetch into the cache when no copy is found. Default: True.
        image_size (int): folders only: output side in pixels. Default: 32.
        channels (int, optional): folders only: 1 or 3. Default: 1 if all images are gray.

    Shape:
        images (N, C, H, W) uint8: MNIST/Fashion (N, 1, 28, 28), CIFAR-10 (N, 3, 32, 32).

    Raises:
        DataError: an unknown name, split or class; missing or corrupt files; an empty split,
            fewer than 2 classes, or a train split whose images are all of one class.
        DownloadError: the files had to be downloaded and could not be.

    Example:
        >>> import pathlib, tempfile
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for cls, shade in (("dark", 30), ("light", 220)):
        ...     (root / cls).mkdir()
        ...     for i in range(6):
        ...         Image.new("L", (10, 12), shade).save(root / cls / f"{i}.png")
        >>> train = load_dataset(str(root), image_size=8)
        >>> train.images.shape, train.classes, train.labels.tolist()
        ((10, 1, 8, 8), ['dark', 'light'], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
        >>> len(load_dataset(f"folder:{root}", split="test"))
        2
    """
    if split not in SPLITS:
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    folder = _folder_path(name)
    if folder is not None:
        ds = load_folder(folder, split, image_size, channels)
    elif name in DATASETS:
        ds = _read(name, split, _locate(name, split, data_dir, download))
        _warn_if_not_canonical(ds)
    else:
        raise DataError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}, "
                        "or an image folder (folder:PATH)")
    ds = ds if classes is None else select_classes(ds, classes)
    _check_usable(ds)
    return ds
