{# Purchase behaviour of each customer before the as-of date: RFM inputs, channels, promotions, seasonality, category mix. #}

with

feature_window as (

    select * from {{ ref('int_feature_window') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

order_lines as (

    select * from {{ ref('int_order_lines_attributed') }}
    where not is_orphan_line

),

past_orders as (

    select
        orders.*,
        orders.ordered_at >= feature_window.long_window_start_at as is_in_long_window,
        orders.ordered_at >= feature_window.recent_window_start_at as is_in_recent_window

    from orders
    cross join feature_window
    where orders.ordered_at < feature_window.as_of_at

),

past_lines as (

    select order_lines.*
    from order_lines
    cross join feature_window
    where order_lines.ordered_at < feature_window.as_of_at

),

order_aggregates as (

    select
        customer_id,
        count(*) as orders_count,
        sum(case when is_in_long_window then 1 else 0 end) as orders_count_long_window,
        sum(case when is_in_recent_window then 1 else 0 end) as orders_count_recent_window,
        sum(amount) as revenue_eur,
        sum(case when is_in_long_window then amount else 0 end) as revenue_long_window_eur,
        sum(case when is_in_recent_window then amount else 0 end) as revenue_recent_window_eur,
        {#- In double precision: the average of a decimal keeps 6 decimals on Spark, all of them on DuckDB. #}
        avg(cast(amount as {{ cible.type_double() }})) as average_order_value_eur,
        max(amount) as max_order_value_eur,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        avg(cast(items_count as {{ cible.type_double() }})) as average_items_per_order,
        {%- for channel in ['store', 'web', 'app', 'call_centre'] %}
        {{ cible.safe_divide("sum(case when channel = '" ~ channel ~ "' then 1 else 0 end)", 'count(*)') }}
            as {{ channel }}_order_share,
        {%- endfor %}
        {{ cible.safe_divide('sum(case when has_promo_code then 1 else 0 end)', 'count(*)') }}
            as promo_order_share,
        {{ cible.safe_divide('sum(case when is_sales_period then 1 else 0 end)', 'count(*)') }}
            as sales_period_order_share,
        {{ cible.safe_divide('sum(case when is_gifting_period then 1 else 0 end)', 'count(*)') }}
            as gifting_period_order_share,
        {{ cible.safe_divide('sum(case when is_vip_event_period then 1 else 0 end)', 'count(*)') }}
            as vip_event_order_share,
        {{ cible.safe_divide(
            'sum(case when extract(month from ordered_at) in (6, 7, 8) then 1 else 0 end)',
            'count(*)') }} as summer_order_share

    from past_orders
    group by customer_id

),

category_aggregates as (

    select
        customer_id,
        count(distinct product_category) as distinct_categories_bought,
        {%- for category in var('product_categories') %}
        {{ cible.safe_divide(
            "sum(case when product_category = '" ~ category ~ "' then line_amount else 0 end)",
            'sum(line_amount)') }} as {{ category }}_revenue_share{{ "," if not loop.last }}
        {%- endfor %}

    from past_lines
    group by customer_id

),

final as (

    select
        order_aggregates.*,
        coalesce(category_aggregates.distinct_categories_bought, 0) as distinct_categories_bought,
        {%- for category in var('product_categories') %}
        category_aggregates.{{ category }}_revenue_share{{ "," if not loop.last }}
        {%- endfor %}

    from order_aggregates
    left join category_aggregates
        on order_aggregates.customer_id = category_aggregates.customer_id

)

select * from final
