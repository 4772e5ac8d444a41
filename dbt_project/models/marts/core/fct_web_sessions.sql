{#
    One row per browsing session (all time), as the features count them: the live path's
    online store starts from these after every batch run (cible/live/bootstrap.py) and adds
    what happened since. A view: the sessions table already exists, only its contract is
    published here.
#}

{{ config(materialized='view') }}

{%- set bigint = dbt.type_bigint() %}
{%- set double = cible.type_double() %}

with

sessions as (

    select * from {{ ref('int_sessions_aggregated') }}

),

final as (

    select
        session_id,
        visitor_key,
        anonymous_id,
        login_customer_id,
        min_login_customer_id,
        session_started_at,
        session_ended_at,
        first_event_id,
        device_type,
        traffic_source,
        cast(events_count as {{ bigint }}) as events_count,
        {%- for column in cible.event_count_columns().values() %}
        cast({{ column }} as {{ bigint }}) as {{ column }},
        {%- endfor %}
        cast(page_dwell_seconds as {{ double }}) as page_dwell_seconds,
        cast(video_watch_seconds as {{ double }}) as video_watch_seconds,
        cast(max_scroll_depth_pct as {{ bigint }}) as max_scroll_depth_pct

    from sessions

)

select * from final
