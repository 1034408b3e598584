"""Where dataset files live and how they are fetched: URLs, checksums, cache dir, atomic writes.

Search order (see ``convnet.data.load_dataset``): an explicit ``data_dir``, else ``$CONVNET_DATA``,
else the cache directory ``$XDG_CACHE_HOME/convnet`` (``~/.cache/convnet``). Only the cache is ever
downloaded into. Every function takes its mirrors/URLs as arguments, so tests can serve files from
``http.server`` on 127.0.0.1 or from ``file://`` URLs instead of touching the network.
"""

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Sequence

from ..errors import DataError, DownloadError


class ChecksumWarning(UserWarning):
    """A dataset file is structurally valid but differs from the canonical published bytes."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset as published: its name and canonical digests (None = not published)."""

    name: str
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Archive:
    """A tarball that unpacks to one folder, whose files are then checked one by one."""

    format: str                      # what download_dataset's `format` names it by
    file: RemoteFile                 # the tarball and its canonical digest
    folder: str                      # the one folder it unpacks to
    members: tuple[RemoteFile, ...]  # files in that folder, verified after unpacking


@dataclass(frozen=True)
class Source:
    """Where a dataset is published: base URLs tried in order, and the files under each."""

    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    home: str  # the page named in the "put the files here yourself" message
    archives: tuple[Archive, ...] = ()  # instead of files: one tarball per format, default first


