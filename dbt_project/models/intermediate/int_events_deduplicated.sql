{#
    Valid events, one per event id: trackers re-send events they could not confirm, and the
    first copy received is the one kept. Ephemeral: compiled into `int_events_attributed`
    with the event window of the run (a view would keep the window it was created with).
#}

{{ config(materialized='ephemeral') }}

with

events as (

    select * from {{ ref('stg_web__events') }}
    where is_valid
        and {{ cible.in_event_window('occurred_at') }}

),

ranked as (

    select
        event_id,
        anonymous_id,
        customer_number,
        event_type,
        occurred_at,
        received_at,
        is_late_arrival,
        page_category,
        duration_ms,
        scroll_depth_pct,
        device_type,
        traffic_source,
        source_file,
        source_line,
        row_number() over (
            partition by event_id
            order by received_at asc nulls last, loaded_at asc, source_file asc, source_line asc
        ) as receipt_rank

    from events

),

final as (

    select * from ranked
    where receipt_rank = 1

)

select * from final
