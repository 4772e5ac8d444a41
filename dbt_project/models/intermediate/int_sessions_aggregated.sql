{# One row per session, with what the visitor did in it. #}

with

events as (

    select * from {{ ref('int_events_sessionised') }}

),

sessions as (

    select
        session_id,
        max(visitor_key) as visitor_key,
        max(anonymous_id) as anonymous_id,
        max(customer_id) as customer_id,
        max(attribution_method) as attribution_method,
        max(session_login_customer_id) as login_customer_id,
        min(occurred_at) as session_started_at,
        max(occurred_at) as session_ended_at,
        max(case when is_session_start then device_type end) as device_type,
        max(case when is_session_start then traffic_source end) as traffic_source,
        count(*) as events_count,
        {%- for event_type in ['page_view', 'product_view', 'search', 'scroll', 'video_play',
                               'wishlist_add', 'add_to_cart', 'checkout', 'purchase', 'login'] %}
        sum(case when event_type = '{{ event_type }}' then 1 else 0 end) as {{ event_type }}s,
        {%- endfor %}
        sum(
            case when event_type in ('page_view', 'product_view') then duration_ms else 0 end
        ) / 1000.0 as page_dwell_seconds,
        sum(case when event_type = 'video_play' then duration_ms else 0 end) / 1000.0
            as video_watch_seconds,
        max(scroll_depth_pct) as max_scroll_depth_pct,
        sum(case when is_late_arrival then 1 else 0 end) as late_events_count

    from events
    group by session_id

),

final as (

    select
        *,
        {{ cible.seconds_between('session_started_at', 'session_ended_at') }} as duration_seconds,
        {{ cible.hour_of_day(cible.to_local_time('session_started_at')) }} as local_start_hour,
        {{ cible.iso_day_of_week(cible.to_local_time('session_started_at')) }} as local_start_iso_day

    from sessions

)

select * from final
