"""The source contract read from dbt's sources yml, and its Markdown rendering."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cible.contract import (
    TABLE_DATA_TYPES,
    ContractError,
    contract_markdown,
    load_contract,
    load_doc_blocks,
    load_tables,
)

DEMO_SOURCES = """
version: 2
sources:
  - name: crm
    schema: "{{ var('raw_schema', 'raw') }}"
    tables:
      - name: customers
        description: One row per CRM record.
        meta:
          cible: {landing: customers, required: true, key: [customer_number]}
        columns:
          - name: customer_number
            description: "{{ doc('col_customer_number') }}"
            data_type: text
            meta: {cible: {required: true}}
          - name: email
            description: E-mail | as typed.
            data_type: text
          - name: birth_date
            data_type: date
      - name: segments
        description: Written by the ML step and read back as a source, not a landing file.
        columns:
          - name: segment_id
  - name: web
    tables:
      - name: events
        config:
          meta:
            cible: {landing: events, key: [event_id]}
        columns:
          - name: event_id
            config: {meta: {cible: {required: true}}}
          - name: occurred_at
            data_type: timestamp
"""


def write_project(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / "models" / "staging" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    return write_project(
        tmp_path / "dbt",
        {
            "demo/_demo__sources.yml": DEMO_SOURCES,
            "_docs.md": "{% docs col_customer_number %}\nCRM record\nnumber.\n{% enddocs %}\n",
        },
    )


def test_contract_is_read_from_the_sources_yml(demo_project: Path) -> None:
    contract = load_contract(demo_project)

    assert list(contract) == ["customers", "events"]
    customers = contract["customers"]
    assert (customers.source_name, customers.table_name) == ("crm", "customers")
    assert customers.required is True
    assert customers.key == ("customer_number",)
    assert customers.column_names == ("customer_number", "email", "birth_date")
    assert customers.required_columns == ("customer_number",)
    first = customers.columns[0]
    assert first.data_type == "text"
    assert first.description == "{{ doc('col_customer_number') }}"
    assert customers.columns[2].data_type == "date"
    assert customers.columns[2].description == ""
    assert customers.dbt_source == "source('crm', 'customers')"


def test_meta_under_config_and_defaults(demo_project: Path) -> None:
    events = load_contract(demo_project)["events"]

    assert events.required is False
    assert events.required_columns == ("event_id",)
    assert events.columns[0].data_type == "text"


def test_tables_without_a_landing_name_are_not_landing_sources(demo_project: Path) -> None:
    assert "segments" not in load_contract(demo_project)


def test_a_landing_name_declared_twice_is_refused(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        {
            "a/_a__sources.yml": DEMO_SOURCES,
            "b/_b__sources.yml": DEMO_SOURCES.replace("name: crm", "name: crm_copy"),
        },
    )

    with pytest.raises(ContractError, match="'customers' is declared twice"):
        load_contract(project)


def test_a_key_outside_the_columns_is_refused(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        {"a/_a__sources.yml": DEMO_SOURCES.replace("key: [customer_number]", "key: [nope]")},
    )

    with pytest.raises(ContractError, match="key columns"):
        load_contract(project)


def test_no_sources_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no sources yml"):
        load_contract(tmp_path)


ML_SOURCES = """
version: 2
sources:
  - name: scores
    schema: ml
    tables:
      - name: customer_scores
        description: One row per customer and run.
        columns:
          - name: run_id
            data_type: varchar
          - name: customer_id
            data_type: varchar
          - name: score
            data_type: double
          - name: note
            data_type: varchar
            meta: {cible: {required: false}}
