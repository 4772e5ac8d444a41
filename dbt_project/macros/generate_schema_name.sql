{#
    Custom schemas are used as they are (`staging`, `intermediate`, `marts`, ...) instead of
    dbt's default `<target_schema>_<custom>`: BI tools and the Python steps read stable names.

    With the `schema_prefix` var, the models tagged `as_of` (those that depend on the as-of
    date: the `intermediate/as_of` folder and `fct_customer_features`, tagged in
    dbt_project.yml) go to `<prefix><schema>` instead: a feature snapshot as of another date is
    a build of just those (the `as_of` selector of selectors.yml) into their own schemas, over
    the tables every date shares (staging, identity, deduplicated orders and events, sessions),
    leaving the current features alone:
        dbt run --selector as_of --vars '{as_of_date: 2026-08-01, schema_prefix: training_}'
    The other models ignore the prefix: they do not change with the date, so a snapshot reads
    the current build's (rebuilding them per snapshot cost a whole build each time).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {%- set prefix = var('schema_prefix', '') or '' -%}
    {%- if prefix and 'as_of' in node.tags -%}
        {{ prefix ~ base }}
    {%- else -%}
        {{ base }}
    {%- endif -%}
{%- endmacro %}
