"""Unpickling untrusted CIFAR-10 batches: plain containers only, numpy arrays recorded, not built.

The python batches are Python-2 pickles (protocol 2) of dicts holding a numpy array. Numpy never
rebuilds anything from the file here (its ``dtype.__setstate__`` accepts an element size of -1
and its scalar constructor then crashes the interpreter, so restricting ``find_class`` is not
enough): the opcodes are checked first (``_prescan``), numpy's globals become stand-ins that only
record their arguments (``_Recorded``), and ``array_record`` reads back what an array declares
(shape, dtype, raw bytes) for the caller (``cifar._pixels``) to check before any allocation.
"""

import codecs
import io
import pickle
import pickletools
from typing import NamedTuple

from ..errors import DataError

# --------------------------------------------------------------------------- the pickle itself

# Every opcode that a protocol 2-5 pickle of dicts, lists, tuples, ints, strings and numpy arrays
# uses; anything else (NEWOBJ, INST, PERSID, EXT*, floats, sets...) is refused before unpickling.
_OPCODES = frozenset("""
    PROTO FRAME STOP MARK EMPTY_DICT DICT EMPTY_LIST LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3
    SETITEM SETITEMS APPEND APPENDS BININT BININT1 BININT2 LONG1 NONE NEWTRUE NEWFALSE
    SHORT_BINSTRING BINSTRING SHORT_BINUNICODE BINUNICODE BINUNICODE8 SHORT_BINBYTES BINBYTES
    BINBYTES8 BYTEARRAY8 GLOBAL STACK_GLOBAL REDUCE BUILD PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET
    LONG_BINGET""".split())
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


class _Refused(pickle.UnpicklingError):
    """The pickle asks for something a CIFAR batch never needs (a global, an opcode...)."""


def _prescan(data: bytes) -> None:
    """Refuse opcodes outside ``_OPCODES``, and memo indices out of sequence, before unpickling.

    The C unpickler trusts two numbers from the file: a string's declared length (it allocates
    before reading) and a memo index (``LONG_BINPUT 0x40000000`` makes it fill a 16 GiB table).
    ``genops`` checks every length against the bytes left; picklers number the memo 0, 1, 2...
    (Python 2's cPickle from 1), so an index may be at most one past the count so far.
    """
    puts = 0
    for op, arg, pos in pickletools.genops(io.BytesIO(data)):
        if op.name not in _OPCODES:
            raise _Refused(f"opcode {op.name} at byte {pos} is not allowed")
        if op.name in _PUTS:
            if arg > puts + 1:
                raise _Refused(f"memo index {arg} at byte {pos} is out of sequence")
            puts += 1
        elif op.name == "MEMOIZE":
            puts += 1


class _Recorded:
    """A numpy call the pickle asked for, not made: its name, arguments and ``__setstate__`` state.

    Example:
        >>> r = _stand_in("dtype")("u1", False, True); r.__setstate__((3, "|")); r
        <numpy dtype('u1', False, True) not built>
    """

    __slots__ = ("call", "args", "state")

    def __init__(self, call: str, args: tuple):
        self.call, self.args, self.state = call, args, None

    def __setstate__(self, state) -> None:
        self.state = state

    def __repr__(self) -> str:
        args = ", ".join(repr(a) for a in self.args  # the short ones: never the pixels
                         if isinstance(a, (str, bytes)) and len(a) <= 40 or type(a) in (bool, int))
        return f"<numpy {self.call}({args}) not built>"


def _stand_in(call: str):
    def record(*args):
        return _Recorded(call, args)
    return record


def _latin1_encode(text, encoding: str = "utf-8") -> bytes:
    """Python 3 writes bytes into protocol-2 pickles as ``_codecs.encode(text, 'latin1')``."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _Refused("_codecs.encode is allowed only on text, as 'latin1'")
    return codecs.encode(text, "latin1")


_NDARRAY = object()  # what numpy.ndarray resolves to: an argument only; no call, no BUILD
# What numpy's ndarray/dtype __reduce__ emits (numpy 1.x writes "numpy.core", 2.x "numpy._core").
_STAND_INS = {
    ("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _stand_in("dtype"),
    ("_codecs", "encode"): _latin1_encode,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _stand_in("_reconstruct")
       for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _stand_in("_frombuffer")  # protocol 5
       for core in ("core", "_core")},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose only globals are the stand-ins above."""

    def find_class(self, module: str, name: str):
        if (module, name) in _STAND_INS:
            return _STAND_INS[module, name]
        raise _Refused(f"global {module}.{name} is not allowed in a CIFAR batch")