# Digests from shared/datasets/SOURCES.md; the MD5s are the ones torchvision checks.
MNIST_FILES = (
    RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
               "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
               "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
               "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
               "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
)
FASHION_FILES = (
    RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
               "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
               "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
               "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
               "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
)
# SOURCES.md: the six .bin MD5s are the canonical ones (pytorch-cpp, rai-project/dldataset check
# them), checked after unpacking. The SHA-256s (of the verified shared copy) are for
# canonical_sha256's warning; batches.meta.txt has no published digest, so it has only that.
CIFAR10_BINARY = Archive("binary", RemoteFile("cifar-10-binary.tar.gz",
                                              "c32a1d4ab5d03f1284b67883e8d87530"),
                         "cifar-10-batches-bin", (
    RemoteFile("data_batch_1.bin", "5dd7e06a14cb22eb9f671a540d1b7c25",
               "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"),
    RemoteFile("data_batch_2.bin", "5ea93a67294ea407fff1d09f752e9692",
               "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed"),
    RemoteFile("data_batch_3.bin", "942cd6a4bcdd0dd3c604fbe906cb4421",
               "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67"),
    RemoteFile("data_batch_4.bin", "ae636b3ba5c66a11e91e8cb52e771fcb",
               "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48"),
    RemoteFile("data_batch_5.bin", "53f37980c15c3d472c316c40844f3f0d",
               "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add"),
    RemoteFile("test_batch.bin", "803d5f7f4d78ea53de84dbe85f74fb6d",
               "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"),
    RemoteFile("batches.meta.txt", None,
               "558e74b5e208382e186da55784b4bac2cd52e558448e1b5800990fdb28ed8033"),
))
# The per-file MD5s torchvision checks (torchvision/datasets/cifar.py); no SHA-256 is published.
CIFAR10_PYTHON = Archive("python", RemoteFile("cifar-10-python.tar.gz",
                                              "c58f30108f718f92721af3b95e74349a"),
                         "cifar-10-batches-py", (
    RemoteFile("data_batch_1", "c99cafc152244af753f735de768cd75f"),
    RemoteFile("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
    RemoteFile("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
    RemoteFile("data_batch_4", "634d18415352ddfa80567beed471001a"),
    RemoteFile("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    RemoteFile("test_batch", "40351d587109b95175f43aff81a1287e"),
    RemoteFile("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
))
# SOURCES.md: UCI publishes no checksum; this is the digest of the verified shared copy.
SEMEION_FILE = RemoteFile("semeion.data", "cb545d371d2ce14ec121470795a77432",
                          "f43228ae3da5ea6a3c95069d53450b86166770e3b719dcc333182128fe08d4b1")

SOURCES = {
    "mnist": Source(("https://ossci-datasets.s3.amazonaws.com/mnist/",
                     "http://yann.lecun.com/exdb/mnist/"),
                    MNIST_FILES, "http://yann.lecun.com/exdb/mnist/"),
    "fashion-mnist": Source(("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
                            FASHION_FILES, "https://github.com/zalandoresearch/fashion-mnist"),
    "cifar10": Source(("https://www.cs.toronto.edu/~kriz/",), (),
                      "https://www.cs.toronto.edu/~kriz/cifar.html",
                      archives=(CIFAR10_BINARY, CIFAR10_PYTHON)),
    "semeion": Source(("https://archive.ics.uci.edu/ml/machine-learning-databases/semeion/",),
                      (SEMEION_FILE,),
                      "https://archive.ics.uci.edu/dataset/178/semeion+handwritten+digit"),
}


def canonical_sha256(dataset: str, filename: str) -> str | None:
    """The published SHA-256 of ``filename`` in ``dataset``, or None when there is none to compare.

    Example:
        >>> canonical_sha256("mnist", "t10k-labels-idx1-ubyte.gz")[:12]
        'f7ae60f92e00'
        >>> canonical_sha256("mnist", "t10k-labels-idx1-ubyte") is None  # raw: none published
        True
        >>> canonical_sha256("cifar10", "test_batch.bin")[:12]      # unpacked from a tarball
        '8e2eb146ae34'
    """
    source = SOURCES.get(dataset)
    files = (source.files + tuple(m for a in source.archives for m in a.members)) if source else ()
    return next((remote.sha256 for remote in files if remote.name == filename), None)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/convnet``, or ``~/.cache/convnet`` when XDG_CACHE_HOME is unset/empty."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "convnet"


def default_roots() -> list[Path]:
    """The roots searched when no data_dir is given: ``$CONVNET_DATA`` (if set), then the cache."""
    env = os.environ.get("CONVNET_DATA")
    return ([Path(env).expanduser()] if env else []) + [cache_dir()]


def download_file(urls: Sequence[str], dest: str | os.PathLike, md5: str | None = None,
                  sha256: str | None = None, timeout: float = 30.0) -> Path:
    """Fetch the first URL that works into ``dest``, verified, via a temp file and ``os.replace``.

    A reader never sees a half-written ``dest``: bytes stream into a temp file beside it, and
    only a file whose digests match is renamed into place. A mismatching file is deleted.

    Args:
        urls (sequence of str): http(s):// or file:// URLs of the same file, tried in order.
        dest (path): where the file ends up; parent folders are created.
        md5, sha256 (str, optional): expected hex digests; each one given is checked.
        timeout (float): seconds to wait on a silent connection. Default: 30.

    Raises:
        DownloadError: every URL failed (one line: the last reason), or a checksum differed.

    Example:
        >>> import hashlib, pathlib, tempfile
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (tmp / "src.bin").write_bytes(b"hello")
        >>> out = download_file([(tmp / "src.bin").as_uri()], tmp / "cache" / "hello.bin",
        ...                     sha256=hashlib.sha256(b"hello").hexdigest())
        >>> out.read_bytes()
        b'hello'
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    reasons = []
    for url in urls:
        try:
            _fetch_verified(url, dest, md5, sha256, timeout)
            return dest
        except DownloadError as exc:  # a bad copy on one mirror: try the next one
            reasons.append(str(exc))
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            reasons.append(f"{url}: {reason}")
    raise DownloadError(f"could not download {dest.name} from {len(urls)} URL(s) ("
                        f"last error: {reasons[-1] if reasons else 'no URLs given'})")


def _fetch_verified(url: str, dest: Path, md5: str | None, sha256: str | None,
                    timeout: float) -> None:
    """Stream one URL into a temp file beside ``dest``; rename it into place if digests match."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                for h in hashes.values():
                    h.update(chunk)
            out.flush()
            os.fsync(out.fileno())  # the rename must not outrun the data on a crash
        for kind, expected in (("md5", md5), ("sha256", sha256)):
            got = hashes[kind].hexdigest()
            if expected and got != expected.lower():
                raise DownloadError(f"{url}: checksum mismatch: expected {kind} {expected}, "
                                    f"got {got}; the download was deleted")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def safe_extract_tar(archive: str | os.PathLike, dest_dir: str | os.PathLike) -> None:
    """Unpack a tar archive into ``dest_dir``, refusing anything that could land outside it.

    Raises:
        DownloadError: the archive is unreadable, or a member is an absolute path, contains
            '..', or is a link or device file.
    """
    dest_dir = Path(dest_dir)
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = member.name
                if name.startswith(("/", "\\")) or os.path.isabs(name) or ".." in Path(name).parts:
                    raise DownloadError(f"{archive}: unsafe member path {member.name!r} "
                                        "(absolute or '..'); refusing to extract")
                if not (member.isfile() or member.isdir()):
                    raise DownloadError(f"{archive}: member {member.name!r} is a link or special "
                                        "file; refusing to extract")
            # filter="data" is a second guard (PEP 706) on top of the checks above.
            tar.extractall(dest_dir, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"{archive}: cannot extract the archive ({exc})") from None


def _manual_hint(name: str, source: Source, dest: Path, archive: Archive | None) -> str:
    """The end of the one-line 'could not download' message: where to put the files by hand."""
    if archive is not None:
        what = f"the {archive.folder}/ folder of {archive.file.name}"
    else:
        what = (f"the {len(source.files)} files" if len(source.files) > 1
                else source.files[0].name)
    return (f"put {what} from {source.home} in {dest}/ (or in DIR/{name}/ and pass --data DIR "
            f"or set CONVNET_DATA=DIR)")


def _pick_archive(name: str, source: Source, format: str | None) -> Archive | None:
    """The tarball for ``format`` (default: the first), or None for a dataset of plain files."""
    formats = [a.format for a in source.archives]
    if format is None:
        return source.archives[0] if source.archives else None
    if format not in formats:
        raise DataError(f"format {format!r} is not one {name} is published in: "
                        f"expected {' or '.join(formats) or 'none (plain files)'}")
    return source.archives[formats.index(format)]


def download_dataset(name: str, root: str | os.PathLike | None = None,
                     mirrors: Sequence[str] | None = None, timeout: float = 30.0,
                     format: str | None = None) -> Path:
    """Download every file of a known dataset into ``<root>/<name>/``; return that folder.

    Files already there are kept. CIFAR-10 comes as a tarball, checked against its MD5,
    unpacked (safely), each unpacked file checked against its own digests, then moved into
    ``<root>/cifar10/cifar-10-batches-bin/`` (or ``-py/``) and the tarball deleted.

    Args:
        name (str): one of ``SOURCES``: mnist, fashion-mnist, cifar10, semeion.
        root (path, optional): the cache root. Default: ``cache_dir()``.
        mirrors (sequence of str, optional): base URLs (ending in '/') to use instead of the
            published ones; each file's URL is base + file name.
        timeout (float): seconds to wait on a silent connection. Default: 30.
        format (str, optional): cifar10 only: "binary" (raw records, read without unpickling)
            or "python" (the pickled batches). Default: "binary".

    Raises:
        DownloadError: one line: why, and where to put the files by hand.
        DataError: an unknown dataset name or format.
    """
    source = SOURCES.get(name)
    if source is None:
        raise DownloadError(f"no download source for dataset {name!r}: "
                            f"known sources are {', '.join(SOURCES)}")
    archive = _pick_archive(name, source, format)
    dest = Path(root if root is not None else cache_dir()) / name
    bases = tuple(mirrors) if mirrors is not None else source.mirrors
    try:
        if archive is not None:
            _download_archive(archive, dest, bases, timeout)
        for remote in source.files:
            target = dest / remote.name
            if not target.exists():
                download_file([base + remote.name for base in bases], target,
                              md5=remote.md5, sha256=remote.sha256, timeout=timeout)
    except DownloadError as exc:
        hint = "" if "checksum" in str(exc) else " (no network?)"
        raise DownloadError(f"could not download {name}{hint}: {exc}; "
                            f"{_manual_hint(name, source, dest, archive)}") from None
    return dest


def _download_archive(archive: Archive, dest: Path, bases: Sequence[str], timeout: float) -> None:
    """Fetch, verify and unpack one tarball unless its folder is already there."""
    if (dest / archive.folder).is_dir():
        return
    tarball = dest / archive.file.name
    if not tarball.exists():
        download_file([base + archive.file.name for base in bases], tarball,
                      md5=archive.file.md5, sha256=archive.file.sha256, timeout=timeout)
    _unpack(archive, tarball, dest)


def _verify_members(archive: Archive, folder: Path) -> None:
    """Each listed file is present and has its published MD5 (files without one are only
    listed for ``canonical_sha256``: a digest of our own copy must not reject a real download)."""
    for remote in archive.members:
        path = folder / remote.name
        if not path.is_file():
            raise DownloadError(f"{archive.file.name}: {archive.folder}/{remote.name} is missing "
                                "from the archive")
        if remote.md5 is None:
            continue
        with open(path, "rb") as f:
            got = hashlib.file_digest(f, "md5").hexdigest()
        if got != remote.md5:
            raise DownloadError(f"{archive.file.name}: {archive.folder}/{remote.name}: checksum "
                                f"mismatch: expected md5 {remote.md5}, got {got}; the download "
                                "was deleted")


def _unpack(archive: Archive, tarball: Path, dest: Path) -> None:
    """Extract and verify in a temp folder first, so an interrupted or bad unpack never looks
    complete; a tarball whose contents fail verification is deleted, not retried as is."""
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    try:
        safe_extract_tar(tarball, tmp)
        if not (tmp / archive.folder).is_dir():
            raise DownloadError(f"{tarball}: the archive has no {archive.folder}/ folder")
        try:
            _verify_members(archive, tmp / archive.folder)
        except DownloadError:
            tarball.unlink(missing_ok=True)
            raise
        try:
            os.replace(tmp / archive.folder, dest / archive.folder)
        except OSError:
            if not (dest / archive.folder).is_dir():  # else another process unpacked it first
                raise DownloadError(f"cannot move the unpacked files into {dest}") from None
        tarball.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
