{#
    Valid order lines, one per (order, line number), attached to their order. A line whose
    order is missing, invalid or quarantined is flagged (`orphan_line`) and quarantined.
#}

with

order_lines as (

    select * from {{ ref('stg_shop__order_lines') }}
    where is_valid

),

orders as (

    select order_id, customer_id, ordered_at, channel
    from {{ ref('int_orders_attributed') }}
    where not is_unknown_customer

),

attributed as (

    {#- The latest receipt, as for orders: a corrected order comes with its corrected lines. #}
    {{ cible.dedupe_and_attach(
        'order_lines',
        key=['order_id', 'line_number'],
        keep='latest',
        attach_to='orders',
        on='order_id',
        attached=['customer_id', 'ordered_at'],
        missing_flag='is_orphan_line',
    ) }}

),

final as (

    select
        order_id,
        line_number,
        customer_id,
        ordered_at,
        is_orphan_line,
        product_sku,
        product_category,
        quantity,
        unit_price,
        line_amount,
        source_file,
        source_line

    from attributed

)

select * from final
