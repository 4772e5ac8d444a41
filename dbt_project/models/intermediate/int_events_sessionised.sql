{#
    Events grouped into sessions: a visitor's (cookie or device) session ends after
    `session_timeout_minutes` without an event. The tracker's own session id is kept for
    reference only, as trackers cut sessions at midnight or on a campaign click.
    A session belongs to the customer who logged in during it; otherwise to the customer the
    device is linked to today (`int_devices_resolved`). Features as of a past date redo the
    device link with the logins known then (`int_customer_web_features`).
#}

with

events as (

    select * from {{ ref('int_events_attributed') }}
    where not is_unknown_customer

),

devices as (

    select anonymous_id, customer_id
    from {{ ref('int_devices_resolved') }}
    where customer_id is not null

),

visits as (

    select
        *,
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

keyed as (

    select
        *,
        {{ cible.surrogate_key(['visitor_key', 'session_number']) }} as session_id

    from numbered

),

session_logins as (

    select
        *,
        max(login_customer_id) over (partition by session_id) as session_login_customer_id

    from keyed

),

final as (

    select
        session_logins.event_id,
        session_logins.session_id,
        session_logins.visitor_key,
        session_logins.anonymous_id,
        session_logins.tracker_session_id,
        coalesce(session_logins.session_login_customer_id, devices.customer_id) as customer_id,
        case
            when session_logins.session_login_customer_id is not null then 'login'
            when devices.customer_id is not null then 'device'
        end as attribution_method,
        session_logins.session_login_customer_id,
        session_logins.is_session_start = 1 as is_session_start,
        session_logins.event_type,
        session_logins.occurred_at,
        session_logins.received_at,
        session_logins.is_late_arrival,
        session_logins.page_category,
        session_logins.product_sku,
        session_logins.duration_ms,
        session_logins.scroll_depth_pct,
        session_logins.device_type,
        session_logins.traffic_source

    from session_logins
    left join devices
        on session_logins.anonymous_id = devices.anonymous_id

)

select * from final
