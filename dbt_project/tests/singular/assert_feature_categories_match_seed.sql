{#
    fct_customer_features has one revenue-share column per category listed in the
    `product_categories` var; the var must list exactly the categories of the seed.
#}
{%- set categories = var('product_categories') %}

with

seeded as (

    select product_category from {{ ref('product_categories') }}

),

configured as (

    {%- for category in categories %}
    select '{{ category }}' as product_category
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select 'missing from var' as problem, product_category
from seeded
where product_category not in (select product_category from configured)
union all
select 'missing from seed' as problem, product_category
from configured
where product_category not in (select product_category from seeded)
