"""Bounded parsing of untrusted bytes: a pickle's opcode stream scanned before anything unpickles it, JSON parsed
only after its nesting is bounded, and a structural walk of parsed values that cannot blow up.

Why a scan before unpickling, when every unpickler here is already restricted (torch's weights-only one, the data
reader's): restricting *what* may be built does not bound *how much work* building it takes. Through the pickle
memo a few hundred bytes can build a tuple t_{i+1} = (t_i, t_i) forty levels deep; using it as a dict key makes
the unpickler hash 2^40 elements while it holds the GIL (a server froze for every user), and walking it as a value
visits 2^40 nodes. `scan_pickle` simulates the pickle machine's stack without building anything, giving every
object its *expanded* size (the number of nodes a walk of it would visit), and refuses:

- more than `MAX_OPCODES` opcodes;
- a dict key (or set member) that is a container of more than `MAX_KEY_NODES` nodes: hashing it costs its
  expanded size, and real files key dicts by strings and numbers;
- any object whose expanded size exceeds `MAX_NODES`;
- nesting (marks and containers on the stack) deeper than `MAX_DEPTH`.

Immutable containers (tuples, frozensets: the only hashable ones) are complete when built, so their sizes are
exact. A list or dict can still grow after a reference to it was stored elsewhere, which the scan counts at the
size it had then; `walk` (a bounded visit of the parsed result, counting every visit of a shared node again) is
the second line for those.
"""

from __future__ import annotations

import io
import json
import pickletools
from typing import Any

from mfm.errors import MFMError

MAX_OPCODES = 5_000_000
MAX_NODES = 1_000_000
MAX_KEY_NODES = 16
MAX_DEPTH = 200
MAX_JSON_BYTES = 16 * 2**20


class ParseLimitError(MFMError):
    """Untrusted input exceeds a parsing bound; the message names the bound."""


class _Node:
    """A stack or memo entry of the simulated pickle machine: its expanded size (mutable for lists and dicts)."""

    __slots__ = ("size",)

    def __init__(self, size: int = 1) -> None:
        self.size = size


_MARK = object()
# Opcodes that push one new object of size 1 (scalars, globals, empty containers, extension codes, buffers).
_PUSH_ONE = {
    "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT",
    "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE",
    "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "EMPTY_TUPLE", "EMPTY_LIST",
    "EMPTY_DICT", "EMPTY_SET", "GLOBAL", "EXT1", "EXT2", "EXT4", "PERSID", "NEXT_BUFFER",
}  # fmt: skip
_NO_EFFECT = {"PROTO", "FRAME", "READONLY_BUFFER"}


def scan_pickle(data: bytes, name: str, *, pickles: int = 1) -> None:
    """Scan the opcode stream of `pickles` consecutive pickles at the start of `data`; raise ParseLimitError (or
    ParseLimitError for a malformed stream) before any of it is unpickled. See the module docstring."""
    stream = io.BytesIO(data)
    opcodes = 0
    for _ in range(pickles):
        stack: list[Any] = []
        memo: dict[Any, _Node] = {}
        marks = 0
        try:
            for opcode, arg, _position in pickletools.genops(stream):
                opcodes += 1
                if opcodes > MAX_OPCODES:
                    raise ParseLimitError(f"{name}: more than {MAX_OPCODES:,} pickle opcodes; refusing")
                marks = _step(opcode.name, arg, stack, memo, marks, name)
                if opcode.name == "STOP":
                    break
        except ParseLimitError:
            raise
        except (ValueError, IndexError, KeyError, TypeError, EOFError) as error:
            raise ParseLimitError(
                f"{name}: not a well-formed pickle ({type(error).__name__}: {error})"
            ) from None


def _pop_to_mark(stack: list[Any]) -> list[_Node]:
    items = []
    while True:
        item = stack.pop()
        if item is _MARK:
            return items[::-1]
        items.append(item)


def _new(size: int, name: str) -> _Node:
    if size > MAX_NODES:
        raise ParseLimitError(
            f"{name}: an object would expand to more than {MAX_NODES:,} nodes (shared references); refusing"
        )
    return _Node(size)


def _check_key(key: _Node, name: str) -> None:
    if key.size > MAX_KEY_NODES:
        raise ParseLimitError(
            f"{name}: a dict key or set member is a container of {key.size:,} nodes; refusing (hashing it could take "
            "that long)"
        )


# Opcodes whose marked items hold hashed keys: every item (sets) or every other one, from the first (dicts).
_KEY_STRIDE = {"DICT": 2, "SETITEMS": 2, "FROZENSET": 1, "ADDITEMS": 1}


def _check_keys(op: str, items: list[_Node], name: str) -> None:
    for key in items[:: _KEY_STRIDE[op]] if op in _KEY_STRIDE else ():
        _check_key(key, name)


