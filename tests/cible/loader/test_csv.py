"""CSV files: rows, physical line numbers and rejects."""

from __future__ import annotations

import gzip

from loader_support import assert_reconciled, query, rejects, write

from cible.loader import load_landing


def test_csv_rows_line_numbers_and_rejects(landing, warehouse, contract) -> None:
    write(
        landing / "customers.csv",
        b" Customer_Number , EMAIL,city,created_at,loyalty_tier\n"  # 1 header, odd case
        b"C1,ana@example.fr,Paris,2025-01-01T10:00:00+01:00,gold\n"  # 2
        b"\n"  # 3 blank
        b'C2,"Dupont, Jean",Lyon,,silver\n'  # 4 quoted comma
        b"C3,zo\xc3\xa9@example.fr,Besan\xc3\xa7on,,\n"  # 5 accents (UTF-8)
        b"C4,b\xe9atrice@example.fr,Metz,,\n"  # 6 latin-1: rejected
        b"C5,too,many,fields,x,y\n"  # 7 rejected
        b"C6,short\n"  # 8 rejected
        b'C7,"two\n'  # 9 a quoted field over two lines
        b'lines",Caen,,\n'  # 10
        b'C8,"say ""hi""",Nice,,\n'  # 11 escaped quotes
        b"C9,\xc3\x89lise \xe2\x80\x99O,Brest,,\n"  # 12 UTF-8 bytes in 0x80-0x9F
        b"C10,l\x92apostrophe,Brest,,\n"  # 13 Windows-1252: rejected
        b"C11,last,Brest,,",  # 14 no final newline
    )

    report = load_landing(landing, warehouse, contract=contract)

    rows = query(
        warehouse,
        "select customer_number, email, city, created_at, _source_file, _source_line "
        "from raw.customers order by _source_line",
    )
    assert rows == [
        ("C1", "ana@example.fr", "Paris", "2025-01-01T10:00:00+01:00", "customers.csv", 2),
        ("C2", "Dupont, Jean", "Lyon", None, "customers.csv", 4),
        ("C3", "zoé@example.fr", "Besançon", None, "customers.csv", 5),
        ("C7", "two\nlines", "Caen", None, "customers.csv", 9),
        ("C8", 'say "hi"', "Nice", None, "customers.csv", 11),
        ("C9", "Élise ’O", "Brest", None, "customers.csv", 12),
        ("C11", "last", "Brest", None, "customers.csv", 14),
    ]
    # The payload of a badly encoded line reads its bytes as Windows-1252.
    assert rejects(warehouse, "customers") == [
        ("customers.csv", 6, "malformed_line", "C4,béatrice@example.fr,Metz,,"),
        ("customers.csv", 7, "malformed_line", "C5,too,many,fields,x,y"),
        ("customers.csv", 8, "malformed_line", "C6,short"),
        ("customers.csv", 13, "malformed_line", "C10,l’apostrophe,Brest,,"),
    ]
    details = query(
        warehouse,
        "select error_detail from raw._load_rejects where source = 'customers' "
        "order by source_line",
    )
    assert details[0][0].startswith("invalid encoding: ")
    assert details[1][0] == "too many columns: Expected Number of Columns: 5 Found: 6"
    assert details[2][0] == "missing columns: Expected Number of Columns: 5 Found: 2"
    (file,) = report.source("customers").files
    assert (file.rows_in_file, file.rows_loaded, file.rows_rejected) == (11, 7, 4)
    assert file.reconciled
    assert report.source("customers").warnings == (
        "customers.csv: ignored column(s) not in the contract: loyalty_tier",
        "customers.csv: 2 line(s) not valid UTF-8, rejected: if the file was saved as "
        "Windows-1252 or latin-1, save it as UTF-8",
    )


def test_csv_stray_quote_is_read_line_by_line_not_swallowing_the_next_lines(
    landing, warehouse, contract
):
    write(
        landing / "customers.csv",
        b"customer_number,email,city\n"
        b"C1,a@x.fr,Paris\n"
        b'C2,"unterminated,Lyon\n'  # 3: the quote would run on ...
        b"C3,c@x.fr,Nice\n"
        b'C4,"d@x.fr",Metz\n'  # ... to the next quote, on line 5
        b"C5,e@x.fr,Caen\n",
    )

    report = load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse, "select customer_number, email, _source_line from raw.customers order by 3"
    ) == [
        ("C1", "a@x.fr", 2),
        ("C2", '"unterminated', 3),
        ("C3", "c@x.fr", 4),
        ("C4", "d@x.fr", 5),
        ("C5", "e@x.fr", 6),
    ]
    assert rejects(warehouse, "customers") == []
    (file,) = report.source("customers").files
    assert (file.lines_in_file, file.rows_in_file, file.rows_loaded) == (6, 5, 5)
    assert report.source("customers").warnings == (
        "customers.csv: 1 line(s) with an unbalanced double quote read one line per record, "
        "the quote kept as a character and fields split at every ',' (line 3): check them in "
        "the file",
    )
    assert_reconciled(report)


