{#
    One row per session, with what the visitor did in it (macros/sessions.sql: the inactivity
    rule). Who a session belongs to is decided where it is read: the features as of a date
    (`int_customer_web_features`) link a session to the customer who logged in during it, or
    to the one customer who had logged in on its device by then.

    Incremental with the event models: a window run (a daily partition and its lookback days)
    recomputes every session of the visitors with an event in the window, or with an event
    the event model re-attributed, from all their events, and replaces theirs (unique key
    `visitor_key`); a visitor's sessions depend on that visitor's events only, so the table
    equals a full rebuild. A run without a window rebuilds it. Where a window run overwrites
    whole partitions (Spark) it is rebuilt in every run.
#}

{{ config(
    materialized='incremental',
    tags=['event_partitions'],
    unique_key='visitor_key',
    incremental_strategy=cible.window_incremental_strategy(),
    full_refresh=(none if cible.is_event_window_run() and cible.window_replaces_rows() else true),
    post_hook="{{ cible.delete_sessions_without_events() }}",
) }}

{%- set window = cible.event_window() %}

with

{% if is_incremental() and window is not none -%}

window_visitors as (

    select {{ cible.visitor_key() }} as visitor_key
    from {{ ref('int_events_attributed') }}
    where not is_unknown_customer
        and {{ cible.in_event_window('occurred_at') }}

    union

    {#- Visitors whose events in the window have changed or gone. #}
    select visitor_key
    from {{ this }}
    where session_ended_at >= {{ cible.timestamp_literal(window[0]) }}
        and session_started_at < {{ cible.timestamp_literal(window[1]) }}

    union

    {#- Visitors with an event outside the window that the event model re-attributed (the
        CRM resolves its customer number differently now): their logged-in events no longer
        add up to their sessions' checksum. Also what a run killed after the event model
        committed left behind. #}
    select coalesce(logged_in.visitor_key, stored.visitor_key) as visitor_key
    from (
        select
            {{ cible.visitor_key() }} as visitor_key,
            sum({{ cible.text_checksum('login_customer_id') }}) as login_checksum
        from {{ ref('int_events_attributed') }}
        where login_customer_id is not null
        group by {{ cible.visitor_key() }}
    ) as logged_in
    full outer join (
        select visitor_key, sum(login_checksum) as login_checksum
        from {{ this }}
        where login_checksum is not null
        group by visitor_key
    ) as stored
        on logged_in.visitor_key = stored.visitor_key
    where logged_in.visitor_key is null
        or stored.visitor_key is null
        or logged_in.login_checksum <> stored.login_checksum

),

events as (

    select * from {{ ref('int_events_attributed') }}
    where not is_unknown_customer
        and {{ cible.visitor_key() }} in (select visitor_key from window_visitors)

),

{%- else -%}

events as (

    select * from {{ ref('int_events_attributed') }}
    where not is_unknown_customer

),

{%- endif %}

{{ cible.sessionised_events('events') }},

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
        {#- Tells a later window run that an event of the session was re-attributed. #}
        cast(sum(
            case when login_customer_id is not null
                then {{ cible.text_checksum('login_customer_id') }} end
        ) as {{ dbt.type_bigint() }}) as login_checksum,
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

    from sessionised
    {#- By the visitor and the session's number rather than the text `session_id`: grouping
        20M events by a number is cheaper than by a string built for each of them. #}
    group by visitor_key, session_number

),

final as (

    select
        {{ cible.session_id('visitor_key', 'session_number') }} as session_id,
        sessions.*,
        {{ cible.seconds_between('session_started_at', 'session_ended_at') }} as duration_seconds,
        {{ cible.hour_of_day(cible.to_local_time('session_started_at')) }} as local_start_hour,
        {{ cible.iso_day_of_week(cible.to_local_time('session_started_at')) }}
            as local_start_iso_day

    from sessions

)

select * from final
