{#
    The day features are computed as of: the `as_of_date` var, else the CIBLE_AS_OF
    environment variable (the setting `cible run --as-of` sets, docs/scoring.md), else none
    (int_feature_window then takes the day after the latest valid order or event).

    Dagster's steps hand the date to dbt in CIBLE_AS_OF, a training snapshot's included: dbt
    parses the whole project again whenever its vars change (9 s of CPU here), and only the
    models reading an environment variable when that changes (about 1 s).
#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date', none) or env_var('CIBLE_AS_OF', '') -%}
    {%- if not value -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = value | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error(
            "The as-of date (the as_of_date var, or CIBLE_AS_OF) must be a day as YYYY-MM-DD, not '"
            ~ value ~ "'.") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}
