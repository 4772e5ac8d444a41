{#
    Cookie and device identifiers linked to a customer by logged-in events. A device used to
    log in as several customers (a household tablet) is shared: it links nobody, because
    attributing its anonymous visits to one of them would be a guess. This is the link as of
    today; features as of a past date rebuild it from the logins known then.
#}

with

logins as (

    select anonymous_id, login_customer_id, occurred_at
    from {{ ref('int_events_attributed') }}
    where anonymous_id is not null
        and login_customer_id is not null

),

devices as (

    select
        anonymous_id,
        count(distinct login_customer_id) as customers_logged_in,
        min(login_customer_id) as first_customer_id,
        min(occurred_at) as linked_at,
        count(*) as logged_in_events

    from logins
    group by anonymous_id

),

final as (

    select
        anonymous_id,
        case when customers_logged_in = 1 then first_customer_id end as customer_id,
        customers_logged_in > 1 as is_shared_device,
        customers_logged_in,
        linked_at,
        logged_in_events

    from devices

)

select * from final