def test_csv_one_stray_quote_loses_none_of_the_fifty_orders_after_it(landing, warehouse, contract):
    lines = [b"order_id,customer_number,amount"]
    lines += [f"O{n},C1,{n}.50".encode() for n in range(1, 51)]
    lines[10] = b'O10,"C1,10.50'  # line 11: an unbalanced quote, never closed
    write(landing / "orders.csv", b"\n".join(lines) + b"\n")

    report = load_landing(landing, warehouse, contract=contract)

    (file,) = report.source("orders").files
    assert (file.lines_in_file, file.rows_in_file, file.rows_loaded, file.rows_rejected) == (
        51,
        50,
        50,
        0,
    )
    assert query(warehouse, "select count(distinct _source_line) from raw.orders") == [(50,)]
    assert query(warehouse, "select amount from raw.orders where order_id = 'O11'") == [("11.50",)]


def test_csv_two_stray_quotes_do_not_hide_ten_orders_in_a_field(landing, warehouse, contract):
    lines = [b"order_id,customer_number,amount"]
    lines += [f"O{n},C1,{n}".encode() for n in range(1, 21)]
    lines[3] = b'O3,C1,3"'  # line 4: a quote after the value ...
    lines[14] = b'O14,C1",14'  # ... and another ten lines further, that a parse would pair
    write(landing / "orders.csv", b"\n".join(lines) + b"\n")

    report = load_landing(landing, warehouse, contract=contract)

    rows = query(warehouse, "select order_id, amount, _source_line from raw.orders order by 3")
    assert [row[0] for row in rows] == [f"O{n}" for n in range(1, 21)]
    assert [row[2] for row in rows] == list(range(2, 22))
    assert rows[2][1] == '3"' and rows[4][1] == "5"
    assert_reconciled(report)


def test_csv_a_stray_quote_line_that_cannot_be_split_is_refused_alone(landing, warehouse, contract):
    write(
        landing / "orders.csv",
        b"order_id,customer_number,amount\n"
        b"O1,C1,1\n"
        b'O2,"C1 2\n'  # 3: an open quote, and one field short
        b"O3,C1,3\n"
        b"O4,C1,4,extra\n"  # 5: one field too many
        b"O5,C1,5\n",
    )

    report = load_landing(landing, warehouse, contract=contract)

    assert query(warehouse, "select order_id, _source_line from raw.orders order by 2") == [
        ("O1", 2),
        ("O3", 4),
        ("O5", 6),
    ]
    assert [
        (line, reason, payload) for _, line, reason, payload in rejects(warehouse, "orders")
    ] == [
        (3, "malformed_line", 'O2,"C1 2'),
        (5, "malformed_line", "O4,C1,4,extra"),
    ]
    (file,) = report.source("orders").files
    assert (file.rows_in_file, file.rows_loaded, file.rows_rejected) == (5, 3, 2)
    assert_reconciled(report)


def test_csv_gz_semicolons_crlf_and_leading_blank_lines(landing, warehouse, contract):
    (landing / "customers.csv").unlink()
    text = (
        b"\r\n\r\n"  # 1, 2
        b"customer_number;email;city\r\n"  # 3
        b"C1;a@x.fr;Paris\r\n"  # 4
        b"\r\n"  # 5
        b'C2;"x\r\ny";Lyon\r\n'  # 6-7
        b"C3;z@x.fr;Nice, France\r\n"  # 8
    )
    write(landing / "customers.csv.gz", gzip.compress(text))

    report = load_landing(landing, warehouse, contract=contract)

    assert query(
        warehouse, "select customer_number, email, city, _source_line from raw.customers order by 4"
    ) == [
        ("C1", "a@x.fr", "Paris", 4),
        ("C2", "x\r\ny", "Lyon", 6),
        ("C3", "z@x.fr", "Nice, France", 8),
    ]
    assert report.source("customers").files[0].file_format == "csv"
    assert_reconciled(report)


def test_csv_header_only_loads_no_row(landing, warehouse, contract) -> None:
    write(landing / "customers.csv", b"customer_number,email\n")

    # A required source with no row is refused (see test_guards.py) unless accepted.
    report = load_landing(landing, warehouse, contract=contract, accept_shrink=True)

    assert query(warehouse, "select count(*) from raw.customers") == [(0,)]
    assert report.source("customers").rows_loaded == 0
