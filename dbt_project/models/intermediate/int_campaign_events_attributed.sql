{#
    Valid campaign events, one per campaign event id, with the resolved customer; events for a
    customer number the CRM does not hold are flagged and quarantined (`unknown_customer`).
#}

with

campaign_events as (

    select * from {{ ref('stg_campaigns__campaign_events') }}
    where is_valid

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

attributed as (

    {#- The earliest receipt: a send, open or click happens once; later copies re-export it. #}
    {{ cible.dedupe_and_attach('campaign_events', key='campaign_event_id', keep='earliest') }}

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
        source_file,
        source_line

    from attributed

)

select * from final
