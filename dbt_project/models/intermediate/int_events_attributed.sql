{#
    Deduplicated events with the customer of the logged-in visitor. An event naming a customer
    number the CRM does not hold is flagged; it is quarantined (`unknown_customer`), not kept.
    The one table holding every event: sessions, devices and the quality reports read it.
    Partitioned by day of occurrence (`occurred_on`): a window run (see
    macros/event_partitions.sql) replaces that day's events; a run without a window rebuilds
    the table. A window run also re-attributes the events outside it whose customer the CRM
    now resolves differently: a customer number the CRM did not hold yet (a web account made
    before the CRM export had it), or a record merged into an older one (a new customer_id).
    Where a window run overwrites whole partitions (Spark) it does not: a full refresh does.
#}

{{ config(
    materialized='incremental',
    tags=['event_partitions'],
    unique_key='event_id',
    incremental_strategy=cible.window_incremental_strategy(),
    partition_by=cible.window_partition_by('occurred_on'),
    full_refresh=(none if cible.is_event_window_run() else true),
) }}

{#- What the event carries from its receipt; the customer is attached below. #}
{%- set received = ['event_id', 'anonymous_id', 'customer_number', 'event_type', 'occurred_at',
                    'received_at', 'is_late_arrival', 'page_category', 'duration_ms',
                    'scroll_depth_pct', 'device_type', 'traffic_source', 'source_file',
                    'source_line'] %}

with

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

events as (

    select {{ received | join(', ') }}
    from {{ ref('int_events_deduplicated') }}

    {%- if is_incremental() and cible.window_replaces_rows() %}

    union all

    {#- Events outside the window whose stored customer is not the one the CRM resolves
        today: attributed again below, like the window's. #}
    select
        {%- for column in received %}
        previous.{{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ this }} as previous
    left join identities
        on previous.customer_number = identities.customer_number
    where previous.customer_number is not null
        and not {{ cible.in_event_window('previous.occurred_at') }}
        and (
            previous.login_customer_id <> identities.customer_id
            or (previous.login_customer_id is null) <> (identities.customer_id is null)
        )

    {%- endif %}

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
