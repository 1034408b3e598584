"""``Dataset``: one split of a dataset, whole, as arrays: what every reader returns.

A split is one piece (airbench style): images uint8 ``(N, C, H, W)``, labels int64 ``(N,)``,
the class names and the sha256 of each file read. The readers (``idx``, ``cifar``, ``folder``,
``semeion``) each build one; ``select_classes`` keeps a subset of its classes.
"""

from dataclasses import dataclass, replace

import numpy as np

from ..errors import DataError


@dataclass(repr=False)
class Dataset:
    """One split of a dataset, whole, as arrays.

    Args:
        name (str): "mnist", "fashion-mnist", "cifar10", "semeion" or "folder:<path>".
        split (str): "train" or "test".
        images (np.ndarray): uint8 pixels.
        labels (np.ndarray): int64 class indices into ``classes``.
        classes (list[str]): class names, e.g. ["0", ..., "9"] for MNIST.
        files (dict[str, str]): file name -> sha256 of the file read (for the run manifest).
        framing (str, optional): "mnist" for centred white-on-black digits (mnist, semeion).

    Shape:
        images (N, C, H, W) with C = 1 or 3; labels (N,) with values in 0..len(classes)-1.

    Raises:
        DataError: the arrays break the shapes or dtypes above.

    Example:
        >>> ds = Dataset("toy", "train", np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 1]),
        ...              ["a", "b"], {})
        >>> len(ds), ds
        (2, Dataset(name='toy', split='train', images=uint8(2, 1, 4, 4), classes=['a', 'b']))
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    files: dict[str, str]
    framing: str | None = None

    def __post_init__(self):
        imgs, labels = self.images, np.asarray(self.labels)
        if imgs.dtype != np.uint8 or imgs.ndim != 4 or imgs.shape[1] not in (1, 3):
            raise DataError(f"{self.name}: images must be uint8 (N, C, H, W) with C 1 or 3, "
                            f"got {imgs.dtype} {imgs.shape}")
        if labels.ndim != 1 or len(labels) != len(imgs) or labels.dtype.kind not in "iu":
            raise DataError(f"{self.name}: labels must be {len(imgs)} ints, got "
                            f"{labels.dtype} {labels.shape}")
        self.labels = labels.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        # The default dataclass repr would print every pixel.
        return (f"Dataset(name={self.name!r}, split={self.split!r}, "
                f"images={self.images.dtype}{self.images.shape}, classes={self.classes!r})")


def select_classes(ds: Dataset, wanted: list[str]) -> Dataset:
    """Keep only the ``wanted`` classes, relabelled 0..k-1 in the order given.

    Raises:
        DataError: an unknown class name (the message lists the valid ones), a repeated
            name, or an empty list.

    Example:
        >>> ds = Dataset("toy", "train", np.zeros((4, 1, 2, 2), np.uint8), np.array([0, 1, 2, 1]),
        ...              ["cat", "dog", "ship"], {})
        >>> sub = select_classes(ds, ["ship", "cat"])
        >>> sub.classes, sub.labels.tolist()
        (['ship', 'cat'], [1, 0])
    """
    wanted = list(wanted)
    unknown = [c for c in wanted if c not in ds.classes]
    if unknown or not wanted:
        raise DataError(f"unknown class {unknown[0] if unknown else '(empty list)'!r} for "
                        f"{ds.name}: valid names are {', '.join(ds.classes)}")
    if len(set(wanted)) != len(wanted):
        raise DataError(f"classes for {ds.name} must not repeat, got {wanted}")
    lookup = np.full(len(ds.classes), -1, dtype=np.int64)  # old label -> new label, -1 = drop
    lookup[[ds.classes.index(c) for c in wanted]] = np.arange(len(wanted))
    new = lookup[ds.labels]
    keep = new >= 0
    return replace(ds, images=ds.images[keep], labels=new[keep], classes=wanted)
