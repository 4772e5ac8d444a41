{#
    One row per valid campaign event (send, open, click, conversion) of a known customer: the
    campaign history the ML steps read (campaign-response labels), behind a contract. Events
    of customer numbers the CRM does not hold are quarantined upstream, not kept here.
#}

with

campaign_events as (

    select * from {{ ref('int_campaign_events_attributed') }}
    where not is_unknown_customer

),

final as (

    select
        campaign_event_id,
        campaign_id,
        customer_id,
        channel,
        promo_type,
        event_type,
        occurred_at

    from campaign_events

)

select * from final
