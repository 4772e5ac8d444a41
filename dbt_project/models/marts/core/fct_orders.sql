{# One row per valid order of a known customer, in euros, with its basket and commercial moment. #}

with

orders as (

    select * from {{ ref('int_orders_attributed') }}
    where not is_unknown_customer

),

order_lines as (

    select * from {{ ref('int_order_lines_attributed') }}
    where not is_orphan_line

),

calendar as (

    select * from {{ ref('commercial_calendar') }}

),

baskets as (

    select
        order_id,
        count(*) as lines_count,
        sum(quantity) as items_count,
        count(distinct product_category) as distinct_categories

    from order_lines
    group by order_id

),

main_categories as (

    select
        order_id,
        product_category as main_product_category,
        row_number() over (
            partition by order_id order by line_amount desc, line_number asc
        ) as category_rank

    from order_lines

),

moments as (

    select
        orders.order_id,
        max(case when calendar.moment_type = 'sales' then 1 else 0 end) as in_sales,
        max(case when calendar.moment_type = 'gifting' then 1 else 0 end) as in_gifting,
        max(case when calendar.moment_type = 'vip_event' then 1 else 0 end) as in_vip_event

    from orders
    inner join calendar
        on cast(orders.ordered_at as date) >= calendar.starts_on
        and cast(orders.ordered_at as date) <= calendar.ends_on
    group by orders.order_id

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.customer_number,
        orders.ordered_at,
        orders.amount,
        orders.currency,
        orders.was_in_cents,
        orders.channel,
        orders.store_code,
        orders.promo_code,
        orders.has_promo_code,
        cast(coalesce(baskets.lines_count, 0) as {{ dbt.type_bigint() }}) as lines_count,
        cast(coalesce(baskets.items_count, 0) as {{ dbt.type_bigint() }}) as items_count,
        cast(coalesce(baskets.distinct_categories, 0) as {{ dbt.type_bigint() }}) as distinct_categories,
        main_categories.main_product_category,
        coalesce(moments.in_sales, 0) = 1 as is_sales_period,
        coalesce(moments.in_gifting, 0) = 1 as is_gifting_period,
        coalesce(moments.in_vip_event, 0) = 1 as is_vip_event_period

    from orders
    left join baskets
        on orders.order_id = baskets.order_id
    left join main_categories
        on orders.order_id = main_categories.order_id
        and main_categories.category_rank = 1
    left join moments
        on orders.order_id = moments.order_id

)

select * from final
