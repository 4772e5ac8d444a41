{#
    Operational relevance of the current run's segments: open, click and conversion rates of
    the campaigns their customers received in the long window before the run's as-of date,
    against the same rates over the whole customer base. A message is one campaign sent to one
    customer; it counts as opened, clicked or converted once whatever the number of events.
#}

with

current_run as (

    select * from {{ ref('dim_segment_runs') }}
    where is_current

),

segments as (

    select * from {{ ref('dim_segments') }}
    where is_active

),

memberships as (

    select * from {{ ref('fct_segment_memberships') }}
    where is_current_run

),

campaign_events as (

    select * from {{ ref('int_campaign_events_attributed') }}
    where not is_unknown_customer

),

messages as (

    select
        campaign_events.customer_id,
        campaign_events.campaign_id,
        max(case when campaign_events.event_type = 'open' then 1 else 0 end) as is_opened,
        max(case when campaign_events.event_type = 'click' then 1 else 0 end) as is_clicked,
        max(case when campaign_events.event_type = 'conversion' then 1 else 0 end) as is_converted

    from campaign_events
    cross join current_run
    where campaign_events.occurred_at < current_run.as_of_at
        and campaign_events.occurred_at
            >= {{ dbt.dateadd('day', -1 * var('long_window_days'), 'current_run.as_of_at') }}
    group by campaign_events.customer_id, campaign_events.campaign_id
    having max(case when campaign_events.event_type = 'send' then 1 else 0 end) = 1

),

segment_messages as (

    select
        memberships.segment_id,
        count(*) as messages_received,
        count(distinct memberships.customer_id) as customers_reached,
        sum(messages.is_opened) as messages_opened,
        sum(messages.is_clicked) as messages_clicked,
        sum(messages.is_converted) as messages_converted

    from memberships
    inner join messages
        on memberships.customer_id = messages.customer_id
    group by memberships.segment_id

),

base_messages as (

    select
        count(*) as messages_received,
        sum(messages.is_opened) as messages_opened,
        sum(messages.is_clicked) as messages_clicked,
        sum(messages.is_converted) as messages_converted

    from memberships
    inner join messages
        on memberships.customer_id = messages.customer_id
    where memberships.is_exclusive

),

rates as (

    select
        segments.segment_id,
        segments.segment_kind,
        segments.name_en,
        segments.name_fr,
        segments.customers,
        coalesce(segment_messages.messages_received, 0) as messages_received,
        coalesce(segment_messages.customers_reached, 0) as customers_reached,
        {{ cible.safe_divide('segment_messages.messages_opened', 'segment_messages.messages_received') }}
            as open_rate,
        {{ cible.safe_divide('segment_messages.messages_clicked', 'segment_messages.messages_received') }}
            as click_rate,
        {{ cible.safe_divide('segment_messages.messages_converted', 'segment_messages.messages_received') }}
            as conversion_rate,
        {{ cible.safe_divide('base_messages.messages_opened', 'base_messages.messages_received') }}
            as base_open_rate,
        {{ cible.safe_divide('base_messages.messages_clicked', 'base_messages.messages_received') }}
            as base_click_rate,
        {{ cible.safe_divide('base_messages.messages_converted', 'base_messages.messages_received') }}
            as base_conversion_rate,
        segments.last_run_id as run_id

    from segments
    cross join base_messages
    left join segment_messages
        on segments.segment_id = segment_messages.segment_id

),

final as (

    select
        segment_id,
        segment_kind,
        name_en,
        name_fr,
        customers,
        cast(messages_received as {{ dbt.type_bigint() }}) as messages_received,
        cast(customers_reached as {{ dbt.type_bigint() }}) as customers_reached,
        open_rate,
        click_rate,
        conversion_rate,
        base_open_rate,
        base_click_rate,
        base_conversion_rate,
        {{ cible.safe_divide('open_rate', 'base_open_rate') }} as open_rate_lift,
        {{ cible.safe_divide('click_rate', 'base_click_rate') }} as click_rate_lift,
        {{ cible.safe_divide('conversion_rate', 'base_conversion_rate') }} as conversion_rate_lift,
        run_id

    from rates

)

select * from final
