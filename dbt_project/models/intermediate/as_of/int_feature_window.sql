{#
    The as-of date of the features and the start of each window, one row. Every feature model
    reads only what happened strictly before `as_of_at`, so labels taken from the period after
    it never leak into the features. Without the `as_of_date` var or CIBLE_AS_OF
    (macros/as_of.sql), the as-of date is the day after the latest valid order or event.
#}

{%- set as_of_date = cible.as_of_date() %}

with

{% if as_of_date %}
as_of as (

    select
        {{ cible.timestamp_literal(as_of_date) }} as as_of_at,
        true as is_from_var

),
{% else %}
latest_activity as (

    select max(ordered_at) as latest_at from {{ ref('int_orders_attributed') }}
    union all
    select max(occurred_at) as latest_at from {{ ref('int_events_attributed') }}
    where not is_unknown_customer

),

as_of as (

    select
        {{ dbt.dateadd('day', 1, dbt.date_trunc('day', 'max(latest_at)')) }} as as_of_at,
        false as is_from_var

    from latest_activity

),
{% endif %}

final as (

    select
        as_of_at,
        {{ dbt.dateadd('day', -var('recent_window_days'), 'as_of_at') }} as recent_window_start_at,
        {{ dbt.dateadd('day', -var('long_window_days'), 'as_of_at') }} as long_window_start_at,
        is_from_var

    from as_of

)

select * from final
