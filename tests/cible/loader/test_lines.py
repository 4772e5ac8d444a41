"""The physical lines of a text file, read back for the payload of a reject."""

from __future__ import annotations

import gzip

import pytest
from loader_support import write

from cible.loader.lines import physical_lines


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1 << 20])
@pytest.mark.parametrize("compress", [False, True])
def testphysical_lines_are_found_across_chunks(tmp_path, chunk_size, compress) -> None:
    content = b"a\r\nbb\n\nccc\ndd\xe9d\nlast"
    path = write(tmp_path / ("f.csv.gz" if compress else "f.csv"), content)
    if compress:
        path.write_bytes(gzip.compress(content))

    found = physical_lines(path, {1, 3, 5, 6, 9}, chunk_size=chunk_size)

    assert found == {1: b"a", 3: b"", 5: b"dd\xe9d", 6: b"last"}
