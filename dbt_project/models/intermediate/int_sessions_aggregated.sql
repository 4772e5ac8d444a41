{#
    One row per session, with what the visitor did in it and who it belongs to: the customer
    who logged in during it; otherwise the customer its device is linked to today
    (`int_devices_resolved`). Features as of a past date redo the device link with the logins
    known then (`int_customer_web_features`).
#}

with

events as (

    select * from {{ ref('int_events_sessionised') }}

),

devices as (

    select anonymous_id, customer_id
    from {{ ref('int_devices_resolved') }}
    where customer_id is not null

),

sessions as (

    select
        visitor_key,
        session_number,
        {#- The visitor key is the device when there is one: no need to aggregate the text of
            20M events (2 s at that size) to find it again. #}
        case
            when max(case when anonymous_id is not null then 1 else 0 end) = 1 then visitor_key
        end as anonymous_id,
        max(login_customer_id) as login_customer_id,
        {#- A second customer in one session makes its device shared (the live path's device
            links read this, `fct_web_sessions`). #}
        min(login_customer_id) as min_login_customer_id,
        max(case when is_session_start then event_id end) as first_event_id,
        min(occurred_at) as session_started_at,
        max(occurred_at) as session_ended_at,
        max(case when is_session_start then device_type end) as device_type,
        max(case when is_session_start then traffic_source end) as traffic_source,
        count(*) as events_count,
        {%- for event_type, column in cible.event_count_columns().items() %}
        sum(case when event_type = '{{ event_type }}' then 1 else 0 end) as {{ column }},
        {%- endfor %}
        sum(
            case when event_type in ('page_view', 'product_view') then duration_ms else 0 end
        ) / 1000.0 as page_dwell_seconds,
        sum(case when event_type = 'video_play' then duration_ms else 0 end) / 1000.0
            as video_watch_seconds,
        {#- Whole milliseconds for sums over sessions: a sum of the seconds (fractions) depends
            on the order the engine adds them in, so a daily run and a full rebuild differed
            in the last digit. #}
        sum(case when event_type = 'video_play' then duration_ms else 0 end) as video_watch_ms,
        max(scroll_depth_pct) as max_scroll_depth_pct,
        sum(case when is_late_arrival then 1 else 0 end) as late_events_count

    from events
    {#- By the visitor and the session's number rather than the text `session_id`: grouping
        20M events by a number is cheaper than by a string built for each of them. #}
    group by visitor_key, session_number

),

final as (

    select
        {{ cible.session_id('sessions.visitor_key', 'sessions.session_number') }} as session_id,
        sessions.*,
        coalesce(sessions.login_customer_id, devices.customer_id) as customer_id,
        case
            when sessions.login_customer_id is not null then 'login'
            when devices.customer_id is not null then 'device'
        end as attribution_method,
        {{ cible.seconds_between('sessions.session_started_at', 'sessions.session_ended_at') }}
            as duration_seconds,
        {{ cible.hour_of_day(cible.to_local_time('sessions.session_started_at')) }} as local_start_hour,
        {{ cible.iso_day_of_week(cible.to_local_time('sessions.session_started_at')) }}
            as local_start_iso_day

    from sessions
    left join devices
        on sessions.anonymous_id = devices.anonymous_id

)

select * from final