def _step(op: str, arg: Any, stack: list[Any], memo: dict[Any, _Node], marks: int, name: str) -> int:
    """Apply one opcode's effect on sizes; returns the number of open marks."""
    if op in _PUSH_ONE:
        stack.append(_Node())
    elif op in _NO_EFFECT or op == "STOP":
        pass
    elif op == "MARK":
        marks += 1
        if marks > MAX_DEPTH:
            raise ParseLimitError(f"{name}: pickle nesting deeper than {MAX_DEPTH}; refusing")
        stack.append(_MARK)
    elif op in ("TUPLE", "LIST", "FROZENSET", "DICT", "OBJ", "INST"):
        items = _pop_to_mark(stack)
        marks -= 1
        _check_keys(op, items, name)
        stack.append(_new(1 + sum(i.size for i in items), name))
    elif op in ("TUPLE1", "TUPLE2", "TUPLE3"):
        count = int(op[-1])
        items = [stack.pop() for _ in range(count)]
        stack.append(_new(1 + sum(i.size for i in items), name))
    elif op == "APPEND":
        value = stack.pop()
        stack[-1].size = _new(stack[-1].size + value.size, name).size
    elif op in ("APPENDS", "ADDITEMS", "SETITEMS"):
        items = _pop_to_mark(stack)
        marks -= 1
        _check_keys(op, items, name)
        stack[-1].size = _new(stack[-1].size + sum(i.size for i in items), name).size
    elif op == "SETITEM":
        value, key = stack.pop(), stack.pop()
        _check_key(key, name)
        stack[-1].size = _new(stack[-1].size + key.size + value.size, name).size
    elif op in ("PUT", "BINPUT", "LONG_BINPUT"):
        memo[arg] = stack[-1]
    elif op == "MEMOIZE":
        memo[len(memo)] = stack[-1]
    elif op in ("GET", "BINGET", "LONG_BINGET"):
        stack.append(memo[arg])
    elif op == "STACK_GLOBAL":
        stack.pop(), stack.pop()
        stack.append(_Node())
    elif op in ("REDUCE", "NEWOBJ"):
        args = stack.pop()
        stack.pop()  # the callable or class
        stack.append(_new(1 + args.size, name))
    elif op == "NEWOBJ_EX":
        kwargs, args = stack.pop(), stack.pop()
        stack.pop()
        stack.append(_new(1 + args.size + kwargs.size, name))
    elif op == "BUILD":
        state = stack.pop()
        stack[-1].size = _new(stack[-1].size + state.size, name).size
    elif op == "BINPERSID":
        pid = stack.pop()
        stack.append(_new(1 + pid.size, name))
    elif op == "POP":
        if stack.pop() is _MARK:
            marks -= 1
    elif op == "POP_MARK":
        _pop_to_mark(stack)
        marks -= 1
    elif op == "DUP":
        stack.append(stack[-1])
    else:  # an opcode this scan does not model: refuse rather than guess
        raise ParseLimitError(f"{name}: pickle opcode {op} is not accepted")
    if len(stack) > 10 * MAX_NODES:
        raise ParseLimitError(f"{name}: the pickle stack grows beyond {10 * MAX_NODES:,} entries; refusing")
    return marks


# ---------------------------------------------------------------------------------------------------------------
# JSON and parsed values
# ---------------------------------------------------------------------------------------------------------------
def json_nesting(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON `text` (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_json(data: bytes | str, name: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse untrusted JSON: bounded size and nesting (checked before parsing), integers of bounded length, and
    every failure a ParseLimitError naming `name`; then `walk`ed."""
    if len(data) > max_bytes:
        raise ParseLimitError(
            f"{name}: {len(data) / 2**20:.1f} MiB of JSON, more than {max_bytes / 2**20:.0f} MiB"
        )
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as error:
        raise ParseLimitError(f"{name} is not valid JSON (not UTF-8: {error.reason})") from None
    if json_nesting(text) > MAX_DEPTH:
        raise ParseLimitError(f"{name}: JSON nested deeper than {MAX_DEPTH} levels; refusing")
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except ParseLimitError as error:  # an integer too long: say in which file
        raise ParseLimitError(f"{name}: {error}") from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise ParseLimitError(f"{name} is not valid JSON ({str(error)[:200]})") from None
    walk(value, name)
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 30:
        raise ParseLimitError(f"a JSON integer of {len(text)} digits; refusing integers of more than 30")
    return int(text)


def walk(value: Any, name: str, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> int:
    """Visit a parsed value (dicts, lists, tuples and scalars), counting every visit of a shared node again, and
    refuse it (ParseLimitError) beyond `max_nodes` visits or `max_depth` levels. Iterative: no recursion limit
    is the defence. Returns the number of nodes."""
    visits = 0
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        visits += 1
        if visits > max_nodes:
            raise ParseLimitError(f"{name}: more than {max_nodes:,} values (or shared references); refusing")
        if depth > max_depth:
            raise ParseLimitError(f"{name}: nested deeper than {max_depth} levels; refusing")
        if isinstance(item, dict):
            pending.extend((v, depth + 1) for v in item.values())
            pending.extend((k, depth + 1) for k in item if not isinstance(k, str))
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend((v, depth + 1) for v in item)
    return visits
