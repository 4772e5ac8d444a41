{#
    Sessions by the inactivity rule, shared by `int_events_sessionised` (every event) and
    `int_sessions_aggregated` (a daily run: only the visitors whose events changed).

    A visitor is the cookie or device (`anonymous_id`), else the logged-in customer number, else
    the event alone; a visitor's session ends after `session_timeout_minutes` without an event.
    Sessions are numbered per visitor from their first event, so a visitor's sessions depend on
    that visitor's events only: recomputing every session of the visitors a window touched
    gives the rows of a full rebuild.
#}

{% macro visitor_key() -%}
    coalesce(anonymous_id, customer_number, event_id)
{%- endmacro %}


{#- The CTEs `visits`, `gaps`, `session_starts`, `numbered` and `sessionised` (one row per
    event, with its session) over the CTE or relation `events` (rows of
    `int_events_attributed`). -#}
{% macro sessionised_events(events) -%}

{%- set carried = ['anonymous_id', 'login_customer_id', 'event_type', 'occurred_at',
                   'is_late_arrival', 'duration_ms', 'scroll_depth_pct', 'device_type',
                   'traffic_source'] %}

visits as (

    {#- Only what sessions need: the two windows below sort every column they carry. #}
    select
        event_id,
        {%- for column in carried %}
        {{ column }},
        {%- endfor %}
        {{ cible.visitor_key() }} as visitor_key

    from {{ events }}

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

sessionised as (

    select
        event_id,
        {{ cible.session_id('visitor_key', 'session_number') }} as session_id,
        visitor_key,
        session_number,
        is_session_start = 1 as is_session_start,
        {%- for column in carried %}
        {{ column }}{{ "," if not loop.last }}
        {%- endfor %}

    from numbered

)

{%- endmacro %}


{#- A window run of `int_sessions_aggregated` recomputes every session of the visitors with an
    event in the window now; a visitor whose events in the window have all gone (none left
    anywhere) gets no row from it, so this hook deletes the sessions of theirs that the window
    held. A session overlapping a day-long window has an event in it (a session ends after
    `session_timeout_minutes` without one, far less than a day). -#}
{% macro delete_sessions_without_events() -%}
    {%- set window = cible.event_window() -%}
    {%- if window is not none and cible.window_replaces_rows() -%}
    delete from {{ this }}
    where session_ended_at >= {{ cible.timestamp_literal(window[0]) }}
        and session_started_at < {{ cible.timestamp_literal(window[1]) }}
        and visitor_key not in (
            select {{ cible.visitor_key() }}
            from {{ ref('int_events_attributed') }}
            where not is_unknown_customer
                and {{ cible.in_event_window('occurred_at') }}
        )
    {%- endif -%}
{%- endmacro %}


{#- A whole number from a text's MD5 (its first 32 bits), the same on every engine: the
    sessions sum it over their logged-in events to notice a re-attributed event. -#}
{% macro text_checksum(text) -%}
    {{ return(adapter.dispatch('text_checksum', 'cible')(text)) }}
{%- endmacro %}

{% macro default__text_checksum(text) -%}
    cast(('0x' || substr({{ dbt.hash(text) }}, 1, 8)) as {{ dbt.type_bigint() }})
{%- endmacro %}

{% macro spark__text_checksum(text) -%}
    cast(conv(substr({{ dbt.hash(text) }}, 1, 8), 16, 10) as {{ dbt.type_bigint() }})
{%- endmacro %}
