{#
    Campaign responsiveness of each customer over the long window before the as-of date.
    Rates are per campaign received (several opens of one message count once), overall, by
    channel and for exclusive offers (`vip_event`, `exclusive`) and discounts. A campaign is in
    the window when its first event (the send) is; its opens and clicks count if they happened
    before the as-of date. A campaign with an open or a click but no recorded send (the send
    row was rejected) still counts as received.
#}

with

feature_window as (

    select * from {{ ref('int_feature_window') }}

),

campaign_events as (

    select campaign_events.*
    from {{ ref('int_campaign_events_attributed') }} as campaign_events
    cross join feature_window
    where not campaign_events.is_unknown_customer
        and campaign_events.occurred_at < feature_window.as_of_at

),

per_campaign as (

    select
        customer_id,
        campaign_id,
        max(channel) as channel,
        max(promo_type) as promo_type,
        1 as was_sent,
        max(case when event_type = 'open' then 1 else 0 end) as was_opened,
        max(case when event_type = 'click' then 1 else 0 end) as was_clicked,
        max(case when event_type = 'conversion' then 1 else 0 end) as was_converted,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at

    from campaign_events
    group by customer_id, campaign_id

),

in_window as (

    select per_campaign.*
    from per_campaign
    cross join feature_window
    where per_campaign.first_event_at >= feature_window.long_window_start_at

),

final as (

    select
        customer_id,
        sum(was_sent) as campaigns_received,
        sum(was_opened) as campaigns_opened,
        sum(was_clicked) as campaigns_clicked,
        sum(was_converted) as campaigns_converted,
        {{ cible.safe_divide('sum(was_opened)', 'sum(was_sent)') }} as open_rate,
        {{ cible.safe_divide('sum(was_clicked)', 'sum(was_sent)') }} as click_rate,
        {{ cible.safe_divide('sum(was_converted)', 'sum(was_sent)') }} as conversion_rate,
        {%- for channel in ['email', 'sms', 'push'] %}
        {{ cible.safe_divide("sum(case when channel = '" ~ channel ~ "' then was_clicked else 0 end)",
                             "sum(case when channel = '" ~ channel ~ "' then was_sent else 0 end)") }}
            as {{ channel }}_click_rate,
        {%- endfor %}
        {{ cible.safe_divide("sum(case when promo_type in ('vip_event', 'exclusive') then was_clicked else 0 end)",
                             "sum(case when promo_type in ('vip_event', 'exclusive') then was_sent else 0 end)") }}
            as exclusive_offer_click_rate,
        {{ cible.safe_divide("sum(case when promo_type = 'discount' then was_clicked else 0 end)",
                             "sum(case when promo_type = 'discount' then was_sent else 0 end)") }}
            as discount_offer_click_rate,
        max(case when was_clicked = 1 then last_event_at end) as last_campaign_click_at

    from in_window
    group by customer_id

)

select * from final
