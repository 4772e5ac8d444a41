{#
    Events grouped into sessions: a visitor's (cookie or device) session ends after
    `session_timeout_minutes` without an event. The tracker's own session id is not used, as
    trackers cut sessions at midnight or on a campaign click. Who a session belongs to is
    decided per session in `int_sessions_aggregated`.
    A view: `int_sessions_aggregated` materialises what the features need.
#}

{{ config(materialized='view') }}

with

events as (

    select * from {{ ref('int_events_attributed') }}
    where not is_unknown_customer

),

visits as (

    {#- Only what sessions need: the two windows below sort every column they carry. #}
    select
        event_id,
        anonymous_id,
        login_customer_id,
        event_type,
        occurred_at,
        is_late_arrival,
        duration_ms,
        scroll_depth_pct,
        device_type,
        traffic_source,
        coalesce(anonymous_id, customer_number, event_id) as visitor_key

    from events

),

gaps as (

    select
        *,
        lag(occurred_at) over (
            partition by visitor_key order by occurred_at, event_id
        ) as previous_occurred_at

    from visits

),

session_starts as (

    select
        *,
        case
            when previous_occurred_at is null then 1
            when {{ cible.seconds_between('previous_occurred_at', 'occurred_at') }}
                > {{ var('session_timeout_minutes') * 60 }} then 1
            else 0
        end as is_session_start

    from gaps

),

numbered as (

    select
        *,
        sum(is_session_start) over (
            partition by visitor_key
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as session_number

    from session_starts

),

final as (

    select
        event_id,
        {{ cible.session_id('visitor_key', 'session_number') }} as session_id,
        visitor_key,
        session_number,
        anonymous_id,
        login_customer_id,
        is_session_start = 1 as is_session_start,
        event_type,
        occurred_at,
        is_late_arrival,
        duration_ms,
        scroll_depth_pct,
        device_type,
        traffic_source

    from numbered

)

select * from final