def restricted_loads(data: bytes, name: str = "pickle"):
    """Unpickle plain containers; numpy arrays come back as ``_Recorded`` calls, not arrays.

    Args:
        data (bytes): the pickle.
        name (str): the file name, used in error messages.

    Raises:
        DataError: the pickle names any other global (e.g. ``os.system``), uses an opcode
            outside ``_OPCODES``, or is malformed.

    Example:
        >>> restricted_loads(pickle.dumps({b"labels": [3, 5]}, protocol=2))
        {b'labels': [3, 5]}
        >>> import numpy as np
        >>> restricted_loads(pickle.dumps(np.zeros(2, np.uint8), protocol=2))
        <numpy _reconstruct(b'b') not built>
        >>> import os
        >>> class Evil:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo pwned",))
        >>> restricted_loads(pickle.dumps(Evil()), "evil.pkl")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        convnet.errors.DataError: evil.pkl: refusing to unpickle: global posix.system is not ...
    """
    try:
        _prescan(data)
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _Refused as exc:
        raise DataError(f"{name}: refusing to unpickle: {_one_line(exc)}") from None
    except pickle.UnpicklingError as exc:
        raise DataError(f"{name}: not a valid pickle ({_one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 -- no numpy code runs here; whatever the pickle
        # machinery raises on a mangled file (ValueError, TypeError, EOFError...) means corrupt
        raise DataError(f"{name}: not a valid pickle ({type(exc).__name__}: "
                        f"{_one_line(exc)})") from None


def _one_line(exc: Exception) -> str:
    """The message with line breaks escaped: STACK_GLOBAL can name a module 'os\\nx'."""
    return str(exc).encode("unicode_escape").decode("ascii")[:300]


# --------------------------------------------------------------------------- recorded arrays

class ArrayRecord(NamedTuple):
    """What a pickled ndarray declares: shape, dtype code ('u1'), byte order, raw bytes, order."""

    shape: tuple
    code: str
    endian: str
    raw: bytes
    fortran: bool


_DTYPE_NAMES = {"b1": "bool", "i1": "int8", "u1": "uint8", "i2": "int16", "u2": "uint16",
                "i4": "int32", "u4": "uint32", "i8": "int64", "u8": "uint64",
                "f2": "float16", "f4": "float32", "f8": "float64", "O8": "object"}


def _text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else value


def array_record(obj) -> ArrayRecord | None:
    """The declared parts of a recorded ``_reconstruct``/``_frombuffer`` array, else None."""
    if not isinstance(obj, _Recorded):
        return None
    if obj.call == "_reconstruct" and isinstance(obj.state, tuple) and len(obj.state) == 5:
        version, shape, dtype, fortran, raw = obj.state  # ndarray.__reduce__'s state, version 1
        if version != 1:
            return None
    elif obj.call == "_frombuffer" and len(obj.args) == 4:
        raw, dtype, shape, order = obj.args
        fortran = _text(order) == "F"
    else:
        return None
    if not (isinstance(dtype, _Recorded) and dtype.call == "dtype" and dtype.args
            and isinstance(dtype.args[0], (str, bytes))):
        return None
    state = dtype.state if dtype.state is not None else (3, "|", None, None, None)
    # (version, byte order, subarray, names, fields, ...): a plain dtype has no subarray/fields
    if not isinstance(state, tuple) or len(state) < 5 or not isinstance(state[1], (str, bytes)) \
            or state[2:5] != (None, None, None):
        return None
    if not isinstance(shape, tuple) or not all(type(d) is int for d in shape):
        return None
    if not isinstance(raw, (bytes, bytearray)) or type(fortran) not in (bool, int) \
            or fortran not in (0, 1):
        return None
    return ArrayRecord(shape, _text(dtype.args[0]), _text(state[1]), raw, bool(fortran))


def describe(obj) -> str:
    """A few words on what a value is, for error messages; never its (huge) repr."""
    record = array_record(obj)
    if record is not None:
        order = "big-endian " if record.endian == ">" else ""  # "<" is the usual, native order
        dtype = _DTYPE_NAMES.get(record.code) or repr(record.endian + record.code)[:20]
        return f"{order}{dtype} array of shape {record.shape[:4]}"
    if isinstance(obj, _Recorded):
        return f"malformed numpy {obj.call}"
    return type(obj).__name__
