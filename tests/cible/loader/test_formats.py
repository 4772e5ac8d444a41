"""A team's own exports: encodings, separators, French numbers and dates, their own column
names and labels (#16, point 2), read through config/sources.yml or detected."""

from __future__ import annotations

import pytest
from loader_support import assert_reconciled, query, write

from cible.loader import LoadError, load_landing

FRENCH_EXPORT = (
    "N° client;Adresse e-mail;Ville;Date de création\r\n"
    "C1;zoé@example.fr;Besançon;31/12/2025\r\n"
    "C2;andré@example.fr;Orléans;01/02/2025 14:30\r\n"
)


def _config(tmp_path, text: str):
    return write(tmp_path / "sources.yml", text.encode())


def test_a_french_excel_export_loads_with_its_own_column_names(
    landing, warehouse, contract, tmp_path
) -> None:
    write(landing / "customers.csv", FRENCH_EXPORT.encode("cp1252"))
    write(
        landing / "orders.csv",
        "Numéro de commande;N° client;Montant TTC\r\n"
        "O1;C1;1 234,50\r\nO2;C2;1.234,50\r\nO3;C1;12,5\r\nO4;C2;7\r\nO5;C1;12,50 €\r\n".encode(
            "cp1252"
        ),
    )
    config = _config(
        tmp_path,
        "sources:\n"
        "  customers:\n"
        "    columns: {N° client: customer_number, Adresse e-mail: email, Ville: city,\n"
        "              Date de création: created_at}\n"
        "  orders:\n"
        "    columns: {Numéro de commande: order_id, N° client: customer_number,\n"
        "              Montant TTC: amount}\n",
    )

    report = load_landing(landing, warehouse, contract=contract, sources_config=config)

    assert query(
        warehouse, "select customer_number, email, city, created_at from raw.customers order by 1"
    ) == [
        ("C1", "zoé@example.fr", "Besançon", "2025-12-31"),
        ("C2", "andré@example.fr", "Orléans", "2025-02-01 14:30"),
    ]
    # A value of no known shape stays as written, for staging to quarantine with its reason.
    assert query(warehouse, "select order_id, amount from raw.orders order by 1") == [
        ("O1", "1234.50"),
        ("O2", "1234.50"),
        ("O3", "12.5"),
        ("O4", "7"),
        ("O5", "12,50 €"),
    ]
    assert report.source("customers").warnings == (
        "customers.csv: read as Windows-1252 (no line is valid UTF-8)",
        "customers.csv: dates in created_at read as DD/MM/YYYY (such as 31/12/2025); set "
        "`date_format: DD/MM/YYYY` under sources.customers in config/sources.yml to make it "
        "explicit",
    )
    orders_warnings = report.source("orders").warnings
    assert orders_warnings[0] == "orders.csv: read as Windows-1252 (no line is valid UTF-8)"
    assert orders_warnings[1].startswith("orders.csv: decimal comma detected in amount (")
    assert_reconciled(report)


def test_utf_16_and_value_maps(landing, warehouse, contract, tmp_path) -> None:
    write(
        landing / "customers.csv",
        "customer_number\tcity\r\nC1\tPARIS\r\nC2\tLyon\r\n".encode("utf-16"),
    )
    write(
        landing / "orders.csv", b"order_id,customer_number,amount,currency\nO1,C1,1,\nO2,C1,2,EUR\n"
    )
    config = _config(
        tmp_path,
        "sources:\n  customers:\n    values: {city: {PARIS: Paris}}\n"
        "  orders:\n    currency: USD\n",
    )

    report = load_landing(landing, warehouse, contract=contract, sources_config=config)

    assert query(warehouse, "select customer_number, city, _source_line from raw.customers") == [
        ("C1", "Paris", 2),
        ("C2", "Lyon", 3),
    ]
    assert report.source("customers").warnings == (
        "customers.csv: read as UTF-16 (its byte-order mark)",
    )
    # An empty currency is the source's setting: never assumed to be euros.
    assert query(warehouse, "select order_id, currency from raw.orders order by 1") == [
        ("O1", "USD"),
        ("O2", "EUR"),
    ]
    assert_reconciled(report)


@pytest.mark.parametrize(
    ("content", "setting"),
    [
        ("customer_number;created_at\nC1;03/04/2025\n", "`date_format: DD/MM/YYYY` or"),
        ("order_id;customer_number;amount\nO1;C1;1,234\n", "`decimal_separator: ','`"),
    ],
)
def test_an_undecidable_file_is_refused_with_the_setting_to_add(
    landing, warehouse, contract, content, setting
) -> None:
    name = "customers.csv" if content.startswith("customer") else "orders.csv"
    write(landing / name, content.encode())

    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse, contract=contract)

    assert str(error.value).startswith(f"{name}: cannot tell")
    assert setting in str(error.value)
    assert "config/sources.yml" in str(error.value)


def test_a_wrong_setting_is_refused_before_any_load(landing, warehouse, contract, tmp_path):
    config = _config(
        tmp_path,
        "sources:\n  clients: {}\n  orders:\n    columns: {Montant: amout}\n    separator: ':'\n",
    )

    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse, contract=contract, sources_config=config)

    assert "sources.orders.separator" in str(error.value)
    config.write_text("sources:\n  clients: {}\n  orders:\n    columns: {Montant: amout}\n")
    with pytest.raises(LoadError) as error:
        load_landing(landing, warehouse, contract=contract, sources_config=config)
    assert "sources.clients: not a source of the contract" in str(error.value)
    assert "sources.orders.columns.Montant: 'amout' is not a column of orders" in str(error.value)
    assert not warehouse.exists()
