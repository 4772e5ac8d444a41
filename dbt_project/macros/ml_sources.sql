{#
    A table the Python steps write (schema `ml`) that may not exist yet: on a fresh warehouse,
    before the first segmentation run, a full `dbt build` would otherwise fail on its staging
    view. Renders the source relation when it exists, otherwise an empty relation typed from
    the sources file, so the segment marts build empty instead of failing.

    `source()` is always called, so lineage (and Dagster's asset graph) keeps the dependency.
#}

{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {#- The runs `dbt build` itself appends (the published models applied, no refit) come
        first: every staging model of these sources is built after the Python model that
        writes them (disabled on Spark, see models/intermediate/applied). -#}
    {%- set applied_by = {'segmentation': 'int_segmentation_applied', 'scoring': 'int_scoring_applied'} -%}
    {%- if source_name in applied_by and target.type == 'duckdb' -%}
        {%- do ref(applied_by[source_name]) -%}
    {%- endif -%}
    {%- if not execute -%}
        {{ relation }}
    {%- else -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) -%}
        {%- if existing is not none -%}
            {{ relation }}
        {%- else -%}
            {%- set columns = cible.source_column_types(source_name, table_name) -%}
            (
                select
                {%- for name, data_type in columns %}
                    cast(null as {{ cible.portable_type(data_type) }}) as {{ name }}{{ "," if not loop.last }}
                {%- endfor %}
                where 1 = 0
            ) as {{ table_name }}_not_written_yet
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{# (column name, data type) pairs of a source table, in the order of the sources file. #}
{% macro source_column_types(source_name, table_name) -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.source_name == source_name and node.name == table_name -%}
            {%- set pairs = [] -%}
            {%- for column in node.columns.values() -%}
                {%- do pairs.append((column.name, column.data_type)) -%}
            {%- endfor -%}
            {{ return(pairs) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("No source " ~ source_name ~ "." ~ table_name) }}
{%- endmacro %}


{#
    The select list of a staging model over a Python-written source: every column cast to the
    `data_type` of the sources file, in its order. The sources file is the tables' one
    declaration (the Python stores create their tables from it too), so the staging model does
    not list the columns again. Before execution (parsing) the graph holds no columns yet.
#}
{% macro typed_source_columns(source_name, table_name) -%}
    {%- if not execute -%}
        *
    {%- else -%}
        {#- A column declared after an earlier Cible created the table is null until the step
            writes again (the Python stores then add it). -#}
        {%- set relation = source(source_name, table_name) -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) -%}
        {%- set present = [] -%}
        {%- if existing is not none -%}
            {%- for column in adapter.get_columns_in_relation(existing) -%}
                {%- do present.append(column.name | lower) -%}
            {%- endfor -%}
        {%- endif -%}
        {%- for name, data_type in cible.source_column_types(source_name, table_name) -%}
            {%- set value = name if existing is none or (name | lower) in present else "null" -%}
            {{ "\n        " if not loop.first }}cast({{ value }} as {{ cible.portable_type(data_type) }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{# The adapter's spelling of the types the sources files use (`varchar` is `string` on Spark). #}
{% macro portable_type(data_type) -%}
    {%- set types = {
        'varchar': dbt.type_string(),
        'integer': dbt.type_int(),
        'bigint': dbt.type_bigint(),
        'double': cible.type_double(),
        'timestamp': dbt.type_timestamp(),
        'boolean': dbt.type_boolean(),
    } -%}
    {{ types.get(data_type | lower, data_type) }}
{%- endmacro %}
