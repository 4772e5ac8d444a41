{#
    One wide row per customer as of `as_of_at`: the input of segmentation and scoring.
    Every family of features reads only what was known before the as-of date (see
    `int_feature_window`). Counts are 0 without activity; rates and shares are null when they
    are undefined (no order, no session, no campaign), so models can tell "never" from "0 %".
    Socio-demographic attributes are the CRM's current values: the CRM export has no history.
#}

{%- set double = cible.type_double() %}
{%- set int = dbt.type_int() %}

with

feature_window as (

    select * from {{ ref('int_feature_window') }}

),

customers as (

    select customers.*
    from {{ ref('dim_customers') }} as customers
    cross join feature_window
    where customers.created_at is null
        or customers.created_at < feature_window.as_of_at

),

order_features as (

    select * from {{ ref('int_customer_order_features') }}

),

web_features as (

    select * from {{ ref('int_customer_web_features') }}

),

campaign_features as (

    select * from {{ ref('int_customer_campaign_features') }}

),

declared_features as (

    select * from {{ ref('int_customer_declared_features') }}

),

{#- The consent state pivoted, one flag per purpose. The flags describe who can be reached;
    they are not model inputs (cible/privacy/consent.py keeps them out). #}
consents as (

    select
        customer_id,
        {%- for purpose in cible.consent_purposes() %}
        max(case when purpose = '{{ purpose }}' then is_allowed end)
            as has_{{ purpose }}_consent{{ "," if not loop.last }}
        {%- endfor %}

    from {{ ref('int_customer_consents_as_of') }}
    group by customer_id

),

joined as (

    select
        customers.customer_id,
        feature_window.as_of_at,

        ---------- demographic
        cast(floor({{ dbt.datediff('customers.birth_date', 'feature_window.as_of_at', 'day') }} / 365.25) as {{ int }})
            as age,
        customers.gender,
        customers.country_code,
        customers.departement_code,
        customers.region_code,
        customers.density_class,
        customers.pcs_code,
        cast(customers.household_size as {{ int }}) as household_size,
        cast({{ dbt.datediff('customers.created_at', 'feature_window.as_of_at', 'day') }} as {{ int }})
            as customer_tenure_days,
        cast(customers.record_count as {{ int }}) as crm_record_count,
        customers.email is not null as has_email,
        customers.phone_e164 is not null as has_phone,

        ---------- purchase (RFM, lifecycle, basket, channels)
        cast(coalesce(order_features.orders_count, 0) as {{ int }}) as orders_count,
        cast(coalesce(order_features.orders_count_long_window, 0) as {{ int }}) as orders_count_long_window,
        cast(coalesce(order_features.orders_count_recent_window, 0) as {{ int }}) as orders_count_recent_window,
        cast(coalesce(order_features.revenue_eur, 0) as {{ double }}) as revenue_eur,
        cast(coalesce(order_features.revenue_long_window_eur, 0) as {{ double }}) as revenue_long_window_eur,
        cast(coalesce(order_features.revenue_recent_window_eur, 0) as {{ double }}) as revenue_recent_window_eur,
        cast(order_features.average_order_value_eur as {{ double }}) as average_order_value_eur,
        cast(order_features.max_order_value_eur as {{ double }}) as max_order_value_eur,
        order_features.first_order_at,
        order_features.last_order_at,
        cast({{ dbt.datediff('order_features.last_order_at', 'feature_window.as_of_at', 'day') }} as {{ int }})
            as recency_days,
        cast({{ dbt.datediff('order_features.first_order_at', 'feature_window.as_of_at', 'day') }} as {{ int }})
            as days_since_first_order,
        cast(order_features.average_items_per_order as {{ double }}) as average_items_per_order,
        cast(coalesce(order_features.distinct_categories_bought, 0) as {{ int }}) as distinct_categories_bought,
        {%- for column in ['store_order_share', 'web_order_share', 'app_order_share', 'call_centre_order_share',
                           'promo_order_share'] %}
        cast(order_features.{{ column }} as {{ double }}) as {{ column }},
        {%- endfor %}
        {%- for category in var('product_categories') %}
        cast(order_features.{{ category }}_revenue_share as {{ double }}) as {{ category }}_revenue_share,
        {%- endfor %}

        ---------- contextual (seasonality of purchases)
        {%- for column in ['sales_period_order_share', 'gifting_period_order_share',
                           'vip_event_order_share', 'summer_order_share'] %}
        cast(order_features.{{ column }} as {{ double }}) as {{ column }},
        {%- endfor %}

        ---------- browsing micro-behaviour
        cast(coalesce(web_features.sessions_long_window, 0) as {{ int }}) as sessions_long_window,
        cast(coalesce(web_features.sessions_recent_window, 0) as {{ int }}) as sessions_recent_window,
        cast({{ dbt.datediff('web_features.last_visit_at', 'feature_window.as_of_at', 'day') }} as {{ int }})
            as days_since_last_visit,
        cast(coalesce(web_features.time_on_site_recent_window_seconds, 0) as {{ double }})
            as time_on_site_recent_window_seconds,
        cast(web_features.average_session_seconds as {{ double }}) as average_session_seconds,
        {%- for column in ['page_views', 'product_views', 'searches', 'video_plays', 'wishlist_adds',
                           'add_to_carts', 'checkouts', 'purchases'] %}
        cast(coalesce(web_features.{{ column }}_recent_window, 0) as {{ int }}) as {{ column }}_recent_window,
        {%- endfor %}
        cast(coalesce(web_features.video_watch_recent_window_seconds, 0) as {{ double }})
            as video_watch_recent_window_seconds,
        cast(web_features.average_scroll_depth_pct as {{ double }}) as average_scroll_depth_pct,
        cast(web_features.add_to_cart_rate as {{ double }}) as add_to_cart_rate,
        cast(web_features.checkout_rate as {{ double }}) as checkout_rate,
        {%- for device_type in ['mobile', 'desktop', 'tablet', 'app'] %}
        cast(web_features.{{ device_type }}_session_share as {{ double }}) as {{ device_type }}_session_share,
        {%- endfor %}
        {%- for traffic_source in ['direct', 'seo', 'sea', 'social', 'email', 'affiliate', 'referral'] %}
        cast(web_features.{{ traffic_source }}_traffic_share as {{ double }}) as {{ traffic_source }}_traffic_share,
        {%- endfor %}
        cast(web_features.evening_session_share as {{ double }}) as evening_session_share,
        cast(web_features.weekend_session_share as {{ double }}) as weekend_session_share,

        ---------- campaign responsiveness
        cast(coalesce(campaign_features.campaigns_received, 0) as {{ int }}) as campaigns_received,
        cast(coalesce(campaign_features.campaigns_opened, 0) as {{ int }}) as campaigns_opened,
        cast(coalesce(campaign_features.campaigns_clicked, 0) as {{ int }}) as campaigns_clicked,
        cast(coalesce(campaign_features.campaigns_converted, 0) as {{ int }}) as campaigns_converted,
        {%- for column in ['open_rate', 'click_rate', 'conversion_rate', 'email_click_rate', 'sms_click_rate',
                           'push_click_rate', 'exclusive_offer_click_rate', 'discount_offer_click_rate'] %}
        cast(campaign_features.{{ column }} as {{ double }}) as campaign_{{ column }},
        {%- endfor %}
        cast({{ dbt.datediff('campaign_features.last_campaign_click_at', 'feature_window.as_of_at', 'day') }} as {{ int }})
            as days_since_last_campaign_click,

        ---------- psychographic (declared)
        {%- for interest in var('survey_interests') %}
        cast(declared_features.interest_{{ interest }} as {{ int }}) as interest_{{ interest }},
        {%- endfor %}
        declared_features.last_survey_answer_at is not null as has_answered_survey,
        cast(declared_features.partner_income_band as {{ int }}) as partner_income_band,
        declared_features.partner_is_property_owner,
        declared_features.partner_has_children,
        cast(declared_features.partner_luxury_affinity as {{ int }}) as partner_luxury_affinity,

        ---------- consent on the as-of date (the consent state, int_customer_consents_as_of)
        {%- for purpose in cible.consent_purposes() %}
        coalesce(consents.has_{{ purpose }}_consent, false) as has_{{ purpose }}_consent,
        {%- endfor %}

        customers.birth_date is not null as has_birth_date,
        customers.postcode is not null as has_postcode

    from customers
    cross join feature_window
    left join order_features
        on customers.customer_id = order_features.customer_id
    left join web_features
        on customers.customer_id = web_features.customer_id
    left join campaign_features
        on customers.customer_id = campaign_features.customer_id
    left join declared_features
        on customers.customer_id = declared_features.customer_id
    left join consents
        on customers.customer_id = consents.customer_id

),

derived as (

    select
        *,

        case
            when age is null then 'unknown'
            when age < 25 then '18-24'
            when age < 35 then '25-34'
            when age < 45 then '35-44'
            when age < 55 then '45-54'
            when age < 65 then '55-64'
            else '65+'
        end as age_band,
        coalesce(region_code = 'IDF', false) as is_paris_region,

        cast({{ cible.score_by_thresholds('recency_days', var('rfm_recency_days_thresholds'), higher_is_better=false) }} as {{ int }})
            as recency_score,
        cast(case when orders_count > 0 then
            {{ cible.score_by_thresholds('orders_count_long_window', var('rfm_frequency_orders_thresholds')) }}
        end as {{ int }}) as frequency_score,
        cast(case when orders_count > 0 then
            {{ cible.score_by_thresholds('revenue_long_window_eur', var('rfm_monetary_eur_thresholds')) }}
        end as {{ int }}) as monetary_score,

        case
            when orders_count = 0 then 'prospect'
            when days_since_first_order < {{ var('recent_window_days') }} then 'new'
            when recency_days < {{ var('at_risk_after_days') }} then 'active'
            when recency_days < {{ var('lapsed_after_days') }} then 'at_risk'
            else 'lapsed'
        end as lifecycle_stage,

        {#- Behavioural psychographics, 0 to 1: the average of the signals available. #}
        cast((
            coalesce(promo_order_share, 0) + coalesce(sales_period_order_share, 0)
            + coalesce(campaign_discount_offer_click_rate, 0)
        ) / 3 as {{ double }}) as behaviour_price_sensitivity,
        cast((
            coalesce(vip_event_order_share, 0) + coalesce(campaign_exclusive_offer_click_rate, 0)
            + coalesce(jewellery_revenue_share, 0) + coalesce(watches_revenue_share, 0)
            + coalesce(leather_goods_revenue_share, 0)
        ) / 3 as {{ double }}) as behaviour_exclusivity_affinity,
        cast((
            coalesce(gifting_period_order_share, 0)
            + coalesce(fragrance_beauty_revenue_share, 0) + coalesce(accessories_revenue_share, 0)
        ) / 2 as {{ double }}) as behaviour_gifting_affinity,

        cast((
            {%- set signals = ['has_email', 'has_phone', 'has_birth_date', 'has_postcode',
                               'gender is not null', 'pcs_code is not null', 'household_size is not null',
                               'has_answered_survey', 'partner_income_band is not null',
                               'sessions_long_window > 0', 'orders_count > 0'] %}
            {%- for signal in signals %}
            case when {{ signal }} then 1 else 0 end{{ " +" if not loop.last }}
            {%- endfor %}
        ) as {{ double }}) / {{ signals | length }} as profile_completeness

    from joined

),

final as (

    select
        *,
        case
            when recency_score is null then null
            else {{ dbt.concat(['cast(recency_score as ' ~ dbt.type_string() ~ ')',
                                'cast(frequency_score as ' ~ dbt.type_string() ~ ')',
                                'cast(monetary_score as ' ~ dbt.type_string() ~ ')']) }}
        end as rfm_cell

    from derived

)

select * from final
