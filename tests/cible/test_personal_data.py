"""Personal data tags: every personal column of the built warehouse is declared and tagged."""

from pathlib import Path

import duckdb

from cible.privacy.personal_data import personal_columns, untagged_personal_columns

MODELS_YML = """version: 2
models:
  - name: dim_people
    columns:
      - name: customer_id
        meta: {pii: true}
      - name: email
        meta: {pii: true}
  - name: fct_new
    columns:
      - name: customer_id
        meta: {pii: true}
"""


def _warehouse_columns(warehouse: Path) -> list[tuple[str, str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
        ).fetchall()


def test_a_model_adding_an_untagged_email_fails(tmp_path: Path) -> None:
    (tmp_path / "models" / "marts").mkdir(parents=True)
    (tmp_path / "models" / "marts" / "_marts__models.yml").write_text(MODELS_YML)
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.dim_people (customer_id text, email text, age int)")
        con.execute("create table marts.fct_new (customer_id text, email text)")

    problems = untagged_personal_columns(_warehouse_columns(warehouse), dbt_project_dir=tmp_path)

    assert problems == [
        "marts.fct_new.email holds personal data: declare it in its models yml"
        " with meta: {pii: true}"
    ]


def test_the_project_tags_direct_identifiers() -> None:
    tagged = {(column.relation, column.name) for column in personal_columns()}

    assert ("crm.customers", "email") in tagged
    assert ("dim_customers", "customer_id") in tagged


def test_every_personal_column_of_the_built_warehouse_is_tagged(demo_build) -> None:
    problems = untagged_personal_columns(_warehouse_columns(demo_build.warehouse))

    assert problems == [], "\n".join(problems)
