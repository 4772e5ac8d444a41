{#
    Custom schemas are used as they are (`staging`, `intermediate`, `marts`, ...) instead of
    dbt's default `<target_schema>_<custom>`: BI tools and the Python steps read stable names.

    With the `schema_prefix` var, models go to `<prefix><schema>` instead: a feature snapshot
    as of another date is a build into its own schemas, leaving the current tables alone:
        dbt run --select +fct_customer_features
                --vars '{as_of_date: 2026-08-01, schema_prefix: training_}'
    Seeds are reference data shared by every build and never take the prefix.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {%- set prefix = var('schema_prefix', '') or '' -%}
    {%- if prefix and node.resource_type != 'seed' -%}
        {{ prefix ~ base }}
    {%- else -%}
        {{ base }}
    {%- endif -%}
{%- endmacro %}
