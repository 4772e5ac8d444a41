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

ranked as (

    select
        *,
        row_number() over (
            partition by order_id, line_number
            order by loaded_at desc, source_file desc, source_line desc
        ) as receipt_rank

    from order_lines

),

final as (

    select
        ranked.order_id,
        ranked.line_number,
        orders.customer_id,
        orders.ordered_at,
        orders.order_id is null as is_orphan_line,
        ranked.product_sku,
        ranked.product_category,
        ranked.quantity,
        ranked.unit_price,
        ranked.line_amount,
        ranked.source_file,
        ranked.source_line

    from ranked
    left join orders
        on ranked.order_id = orders.order_id
    where ranked.receipt_rank = 1

)

select * from final
