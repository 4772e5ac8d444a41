{#
    Browsing micro-behaviour of each customer before the as-of date: activity in the recent
    window, funnel rates, engagement, devices, traffic sources and time of day over the long
    window. A session counts if it ended before the as-of date; it belongs to the customer who
    logged in during it or, failing that, to the one customer who had logged in on its device
    before the as-of date (so a later login, or a later second user of the device, does not
    change the past).
#}

{%- set browsing_counts = ['page_views', 'product_views', 'searches', 'video_plays', 'wishlist_adds',
                           'add_to_carts', 'checkouts', 'purchases'] %}

with

feature_window as (

    select * from {{ ref('int_feature_window') }}

),

logins_known as (

    select events.anonymous_id, events.login_customer_id
    from {{ ref('int_events_attributed') }} as events
    cross join feature_window
    where events.anonymous_id is not null
        and events.login_customer_id is not null
        and events.occurred_at < feature_window.as_of_at

),

devices_known as (

    select
        anonymous_id,
        min(login_customer_id) as customer_id

    from logins_known
    group by anonymous_id
    having count(distinct login_customer_id) = 1

),

attributed_sessions as (

    select
        sessions.*,
        coalesce(sessions.login_customer_id, devices_known.customer_id) as feature_customer_id,
        sessions.session_started_at >= feature_window.recent_window_start_at as is_in_recent_window

    from {{ ref('int_sessions_aggregated') }} as sessions
    cross join feature_window
    left join devices_known
        on sessions.anonymous_id = devices_known.anonymous_id
    where sessions.session_ended_at < feature_window.as_of_at
        and sessions.session_started_at >= feature_window.long_window_start_at

),

sessions as (

    select * from attributed_sessions
    where feature_customer_id is not null

),

recent as (

    select
        feature_customer_id as customer_id,
        count(*) as sessions_recent_window,
        sum(duration_seconds) as time_on_site_recent_window_seconds,
        avg(cast(duration_seconds as {{ cible.type_double() }})) as average_session_seconds,
        {%- for column in browsing_counts %}
        sum({{ column }}) as {{ column }}_recent_window,
        {%- endfor %}
        sum(video_watch_ms) / 1000.0 as video_watch_recent_window_seconds,
        avg(cast(max_scroll_depth_pct as {{ cible.type_double() }})) as average_scroll_depth_pct

    from sessions
    where is_in_recent_window
    group by feature_customer_id

),

long_window as (

    select
        feature_customer_id as customer_id,
        count(*) as sessions_long_window,
        max(session_started_at) as last_visit_at,
        {%- for device_type in ['mobile', 'desktop', 'tablet', 'app'] %}
        {{ cible.safe_divide("sum(case when device_type = '" ~ device_type ~ "' then 1 else 0 end)", 'count(*)') }}
            as {{ device_type }}_session_share,
        {%- endfor %}
        {%- for traffic_source in ['direct', 'seo', 'sea', 'social', 'email', 'affiliate', 'referral'] %}
        {{ cible.safe_divide("sum(case when traffic_source = '" ~ traffic_source ~ "' then 1 else 0 end)", 'count(*)') }}
            as {{ traffic_source }}_traffic_share,
        {%- endfor %}
        {{ cible.safe_divide('sum(case when local_start_hour >= 18 then 1 else 0 end)', 'count(*)') }}
            as evening_session_share,
        {{ cible.safe_divide('sum(case when local_start_iso_day >= 6 then 1 else 0 end)', 'count(*)') }}
            as weekend_session_share

    from sessions
    group by feature_customer_id

),

final as (

    select
        long_window.customer_id,
        long_window.sessions_long_window,
        long_window.last_visit_at,
        coalesce(recent.sessions_recent_window, 0) as sessions_recent_window,
        coalesce(recent.time_on_site_recent_window_seconds, 0) as time_on_site_recent_window_seconds,
        recent.average_session_seconds,
        {%- for column in browsing_counts %}
        coalesce(recent.{{ column }}_recent_window, 0) as {{ column }}_recent_window,
        {%- endfor %}
        coalesce(recent.video_watch_recent_window_seconds, 0) as video_watch_recent_window_seconds,
        recent.average_scroll_depth_pct,
        {{ cible.safe_divide('recent.add_to_carts_recent_window', 'recent.product_views_recent_window') }}
            as add_to_cart_rate,
        {{ cible.safe_divide('recent.checkouts_recent_window', 'recent.add_to_carts_recent_window') }}
            as checkout_rate,
        {%- for device_type in ['mobile', 'desktop', 'tablet', 'app'] %}
        long_window.{{ device_type }}_session_share,
        {%- endfor %}
        {%- for traffic_source in ['direct', 'seo', 'sea', 'social', 'email', 'affiliate', 'referral'] %}
        long_window.{{ traffic_source }}_traffic_share,
        {%- endfor %}
        long_window.evening_session_share,
        long_window.weekend_session_share

    from long_window
    left join recent
        on long_window.customer_id = recent.customer_id

)

select * from final
