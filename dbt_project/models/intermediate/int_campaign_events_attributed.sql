{#
    Valid campaign events, one per campaign event id, with the resolved customer; events for a
    customer number the CRM does not hold are flagged and quarantined (`unknown_customer`).
    Processed by day of occurrence like the web events (macros/event_partitions.sql): a window
    run replaces the window's days and re-attributes the events outside it whose customer the
    CRM now resolves differently (a record it did not hold yet, a merge); a run without a
    window rebuilds the table. Where a window run overwrites whole partitions (Spark) it does
    not re-attribute: a full refresh does.
#}

{{ config(
    materialized='incremental',
    tags=['event_partitions'],
    unique_key='campaign_event_id',
    incremental_strategy=cible.window_incremental_strategy(),
    partition_by=cible.window_partition_by('occurred_on'),
    full_refresh=(none if cible.is_event_window_run() else true),
) }}

{%- set carried = ['campaign_event_id', 'campaign_id', 'customer_number', 'channel', 'promo_type',
                   'event_type', 'occurred_at', 'source_file', 'source_line'] %}

with

{#- Re-exported copies of a send, open or click share its time: the window holds them all. #}
campaign_events as (

    select * from {{ ref('stg_campaigns__campaign_events') }}
    where is_valid
        and {{ cible.in_event_window('occurred_at') }}

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

attributed as (

    {#- The earliest receipt: a send, open or click happens once; later copies re-export it. #}
    {{ cible.dedupe_and_attach('campaign_events', key='campaign_event_id', keep='earliest') }}

),

window_events as (

    select {{ carried | join(', ') }}, customer_id, is_unknown_customer
    from attributed

),

{%- if is_incremental() and cible.window_replaces_rows() %}

{#- Events outside the window whose stored customer is not the one the CRM resolves today. #}
reattributed as (

    select
        {%- for column in carried %}
        previous.{{ column }},
        {%- endfor %}
        identities.customer_id,
        identities.customer_number is null as is_unknown_customer

    from {{ this }} as previous
    left join identities
        on previous.customer_number = identities.customer_number
    where not {{ cible.in_event_window('previous.occurred_at') }}
        and (
            previous.customer_id <> identities.customer_id
            or (previous.customer_id is null) <> (identities.customer_id is null)
        )

),

{%- endif %}

processed as (

    select * from window_events
    {%- if is_incremental() and cible.window_replaces_rows() %}
    union all
    select * from reattributed
    {%- endif %}

),

final as (

    select
        campaign_event_id,
        campaign_id,
        customer_number,
        customer_id,
        is_unknown_customer,
        channel,
        promo_type,
        event_type,
        occurred_at,
        cast(occurred_at as date) as occurred_on,
        source_file,
        source_line

    from processed

)

select * from final