"""


def test_tables_of_a_schema_are_read_with_their_types(tmp_path: Path) -> None:
    project = write_project(
        tmp_path, {"a/_a__sources.yml": DEMO_SOURCES, "b/_b__sources.yml": ML_SOURCES}
    )

    tables = load_tables("ml", project)

    assert list(tables) == ["customer_scores"]
    scores = tables["customer_scores"]
    assert scores.relation == "ml.customer_scores"
    assert scores.dbt_source == "source('scores', 'customer_scores')"
    assert scores.data_types == {
        "run_id": "varchar",
        "customer_id": "varchar",
        "score": "double",
        "note": "varchar",
    }
    # Written by Python: every column is required unless it says otherwise.
    assert scores.required_columns == ("run_id", "customer_id", "score")
    with pytest.raises(ContractError, match="no source of schema 'marts'"):
        load_tables("marts", project)


def test_a_frame_is_conformed_to_its_table_or_refused(tmp_path: Path) -> None:
    scores = load_tables("ml", write_project(tmp_path, {"b/_b__sources.yml": ML_SOURCES}))[
        "customer_scores"
    ]
    frame = pd.DataFrame({"score": [0.5], "customer_id": ["c1"], "run_id": ["r1"]})

    assert list(scores.conform(frame).columns) == ["run_id", "customer_id", "score"]
    with pytest.raises(ContractError, match=r"columns \['extra'\] are not declared.*_b__sources"):
        scores.conform(frame.assign(extra=1))
    with pytest.raises(ContractError, match=r"required columns \['score'\] are missing"):
        scores.conform(frame.drop(columns="score"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("data_type: double", "data_type 'float' is not one of"),
        ("name: customer_scores", "declared twice"),
    ],
)
def test_a_table_declaration_that_cannot_be_created_is_refused(
    tmp_path: Path, change: str, message: str
) -> None:
    if change.startswith("data_type"):
        files = {"b/_b__sources.yml": ML_SOURCES.replace(change, "data_type: float")}
    else:
        files = {"a/_a__sources.yml": ML_SOURCES, "b/_b__sources.yml": ML_SOURCES}

    with pytest.raises(ContractError, match=message):
        load_tables("ml", write_project(tmp_path, files))


def test_project_ml_tables_are_those_of_the_segmentation_and_scoring_sources() -> None:
    tables = load_tables("ml")

    assert {spec.source_name for spec in tables.values()} == {"segmentation", "scoring"}
    assert {"segment_runs", "customer_scores", "model_registry"} <= set(tables)
    for name, spec in tables.items():
        assert set(spec.data_types.values()) <= set(TABLE_DATA_TYPES), name
        assert spec.required_columns, name


def test_markdown_has_a_table_per_source(demo_project: Path) -> None:
    contract = load_contract(demo_project)

    markdown = contract_markdown(contract, load_doc_blocks(demo_project))

    assert "## `customers`" in markdown
    assert "dbt source `crm.customers`; **required**; key: `customer_number`" in markdown
    assert "| column | type | required | description |" in markdown
    assert "| `customer_number` | text | yes | CRM record number. |" in markdown
    assert "| `email` | text |  | E-mail \\| as typed. |" in markdown
    assert "## `events`" in markdown
    assert "dbt source `web.events`; optional; key: `event_id`" in markdown


def test_markdown_without_docs_names_the_doc_block(demo_project: Path) -> None:
    markdown = contract_markdown(load_contract(demo_project))

    assert "| `customer_number` | text | yes | (see `col_customer_number`) |" in markdown


def test_project_contract_requires_customers_and_orders_only() -> None:
    contract = load_contract()

    assert {name for name, spec in contract.items() if spec.required} == {"customers", "orders"}
    for name, spec in contract.items():
        assert spec.landing == name
        assert spec.columns, name
        assert spec.required_columns, name
        assert set(spec.key) <= set(spec.column_names), name


def test_project_contract_markdown_lists_every_column() -> None:
    contract = load_contract()

    markdown = contract_markdown(contract, load_doc_blocks())

    for spec in contract.values():
        assert f"## `{spec.landing}`" in markdown
        for column in spec.columns:
            assert f"| `{column.name}` | {column.data_type} |" in markdown
    assert "{{" not in markdown


def test_the_published_contract_document_is_up_to_date():
    """docs/source_contract.md is generated from the sources yml: regenerate it when they change."""
    from cible.cli import contract_document

    published = (Path(__file__).resolve().parents[2] / "docs" / "source_contract.md").read_text(
        encoding="utf-8"
    )
    assert published == contract_document(), "run `cible contract > docs/source_contract.md`"


def test_the_published_personal_data_document_is_up_to_date():
    """docs/personal_data.md is generated from the yml `meta.pii` tags: regenerate it on change."""
    from cible.privacy.personal_data import personal_data_markdown

    published = (Path(__file__).resolve().parents[2] / "docs" / "personal_data.md").read_text(
        encoding="utf-8"
    )
    assert published == personal_data_markdown(), "run `cible pii > docs/personal_data.md`"
