"""Fuzzing the CIFAR-10 readers in a subprocess: a crash by signal is a failed case, not a dead
pytest. Every mutated or crafted file must load or raise a one-line DataError, nothing else.

The readers run in a bare copy of the package (errors.py, data/{dataset,files,pickles,cifar}.py),
so the subprocess starts in a fraction of a second without torch and runs under a 2 GiB
address-space limit: a memory bomb that got through would fail there, not take the machine's
memory.
"""

import json
import os
import pickle
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from convnet.data import cifar
from convnet.errors import DataError
from test_cifar import Py2Writer, bin_batch, bin_meta, py2_batch, py2_meta

REPO = Path(__file__).resolve().parents[1]
OLD_READER = "603bd8c"  # the last commit whose reader let numpy rebuild arrays from the file

RUNNER = r"""
import json, resource, sys
limit = 2 << 30
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.path.insert(0, sys.argv[1])
from convnet.data import cifar
from convnet.errors import DataError
cases = json.load(open(sys.argv[2]))
for i in range(int(sys.argv[3]), len(cases)):
    name, reader, path = cases[i]
    print("START", i, flush=True)
    try:
        getattr(cifar, reader)(path)
        outcome = "ok"
    except DataError as exc:
        outcome = "DataError" if "\n" not in str(exc) else "multi-line DataError"
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {exc}"[:300]
    print("DONE", i, json.dumps(outcome), flush=True)
"""


def bare_package(dest: Path, cifar_source: str) -> Path:
    """convnet/{errors.py, data/{dataset,files,pickles,cifar}.py} with empty __init__s; no torch."""
    (dest / "convnet" / "data").mkdir(parents=True)
    for init in ("convnet/__init__.py", "convnet/data/__init__.py"):
        (dest / init).write_text("")
    for name in ("errors.py", "data/dataset.py", "data/files.py", "data/pickles.py"):
        (dest / "convnet" / name).write_text((REPO / "convnet" / name).read_text())
    (dest / "convnet" / "data" / "cifar.py").write_text(cifar_source)
    return dest


def run_cases(tmp: Path, cases: dict[str, tuple[str, bytes]], cifar_source=None,
              max_crashes=20) -> dict[str, str]:
    """{case name: outcome}: 'ok', 'DataError', another exception, or 'crashed (signal N)'.

    One subprocess reads the cases in turn; after a crash a new one resumes at the next case.
    """
    source = cifar_source if cifar_source is not None else Path(cifar.__file__).read_text()
    package = bare_package(tmp / "pkg", source)
    files = tmp / "cases"
    files.mkdir()
    manifest = []
    for i, (name, (reader, data)) in enumerate(cases.items()):
        path = files / f"{i:05d}"
        path.write_bytes(data)
        manifest.append((name, reader, str(path)))
    (tmp / "cases.json").write_text(json.dumps(manifest))
    outcomes, start, crashes = {}, 0, 0
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    while start < len(manifest) and crashes <= max_crashes:
        proc = subprocess.run([sys.executable, "-c", RUNNER, str(package), str(tmp / "cases.json"),
                               str(start)], capture_output=True, text=True, env=env, timeout=600)
        last = None
        for line in proc.stdout.splitlines():
            word, index, *rest = line.split(" ", 2)
            last = int(index)
            if word == "DONE":
                outcomes[manifest[last][0]] = json.loads(rest[0])
        if proc.returncode == 0:
            break
        # A crash during the last case started, or while freeing what it built (after DONE).
        assert last is not None, proc.stderr[-2000:]
        outcomes[manifest[last][0]] = f"crashed (signal {-proc.returncode})" \
            if proc.returncode < 0 else f"exited {proc.returncode}: {proc.stderr[-300:]}"
        start, crashes = last + 1, crashes + 1
    return outcomes


# --- crafted attacks ---------------------------------------------------------------------------
def element_size_attack() -> bytes:
    """{'data': numpy scalar of a dtype('S8') whose state says element size -1, 'labels': [1, 2]}.

    Only globals the old reader allowed (numpy.core.multiarray.scalar, numpy.dtype); numpy's
    dtype.__setstate__ accepts elsize -1 for a flexible type, and scalar() then copies
    (size_t)-1 bytes out of the 6,144 given: SIGSEGV. 6,263 bytes in all.
    """
    return (b"\x80\x02}q\x01(U\x04dataq\x02cnumpy.core.multiarray\nscalar\nq\x03"
            b"cnumpy\ndtype\nq\x04U\x02S8K\x00K\x01\x87Rq\x05"
            b"(K\x03U\x01|NNNJ\xff\xff\xff\xffK\x01K\x00tb"  # dtype state: element size -1
            b"T\x00\x18\x00\x00" + bytes(6144) + b"\x86R"     # scalar(dtype, 6,144 bytes)
            b"U\x06labels]q\x06(K\x01K\x02eu.")


