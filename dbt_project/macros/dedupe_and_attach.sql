{#
    One row per `key` out of `relation` (a CTE of valid staging rows), the receipt `keep`
    names, with the matching row of `attach_to` joined on `on`: its `attached` columns and a
    `missing_flag` true when there is none. Meant as the body of a CTE; the model then picks
    its columns (the rank, `receipt_rank`, stays behind).

    `keep` has no default: each model says which receipt of a key re-sent or re-exported wins
    and why. `latest` takes the last load (then file, then line), `earliest` the first.
    Defaults attach the resolved customer: `identities` (customer_number, customer_id).
#}
{% macro dedupe_and_attach(
    relation,
    key,
    keep,
    attach_to='identities',
    on='customer_number',
    attached=['customer_id'],
    missing_flag='is_unknown_customer'
) -%}
    {%- set directions = {'latest': 'desc', 'earliest': 'asc'} -%}
    {%- if keep not in directions -%}
        {{ exceptions.raise_compiler_error(
            "dedupe_and_attach in " ~ model.name ~ ": keep must be 'latest' or 'earliest', not '"
            ~ keep ~ "'"
        ) }}
    {%- endif -%}
    {%- set keys = [key] if key is string else key -%}
    {%- set direction = directions[keep] -%}
    select
        deduplicated.*,
        {%- for column in attached %}
        {{ attach_to }}.{{ column }},
        {%- endfor %}
        {{ attach_to }}.{{ on }} is null as {{ missing_flag }}

    from (
        select
            *,
            row_number() over (
                partition by {{ keys | join(', ') }}
                order by
                    loaded_at {{ direction }},
                    source_file {{ direction }},
                    source_line {{ direction }}
            ) as receipt_rank
        from {{ relation }}
    ) as deduplicated
    left join {{ attach_to }}
        on deduplicated.{{ on }} = {{ attach_to }}.{{ on }}
    where deduplicated.receipt_rank = 1
{%- endmacro %}
