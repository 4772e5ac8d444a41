{#
    Deduplicated events with the customer of the logged-in visitor. An event naming a customer
    number the CRM does not hold is flagged; it is quarantined (`unknown_customer`), not kept.
    The one table holding every event: sessions, devices and the quality reports read it.
    Partitioned by day of occurrence (`occurred_on`): a window run (see
    macros/event_partitions.sql) replaces that day's events; a run without a window rebuilds
    the table.
#}

{{ config(
    materialized='incremental',
    tags=['event_partitions'],
    unique_key='event_id',
    incremental_strategy=cible.window_incremental_strategy(),
    partition_by=cible.window_partition_by('occurred_on'),
    full_refresh=(none if cible.is_event_window_run() else true),
) }}

with

events as (

    select * from {{ ref('int_events_deduplicated') }}

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

final as (

    select
        events.event_id,
        events.anonymous_id,
        events.customer_number,
        identities.customer_id as login_customer_id,
        events.customer_number is not null
            and identities.customer_number is null as is_unknown_customer,
        events.event_type,
        events.occurred_at,
        cast(events.occurred_at as date) as occurred_on,
        events.received_at,
        events.is_late_arrival,
        events.page_category,
        events.duration_ms,
        events.scroll_depth_pct,
        events.device_type,
        events.traffic_source,
        events.source_file,
        events.source_line

    from events
    left join identities
        on events.customer_number = identities.customer_number

)

select * from final