def array_pickle(shape=(2, 3072), code=b"u1", endian=b"|", raw=None, elsize=-1, extra=b"NNN",
                 labels=(1, 2), fortran=b"\x89", version=1) -> bytes:
    """A py2-style batch whose array header says whatever the arguments say."""
    w = Py2Writer()
    w.out += b"}q\x01(U\x04data"
    w.out += (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R(")
    w.integer(version)
    w.out += b"("
    for n in shape:
        w.out += b"J" + struct.pack("<i", n) if -2**31 <= n < 2**31 else \
            b"\x8a\x08" + struct.pack("<q", n)
    w.out += b"tcnumpy\ndtype\n"
    w.string(code, memoize=False)
    w.out += b"K\x00K\x01\x87R(K\x03"
    w.string(endian, memoize=False)
    w.out += extra + b"J" + struct.pack("<i", elsize) + b"J\xff\xff\xff\xffK\x00tb" + fortran
    w.string(raw if raw is not None else bytes(6144), memoize=False)
    w.out += b"tbU\x06labels]("
    for x in labels:
        w.integer(x)
    w.out += b"eu."
    return bytes(w.out)


U1 = b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R"  # dtype('u1', 0, 1), as Python 2 numpy wrote it


def crafted() -> dict[str, tuple[str, bytes]]:
    """Hand-made attacks and corruptions, each named for the report."""
    cases = {"element size -1 (scalar + dtype + __setstate__)":
             ("read_batch", element_size_attack())}
    arr = {
        "valid control": {},
        "_reconstruct + dtype V8 elsize -1, empty": dict(code=b"V8", shape=(0, 3072), raw=b""),
        "dtype S8 elsize -1, 2 images": dict(code=b"S8"),
        "dtype float32": dict(code=b"f4", raw=bytes(4 * 6144)),
        "dtype <u2": dict(code=b"u2", endian=b"<", raw=bytes(2 * 6144)),
        "dtype u1 big-endian": dict(endian=b">"),
        "dtype object": dict(code=b"O8"),
        "structured u1": dict(extra=b"N(U\x01ft}(U\x01f(" + U1 + b"K\x00tu"),  # [('f', 'u1')]
        "subarray u1 (-1,)": dict(extra=U1 + b"J\xff\xff\xff\xff\x85\x86NN"),  # ('u1', (-1,))
        "200,000 images declared": dict(shape=(200000, 3072), raw=b"x", labels=()),
        "2**62 images declared": dict(shape=(2**62, 3072), raw=b""),
        "negative images": dict(shape=(-2, 3072)),
        "3-d shape": dict(shape=(2, 3072, 1)),
        "1-d shape": dict(shape=(6144,)),
        "0-d shape": dict(shape=(), raw=b"x"),
        "raw one byte short": dict(raw=bytes(6143)),
        "fortran flag 7": dict(fortran=b"K\x07"),
        "array version 2": dict(version=2),
        "labels too short": dict(labels=(1,)),
        "label 10": dict(labels=(1, 10)),
        "label 70000": dict(labels=(1, 70000)),
    }
    for name, kwargs in arr.items():
        cases[name] = ("read_batch", array_pickle(**kwargs))
    head = b"\x80\x02}q\x01(U\x04dataq\x02"
    raw_cases = {
        "memo index 2**30": b"\x80\x02Nr\x00\x00\x00\x40.",
        "BINBYTES8 of 2**40 bytes": b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"abc.",
        "BINSTRING of 2**31-1 bytes": b"\x80\x02T\xff\xff\xff\x7fabc.",
        "FRAME of 2**60 bytes": b"\x80\x04\x95" + struct.pack("<Q", 2**60) + b"N.",
        "os.system": b"\x80\x02cos\nsystem\nU\x04trueU\x04true\x86R.",
        "builtins.eval": b"\x80\x02c__builtin__\neval\nU\x011\x85R.",
        "numpy.frombuffer": b"\x80\x02cnumpy\nfrombuffer\nU\x01x\x85R.",
        "NEWOBJ on a stand-in": b"\x80\x02cnumpy\ndtype\n)\x81.",
        "call numpy.ndarray": head + b"cnumpy\nndarray\n)R.",
        "BUILD numpy.ndarray": head + b"cnumpy\nndarray\n}b.",
        "_codecs.encode utf-8": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xU\x05utf-8\x86R.",
        "_codecs.encode of bytes": b"\x80\x02c_codecs\nencode\nU\x01xU\x06latin1\x86R.",
        "_reconstruct, no state": head + b"cnumpy.core.multiarray\n_reconstruct\n)RU\x06labels]u.",
        "100,000 nested lists": b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".",
        "STACK_GLOBAL 'os\\nx'": b"\x80\x04\x8c\x04os\nx\x8c\x06system\x93.",
        "BINFLOAT opcode": b"\x80\x02]G?\xf0" + bytes(6) + b"a.",
        "not a dict": b"\x80\x02]q\x01.",
        "empty": b"",
    }
    cases.update({name: ("read_batch", data) for name, data in raw_cases.items()})
    meta = {"meta: non-UTF-8 name": [b"cat", b"\xff\xfe"], "meta: no names": [],
            "meta: repeated": [b"cat", b"cat"], "meta: repeated 'c\\na\\nt'": [b"c\na\nt"] * 2,
            "meta: int name": [b"cat", 7], "meta: 1,000 names": [b"c%d" % i for i in range(1000)]}
    for name, names in meta.items():
        cases[name] = ("read_meta", Py2Writer().mapping([(b"label_names", names)]))
    return cases


def mutated(seed: int = 0, n: int = 250) -> dict[str, tuple[str, bytes]]:
    """Byte flips, insertions, deletions and truncations of real-format files, mostly in their
    structure (the first and last 400 bytes), where a flip changes meaning."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    bases = {"py2 batch": ("read_batch", py2_batch(images.reshape(3, -1), [1, 2, 3])),
             "py2 meta": ("read_meta", py2_meta()),
             "bin batch": ("read_bin_batch", bin_batch(images, [1, 2, 3])),
             "bin meta": ("read_bin_meta", bin_meta())}
    for protocol in (2, 5):
        bases[f"py3 protocol {protocol}"] = ("read_batch", pickle.dumps(
            {"data": images.reshape(3, -1), "labels": [1, 2, 3]}, protocol=protocol))
    cases = {}
    for base, (reader, data) in bases.items():
        hot = [i for i in range(len(data)) if i < 400 or i >= len(data) - 400]
        for cut in sorted(set(rng.choice(hot, min(40, len(hot)), replace=False).tolist())):
            cases[f"{base}: cut at {cut}"] = (reader, data[:cut])
        for k in range(n):
            b = bytearray(data)
            kind = ("flip", "set", "insert", "delete")[k % 4]
            at = int(rng.choice(hot))
            if kind == "flip":
                b[at] ^= 1 << int(rng.integers(8))
            elif kind == "set":
                b[at] = int(rng.choice([0, 1, 0x7f, 0x80, 0xff, int(rng.integers(256))]))
            elif kind == "insert":
                b[at:at] = bytes([int(rng.integers(256))])
            else:
                del b[at]
            cases[f"{base}: {kind} at {at} #{k}"] = (reader, bytes(b))
    return cases


# --- tests -------------------------------------------------------------------------------------
def assert_all_load_or_data_error(outcomes: dict[str, str], expected: int) -> None:
    bad = {name: out for name, out in outcomes.items() if out not in ("ok", "DataError")}
    assert not bad, f"{len(bad)} case(s) neither loaded nor raised DataError: {bad}"
    assert len(outcomes) == expected  # every case reported


def test_crafted_attacks_and_corruptions(tmp_path):
    cases = crafted()
    outcomes = run_cases(tmp_path, cases)
    assert_all_load_or_data_error(outcomes, len(cases))
    assert outcomes["valid control"] == "ok"
    assert [n for n, o in outcomes.items() if o == "ok"] == ["valid control"]


def test_mutated_real_format_files(tmp_path):
    cases = mutated()
    outcomes = run_cases(tmp_path, cases)
    assert_all_load_or_data_error(outcomes, len(cases))
    assert 0 < sum(o == "ok" for o in outcomes.values()) < len(cases)  # both kinds happen


def test_element_size_attack_is_refused(tmp_path):
    """Regression: this 6 KB pickle crashed the interpreter in the old reader (checked below)."""
    path = tmp_path / "data_batch_1"
    path.write_bytes(element_size_attack())
    with pytest.raises(DataError, match="data_batch_1: refusing to unpickle: global "
                                        "numpy.core.multiarray.scalar is not allowed"):
        cifar.read_batch(path)


def test_element_size_attack_crashed_the_old_reader(tmp_path):
    """The attack is real: against the reader of commit 603bd8c it dies by a signal."""
    old = subprocess.run(["git", "-C", str(REPO), "show", f"{OLD_READER}:convnet/data/cifar.py"],
                         capture_output=True, text=True)
    if old.returncode != 0:
        pytest.skip(f"commit {OLD_READER} is not in this checkout's history")
    outcome = run_cases(tmp_path, {"attack": ("read_batch", element_size_attack())},
                        cifar_source=old.stdout)["attack"]
    if not outcome.startswith("crashed"):
        pytest.skip(f"this numpy ({np.__version__}) no longer crashes on it: {outcome}")
    assert outcome in ("crashed (signal 11)", "crashed (signal 7)", "crashed (signal 6)")


def test_declared_size_is_checked_before_allocating(tmp_path):
    """A 158-byte batch that declares 200,000 images (614 MB) is refused, with no big buffer."""
    blob = array_pickle(shape=(200000, 3072), raw=b"x" * 8, labels=())
    assert len(blob) == 158
    path = tmp_path / "data_batch_1"
    path.write_bytes(blob)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="'data' declares 200,000 images "
                                            r"\(614,400,000 bytes\) but holds 8 bytes"):
            cifar.read_batch(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # numpy's allocations are traced too
