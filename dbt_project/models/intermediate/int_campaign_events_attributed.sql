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

ranked as (

    select
        *,
        row_number() over (
            partition by campaign_event_id
            order by loaded_at asc, source_file asc, source_line asc
        ) as receipt_rank

    from campaign_events

),

final as (

    select
        ranked.campaign_event_id,
        ranked.campaign_id,
        ranked.customer_number,
        identities.customer_id,
        identities.customer_number is null as is_unknown_customer,
        ranked.channel,
        ranked.promo_type,
        ranked.event_type,
        ranked.occurred_at,
        ranked.source_file,
        ranked.source_line

    from ranked
    left join identities
        on ranked.customer_number = identities.customer_number
    where ranked.receipt_rank = 1

)

select * from final
