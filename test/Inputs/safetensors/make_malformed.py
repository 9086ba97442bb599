#!/usr/bin/python3
"""Writes the safetensors test inputs next to this script, plus README.md.

Every bad_*.safetensors breaks exactly one rule of the safetensors checklist in
shared/RELIABILITY.md (the "Rule" column); every reader must reject it with a
one-line message that names the file and contains the "Message contains"
keyword. The good_*.safetensors files must load. The unit tests
(test/Unit/Params/InputFilesTest.cpp) read README.md's table, so the table is
the contract: change the cases here and rerun

    /usr/bin/python3 test/Inputs/safetensors/make_malformed.py

The bytes are built by hand, not by a safetensors library, so that the files
say exactly what the comments say. Standard library only.
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def archive(header, data=b"", length=None):
    """8-byte little-endian header length, header, data section."""
    if isinstance(header, str):
        header = header.encode("utf-8")
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


def entry(dtype, shape, begin, end):
    return '{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}' % (
        dtype, json.dumps(shape, separators=(",", ":")), begin, end)


def one(dtype="F32", shape=(2, 2), offsets=(0, 16), data_len=16):
    """A single-tensor archive named "w"; the usual base for one-field breaks."""
    header = '{"w":%s}' % entry(dtype, list(shape), *offsets)
    return archive(header, bytes(data_len))


def raw_entry(fields):
    """A single tensor "w" whose entry is `fields` verbatim (JSON text)."""
    return '{"w":{%s}}' % fields


W_OK = '"dtype":"U8","shape":[4],"data_offsets":[0,4]'

# (file stem, rule, what is wrong, keyword in the message, bytes)
BAD = [
    # Rule 1: length field and file size.
    ("empty", 1, "zero-byte file", "too short", b""),
    ("seven_bytes", 1, "7 bytes, shorter than the length field", "too short",
     bytes(7)),
    ("length_over_limit", 1, "header length 100,000,001 > the 100 MB limit",
     "exceeds the limit", archive("{}", length=100_000_001)),
    ("length_u64_max", 1, "header length 2^64-1 (overflows 8 + N)",
     "exceeds the limit", archive("{}", length=2**64 - 1)),
    ("length_past_eof", 1, "header length 100 > the 12 bytes in the file",
     "follow the length field", archive("{}" + " " * 10, length=100)),
    ("length_at_limit_past_eof", 1,
     "header length exactly 100,000,000 but the file is tiny",
     "follow the length field", archive("{}", length=100_000_000)),
    ("length_one_past", 1, "header length one byte past the end of file",
     "follow the length field", archive("{}", length=3)),
    # Rule 2: UTF-8 JSON starting with '{', padded only with spaces.
    ("zero_length_header", 2, "header length 0", "must start with '{'",
     archive(b"", length=0)),
    ("leading_space", 2, "header starts with a space", "start with '{'",
     archive(" {}")),
    ("bom", 2, "header starts with a UTF-8 byte order mark", "start with '{'",
     archive(b"\xef\xbb\xbf{}")),
    ("array_header", 2, "header is a JSON array", "start with '{'",
     archive("[]")),
    ("nul_padding", 2, "header padded with NUL bytes", "NUL",
     archive(b"{}" + bytes(6))),
    ("nul_after_spaces", 2, "spaces, then a NUL, as padding", "NUL",
     archive(b"{}   \x00  ")),
    ("newline_padding", 2, "header padded with a newline", "only spaces",
     archive("{}\n     ")),
    ("tab_padding", 2, "header padded with a tab", "only spaces",
     archive("{}\t")),
    ("trailing_garbage", 2, "a byte after the JSON object", "only spaces",
     archive("{}x")),
    ("two_objects", 2, "two JSON objects in the header", "only spaces",
     archive("{}{}")),
    ("invalid_utf8", 2, "byte 0xff in a tensor name", "UTF-8",
     archive(b'{"\xff":' + entry("U8", [4], 0, 4).encode() + b"}", bytes(4))),
    ("overlong_utf8", 2, "overlong encoding C0 AF of '/'", "UTF-8",
     archive(b'{"\xc0\xaf":' + entry("U8", [4], 0, 4).encode() + b"}",
             bytes(4))),
    ("utf8_surrogate", 2, "UTF-8-encoded surrogate ED A0 80", "UTF-8",
     archive(b'{"\xed\xa0\x80":' + entry("U8", [4], 0, 4).encode() + b"}",
             bytes(4))),
    ("utf8_above_max", 2, "code point above U+10FFFF (F4 90 80 80)", "UTF-8",
     archive(b'{"\xf4\x90\x80\x80":' + entry("U8", [4], 0, 4).encode() +
             b"}", bytes(4))),
    ("truncated_utf8", 2, "a 3-byte sequence cut after 2 bytes", "UTF-8",
     archive(b'{"\xe2\x82":' + entry("U8", [4], 0, 4).encode() + b"}",
             bytes(4))),
    ("truncated_json", 2, "JSON cut in the middle of an entry",
     "not valid JSON", archive('{"w":{"dtype":"U8"')),
    ("lone_surrogate_escape", 2, "\\ud800 escape without its low half",
     "surrogate", archive('{"\\ud800":%s}' % entry("U8", [4], 0, 4),
                          bytes(4))),
    ("control_char_in_name", 2, "raw newline inside a tensor name",
     "control character",
     archive('{"a\nb":%s}' % entry("U8", [4], 0, 4), bytes(4))),
    ("deep_nesting", 2, "arrays nested 100 deep", "nesting",
     archive('{"w":' + "[" * 100 + "]" * 100 + "}")),
    ("leading_zero", 2, "data_offsets written as [00, 4]", "leading zero",
     archive('{"w":{"dtype":"U8","shape":[4],"data_offsets":[00,4]}}',
             bytes(4))),
    # Rule 3: no duplicate keys, at any level.
    ("duplicate_tensor", 3, "tensor \"w\" appears twice", "duplicate key",
     archive('{"w":%s,"w":%s}' % (entry("U8", [4], 0, 4),
                                  entry("U8", [4], 4, 8)), bytes(8))),
    ("duplicate_escaped_name", 3,
     "\"a\" and \"\\u0061\" are the same key", "duplicate key",
     archive('{"a":%s,"\\u0061":%s}' % (entry("U8", [4], 0, 4),
                                        entry("U8", [4], 4, 8)), bytes(8))),
    ("duplicate_field", 3, "dtype given twice in one entry", "duplicate key",
     archive(raw_entry('"dtype":"U8","dtype":"I8","shape":[4],'
                       '"data_offsets":[0,4]'), bytes(4))),
    ("duplicate_metadata_key", 3, "a key repeated inside __metadata__",
     "duplicate key",
     archive('{"__metadata__":{"k":"a","k":"b"},"w":%s}' %
             entry("U8", [4], 0, 4), bytes(4))),
    # Rule 4: __metadata__ maps strings to strings.
    ("metadata_array", 4, "__metadata__ is an array", "__metadata__",
     archive('{"__metadata__":[],"w":%s}' % entry("U8", [4], 0, 4),
             bytes(4))),
    ("metadata_number_value", 4, "a __metadata__ value is a number",
     "__metadata__",
     archive('{"__metadata__":{"k":1},"w":%s}' % entry("U8", [4], 0, 4),
             bytes(4))),
    ("metadata_null_value", 4, "a __metadata__ value is null", "__metadata__",
     archive('{"__metadata__":{"k":null}}')),
    ("metadata_nested", 4, "a __metadata__ value is an object",
     "__metadata__", archive('{"__metadata__":{"k":{"x":"y"}}}')),
    # Rule 5: dtype in the known set; the entry has exactly three fields.
    ("unknown_dtype", 5, "dtype F8_E4M3 (not in our set)", "unknown dtype",
     one(dtype="F8_E4M3", shape=(4,), offsets=(0, 4), data_len=4)),
    ("lowercase_dtype", 5, "dtype \"f32\" (names are upper case)",
     "unknown dtype", one(dtype="f32")),
    ("dtype_number", 5, "dtype is a number", "dtype is not a string",
     archive(raw_entry('"dtype":4,"shape":[4],"data_offsets":[0,4]'),
             bytes(4))),
    ("missing_dtype", 5, "no dtype field", 'missing field "dtype"',
     archive(raw_entry('"shape":[4],"data_offsets":[0,4]'), bytes(4))),
    ("unknown_field", 5, "an extra field \"offsets\" in a tensor entry",
     "unknown field", archive(raw_entry(W_OK + ',"offsets":[0,4]'), bytes(4))),
    ("entry_not_object", 5, "a tensor entry that is an array",
     "not an object", archive('{"w":[0,4]}')),
    ("empty_name", 5, "a tensor named \"\"", "name is empty",
     archive('{"":%s}' % entry("U8", [4], 0, 4), bytes(4))),
    # Rule 6: shape and data_offsets.
    ("negative_dim", 6, "shape [-1]", "shape[0]",
     archive(raw_entry('"dtype":"U8","shape":[-1],"data_offsets":[0,0]'))),
    ("fractional_dim", 6, "shape [1.5]", "shape[0]",
     archive(raw_entry('"dtype":"U8","shape":[1.5],"data_offsets":[0,1]'),
             bytes(1))),
    ("exponent_dim", 6, "shape [4e0] (not an integer literal)", "shape[0]",
     archive(raw_entry('"dtype":"U8","shape":[4e0],"data_offsets":[0,4]'),
             bytes(4))),
    ("string_dim", 6, "shape [\"4\"]", "shape[0]",
     archive(raw_entry('"dtype":"U8","shape":["4"],"data_offsets":[0,4]'),
             bytes(4))),
    ("dim_over_u64", 6, "a dimension of 2^64", "shape[0]",
     archive(raw_entry('"dtype":"U8","shape":[18446744073709551616],'
                       '"data_offsets":[0,0]'))),
    ("dim_over_i64", 6, "a dimension of 2^63", "shape[1]",
     archive(raw_entry('"dtype":"U8","shape":[0,9223372036854775808],'
                       '"data_offsets":[0,0]'))),
    ("shape_not_array", 6, "shape is a number", "shape is not an array",
     archive(raw_entry('"dtype":"U8","shape":4,"data_offsets":[0,4]'),
             bytes(4))),
    ("missing_shape", 6, "no shape field", 'missing field "shape"',
     archive(raw_entry('"dtype":"U8","data_offsets":[0,4]'), bytes(4))),
    ("count_overflow", 6, "U8[2^32, 2^32, 2]: 2^65 elements",
     "element count",
     archive(raw_entry('"dtype":"U8","shape":[4294967296,4294967296,2],'
                       '"data_offsets":[0,0]'))),
    ("bytes_overflow", 6, "F32[2^62]: 2^64 bytes", "byte size",
     archive(raw_entry('"dtype":"F32","shape":[4611686018427387904],'
                       '"data_offsets":[0,0]'))),
    ("offsets_three", 6, "data_offsets [0, 4, 4]", "exactly 2",
     archive(raw_entry('"dtype":"U8","shape":[4],"data_offsets":[0,4,4]'),
             bytes(4))),
    ("offsets_one", 6, "data_offsets [4]", "exactly 2",
     archive(raw_entry('"dtype":"U8","shape":[4],"data_offsets":[4]'),
             bytes(4))),
    ("offsets_not_array", 6, "data_offsets is an object", "exactly 2",
     archive(raw_entry('"dtype":"U8","shape":[4],'
                       '"data_offsets":{"begin":0,"end":4}'), bytes(4))),
    ("offsets_negative", 6, "data_offsets [-4, 0]", "data_offsets[0]",
     archive(raw_entry('"dtype":"U8","shape":[4],"data_offsets":[-4,0]'))),
    ("offsets_fraction", 6, "data_offsets [0, 4.0]", "data_offsets[1]",
     archive(raw_entry('"dtype":"U8","shape":[4],"data_offsets":[0,4.0]'),
             bytes(4))),
    ("offsets_reversed", 6, "data_offsets [4, 0]", "begin > end",
     archive(raw_entry('"dtype":"U8","shape":[4],"data_offsets":[4,0]'),
             bytes(4))),
    ("size_mismatch", 6, "F32[2, 2] (16 bytes) at data_offsets [0, 12]",
     "do not match 16 bytes of F32[2, 2]",
     one(offsets=(0, 12), data_len=12)),
    ("size_mismatch_dtype", 6, "F64[2] (16 bytes) at data_offsets [0, 8]",
     "do not match 16 bytes of F64[2]",
     one(dtype="F64", shape=(2,), offsets=(0, 8), data_len=8)),
    ("missing_offsets", 6, "no data_offsets field",
     'missing field "data_offsets"',
     archive(raw_entry('"dtype":"U8","shape":[4]'), bytes(4))),
    # Rule 7: sorted by offset, contiguous, covering the data section exactly.
    ("first_not_at_zero", 7, "the only tensor starts at 4", "begin at 0",
     one(dtype="U8", shape=(4,), offsets=(4, 8), data_len=8)),
    ("gap", 7, "4 unused bytes between two tensors", "gap",
     archive('{"a":%s,"b":%s}' % (entry("U8", [4], 0, 4),
                                  entry("U8", [4], 8, 12)), bytes(12))),
    ("overlap", 7, "two tensors share bytes 4..8", "overlap",
     archive('{"a":%s,"b":%s}' % (entry("U8", [8], 0, 8),
                                  entry("U8", [8], 4, 12)), bytes(12))),
    ("same_range", 7, "two tensors at the same data_offsets", "overlap",
     archive('{"a":%s,"b":%s}' % (entry("U8", [4], 0, 4),
                                  entry("U8", [4], 0, 4)), bytes(4))),
    ("empty_inside_other", 7, "an empty tensor at an offset inside another",
     "overlap",
     archive('{"a":%s,"b":%s}' % (entry("U8", [8], 0, 8),
                                  entry("U8", [0], 4, 4)), bytes(8))),
    ("trailing_data", 7, "2 bytes after the last tensor", "trailing",
     one(dtype="U8", shape=(4,), offsets=(0, 4), data_len=6)),
    ("data_without_tensors", 7, "\"{}\" header followed by 4 data bytes",
     "trailing", archive("{}", bytes(4))),
    ("past_end", 7, "a tensor that ends 4 bytes after the file",
     "past the end", one(dtype="U8", shape=(8,), offsets=(0, 8), data_len=4)),
    ("past_end_unsorted", 7,
     "header order b, a; a ends past the file", "past the end",
     archive('{"b":%s,"a":%s}' % (entry("U8", [4], 4, 8),
                                  entry("U8", [4], 0, 4)), bytes(6))),
]


def good_basic():
    """Metadata, F32/I8/BF16/F16 tensors incl. 0-d and empty; offsets in
    order; header padded with spaces to a multiple of 8, as writers do."""
    tensors = [
        ("a", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
        ("b", "I8", [3], struct.pack("<3b", -1, 0, 1)),
        ("c", "BF16", [], struct.pack("<H", 0x3F80)),  # 1.0
        ("empty", "F16", [0], b""),
    ]
    fields = ['"__metadata__":{"format":"pt"}']
    data = b""
    for name, dtype, shape, payload in tensors:
        fields.append('"%s":%s' % (name, entry(dtype, shape, len(data),
                                                 len(data) + len(payload))))
        data += payload
    header = "{" + ",".join(fields) + "}"
    header += " " * (-len(header) % 8)
    return archive(header, data)


def good_unaligned():
    """Rule 8: the data section is 4-aligned and a U8 tensor comes first, so
    the F32 tensor starts at an odd file offset; readers must not assume
    alignment."""
    header = '{"byte":%s,"f":%s}' % (entry("U8", [1], 0, 1),
                                     entry("F32", [2], 1, 9))
    header += " " * (-len(header) % 4)
    return archive(header, b"\x07" + struct.pack("<2f", 0.5, -2.0))


GOOD = [
    ("good_basic", "-", "metadata, F32/I8/BF16/F16, a 0-d and an empty tensor",
     good_basic()),
    ("good_unaligned", 8, "F32 data at an odd file offset", good_unaligned()),
]


def main():
    names = [case[0] for case in BAD]
    if len(names) != len(set(names)):
        sys.exit("make_malformed.py: duplicate case names")
    for stale in os.listdir(HERE):
        if stale.endswith(".safetensors"):
            os.remove(os.path.join(HERE, stale))
    rows = []
    for stem, rule, what, keyword, blob in BAD:
        name = "bad_%s.safetensors" % stem
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(blob)
        rows.append("| `%s` | %s | %s | `%s` |" % (name, rule, what, keyword))
    for stem, rule, what, blob in GOOD:
        name = "%s.safetensors" % stem
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(blob)
        rows.append("| `%s` | %s | %s | - |" % (name, rule, what))
    with open(os.path.join(HERE, "README.md"), "w", encoding="utf-8") as f:
        f.write(README_HEAD)
        f.write("\n".join(rows) + "\n")
    print("wrote %d bad and %d good files" % (len(BAD), len(GOOD)))


README_HEAD = """\
# safetensors test inputs

Generated by `make_malformed.py` (run it with `/usr/bin/python3`; it rewrites
every `*.safetensors` here and this file). Each `bad_*` file breaks one rule of
the safetensors checklist in `shared/RELIABILITY.md`; a reader must reject it
with a one-line message that starts with the file's path and contains the
text in the last column. `good_*` files must load. Rule 9 (NaN/Inf) is about
values, not format, and is covered by the unit tests. The unit tests
(`test/Unit/Params/InputFilesTest.cpp`) read this table.

| File | Rule | What is wrong | Message contains |
|---|---|---|---|
"""

if __name__ == "__main__":
    main()
