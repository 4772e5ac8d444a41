{#
    Valid orders, one per order id, with the resolved customer. An order naming a customer
    number the CRM does not hold is flagged and quarantined (`unknown_customer`).
#}

with

orders as (

    select * from {{ ref('stg_shop__orders') }}
    where is_valid

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

attributed as (

    {#- The latest receipt: a re-sent order is a correction of the one sent before. #}
    {{ cible.dedupe_and_attach('orders', key='order_id', keep='latest') }}

),

final as (

    select
        order_id,
        customer_number,
        customer_id,
        is_unknown_customer,
        ordered_at,
        amount,
        currency,
        was_in_cents,
        channel,
        store_code,
        promo_code,
        has_promo_code,
        source_file,
        source_line

    from attributed

)

select * from final
