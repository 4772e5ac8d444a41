{#
    Events grouped into sessions: a visitor's (cookie or device) session ends after
    `session_timeout_minutes` without an event (macros/sessions.sql). The tracker's own session
    id is not used, as trackers cut sessions at midnight or on a campaign click.
    A view: `int_sessions_aggregated` materialises what the features need.
#}

{{ config(materialized='view') }}

with

events as (

    select * from {{ ref('int_events_attributed') }}
    where not is_unknown_customer

),

{{ cible.sessionised_events('events') }}

select * from sessionised
