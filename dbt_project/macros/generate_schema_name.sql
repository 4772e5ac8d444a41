{#
    Custom schemas are used as they are (`staging`, `intermediate`, `marts`, ...) instead of
    dbt's default `<target_schema>_<custom>`: BI tools and the Python steps read stable names.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
