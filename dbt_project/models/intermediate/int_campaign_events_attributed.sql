{#
    Valid campaign events, one per campaign event id, with the resolved customer; events for a
    customer number the CRM does not hold are flagged and quarantined (`unknown_customer`).
    Processed by day of occurrence like the web events (macros/event_partitions.sql): a window
    run replaces the window's days and re-attributes the events outside it whose customer the
    CRM now resolves differently (a record it did not hold yet, a merge); a run without a
    window rebuilds the table. Where a window run overwrites whole partitions (Spark) it does
    not re-attribute: a full refresh does.

    A window run also takes every valid event of staging the table does not hold, whatever its
    day (an anti-join on campaign_event_id), so no campaign event ever waits for a backfill:
    one later than the lookback merges at the next run. This is also what keeps the table
    equal to a rebuild's when the retention step erases a person whom the CRM and campaign
    exports keep sending (docs/privacy.md, "Retention"): each load brings their rows back into
    raw, and each run takes them back in before the retention step erases them again, as a
    rebuild does; without it their days, outside the window, held them no more and the
    late-events check counted them as later than the lookback (0a1e6b9).
    Where a window run overwrites whole partitions (Spark) a missing event cannot be inserted
    alone: the days of the missing events join the window's, recomputed whole from staging
    (and re-attributed with it).
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
{%- set by_key = cible.window_replaces_rows() %}

with

valid_campaign_events as (

    select * from {{ ref('stg_campaigns__campaign_events') }}
    where is_valid

),

{%- if is_incremental() %}

{#- Valid events outside the window that no run has processed: arrived later than the
    lookback, or brought back by a load after the retention step erased them. #}
missing as (

    select {{ 'distinct' if not by_key }}
        {%- if by_key %}
        valid_campaign_events.campaign_event_id
        {%- else %}
        cast(valid_campaign_events.occurred_at as date) as occurred_on
        {%- endif %}

    from valid_campaign_events
    left join {{ this }} as previous
        on valid_campaign_events.campaign_event_id = previous.campaign_event_id
    where previous.campaign_event_id is null
        and not {{ cible.in_event_window('valid_campaign_events.occurred_at') }}

),

{%- endif %}

{#- Re-exported copies of a send, open or click share its time: the window holds them all,
    and a missing event's key brings every copy of it. #}
campaign_events as (

    select * from valid_campaign_events
    where {{ cible.in_event_window('occurred_at') }}
    {%- if is_incremental() and by_key %}
        or campaign_event_id in (select campaign_event_id from missing)
    {%- elif is_incremental() %}
        or cast(occurred_at as date) in (select occurred_on from missing)
    {%- endif %}

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

{%- if is_incremental() and by_key %}

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
    {%- if is_incremental() and by_key %}
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
