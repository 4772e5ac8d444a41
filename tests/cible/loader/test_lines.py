"""The physical lines of a text file, read back for the payload of a reject."""

from __future__ import annotations

import gzip

import pytest
from loader_support import write

from cible.loader.lines import physical_lines, scan_bytes


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1 << 20])
@pytest.mark.parametrize("compress", [False, True])
def testphysical_lines_are_found_across_chunks(tmp_path, chunk_size, compress) -> None:
    content = b"a\r\nbb\n\nccc\ndd\xe9d\nlast"
    path = write(tmp_path / ("f.csv.gz" if compress else "f.csv"), content)
    if compress:
        path.write_bytes(gzip.compress(content))

    found = physical_lines(path, {1, 3, 5, 6, 9}, chunk_size=chunk_size)

    assert found == {1: b"a", 3: b"", 5: b"dd\xe9d", 6: b"last"}


@pytest.mark.parametrize("chunk_size", [1, 5, 1 << 20])
def test_byte_scan_counts_lines_whatever_the_quotes(tmp_path, chunk_size) -> None:
    # An unbalanced quote on line 2 would make a CSV parse see one record up to the end.
    path = write(tmp_path / "f.csv", b'id,note\r\n1,"open\n2,x\n\n3,caf\xc3\xa9')

    scan = scan_bytes(path, chunk_size=chunk_size)

    assert (scan.lines, scan.valid_utf8, scan.bom) == (5, True, None)
    assert scan.encoding_guess is None


def test_byte_scan_tells_windows_1252_from_utf_8_with_bad_lines(tmp_path) -> None:
    cp1252 = write(tmp_path / "a.csv", "nom\nBéatrice\nl’été\n".encode("cp1252"))
    mixed = write(tmp_path / "b.csv", "nom\nBéatrice\n".encode() + b"b\xe9a\n")
    utf16 = write(tmp_path / "c.csv", "nom\nBéa\n".encode("utf-16"))

    assert (scan_bytes(cp1252).lines, scan_bytes(cp1252).encoding_guess) == (3, "cp1252")
    assert (scan_bytes(mixed).valid_utf8, scan_bytes(mixed).encoding_guess) == (False, None)
    assert scan_bytes(utf16).bom == "utf-16"
