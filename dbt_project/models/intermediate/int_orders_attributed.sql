{#
    Valid orders, one per order id (the latest load wins if an order is sent twice), with the
    resolved customer. An order naming a customer number the CRM does not hold is flagged and
    quarantined (`unknown_customer`).
#}

with

orders as (

    select * from {{ ref('stg_shop__orders') }}
    where is_valid

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by loaded_at desc, source_file desc, source_line desc
        ) as receipt_rank

    from orders

),

final as (

    select
        ranked.order_id,
        ranked.customer_number,
        identities.customer_id,
        identities.customer_number is null as is_unknown_customer,
        ranked.ordered_at,
        ranked.amount,
        ranked.currency,
        ranked.was_in_cents,
        ranked.channel,
        ranked.store_code,
        ranked.promo_code,
        ranked.has_promo_code,
        ranked.source_file,
        ranked.source_line

    from ranked
    left join identities
        on ranked.customer_number = identities.customer_number
    where ranked.receipt_rank = 1

)

select * from final
