{# String helpers whose syntax differs between engines. #}

{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'cible')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro postgres__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}


{% macro regexp_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches', 'cible')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches(expression, pattern) -%}
    ({{ expression }} rlike '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regexp_matches(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__regexp_matches(expression, pattern) -%}
    ({{ expression }} ~ '^(?:{{ pattern }})$')
{%- endmacro %}

{% macro spark__regexp_matches(expression, pattern) -%}
    ({{ expression }} rlike '^(?:{{ pattern }})$')
{%- endmacro %}


{% macro strip_accents(expression) -%}
    {{ return(adapter.dispatch('strip_accents', 'cible')(expression)) }}
{%- endmacro %}

{% macro default__strip_accents(expression) -%}
    translate(
        {{ expression }},
        'àáâãäåçèéêëìíîïñòóôõöùúûüýÿœæÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝ',
        'aaaaaaceeeeiiiinooooouuuuyyoaAAAAAACEEEEIIIINOOOOOUUUUY'
    )
{%- endmacro %}

{% macro duckdb__strip_accents(expression) -%}
    strip_accents({{ expression }})
{%- endmacro %}


{% macro edit_distance(left, right) -%}
    {{ return(adapter.dispatch('edit_distance', 'cible')(left, right)) }}
{%- endmacro %}

{% macro default__edit_distance(left, right) -%}
    levenshtein({{ left }}, {{ right }})
{%- endmacro %}


{#
    E-mail as a matching key: trimmed, lower-cased, accents removed. Returns null for text
    that is not shaped like an address.
#}
{% macro normalise_email(column) -%}
    case
        when {{ cible.regexp_matches(cible.email_key(column), '[^@ ]+@[^@ ]+[.][a-z]{2,}') }}
            then {{ cible.email_key(column) }}
    end
{%- endmacro %}

{% macro email_key(column) -%}
    lower({{ cible.strip_accents('trim(' ~ column ~ ')') }})
{%- endmacro %}


{#
    Phone number to E.164. French national numbers (`06 12 34 56 78`, `06.12.34.56.78`),
    international prefixes (`0033 6 ...`, `+33 (0)6 ...`) and nine-digit numbers that lost their
    leading zero all become `+33612345678`; other countries keep their code. Returns null when
    the result is not a plausible E.164 number.
#}
{% macro normalise_phone_e164(column) -%}
    {%- set digits = cible.regexp_replace_all(column, '[^0-9]', '') -%}
    {%- set candidate -%}
        case
            when trim({{ column }}) like '+33%' and {{ digits }} like '330%'
                then {{ dbt.concat(["'+33'", dbt.right(digits, dbt.length(digits) ~ ' - 3')]) }}
            when trim({{ column }}) like '+%'
                then {{ dbt.concat(["'+'", digits]) }}
            when {{ digits }} like '00%'
                then {{ dbt.concat(["'+'", dbt.right(digits, dbt.length(digits) ~ ' - 2')]) }}
            when {{ digits }} like '0%' and {{ dbt.length(digits) }} = 10
                then {{ dbt.concat(["'+33'", dbt.right(digits, '9')]) }}
            when {{ dbt.length(digits) }} = 9 and {{ digits }} not like '0%'
                then {{ dbt.concat(["'+33'", digits]) }}
        end
    {%- endset -%}
    case
        when {{ cible.regexp_matches(candidate, '[+]33[1-9][0-9]{8}') }} then {{ candidate }}
        when {{ candidate }} not like '+33%'
            and {{ cible.regexp_matches(candidate, '[+][1-9][0-9]{7,14}') }} then {{ candidate }}
    end
{%- endmacro %}


{# Lower-cased, accent-free, single-spaced name used to compare people. #}
{% macro name_key(first_name, last_name) -%}
    lower({{ cible.strip_accents(dbt.concat(['coalesce(trim(' ~ first_name ~ "), '')", "' '", 'coalesce(trim(' ~ last_name ~ "), '')"])) }})
{%- endmacro %}


{#
    French département code from a postcode: the first two digits, `2A`/`2B` for Corsica
    (20000-20199 / 20200-20999) and three digits overseas (971-976). Null outside France.
#}
{% macro departement_from_postcode(postcode, country_code) -%}
    case
        when {{ country_code }} <> 'FR' then null
        when not {{ cible.regexp_matches(postcode, '[0-9]{5}') }} then null
        when {{ postcode }} like '97%' then substring({{ postcode }}, 1, 3)
        when {{ postcode }} like '200%' or {{ postcode }} like '201%' then '2A'
        when {{ postcode }} like '20%' then '2B'
        else substring({{ postcode }}, 1, 2)
    end
{%- endmacro %}
