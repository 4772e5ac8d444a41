{# Written by the segmentation step (ml/segmentation); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('segmentation', 'segment_profiles') }}

),

renamed as (

    select
        ---------- ids
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(segment_id as {{ dbt.type_string() }}) as segment_id,

        ---------- properties
        cast(segment_kind as {{ dbt.type_string() }}) as segment_kind,
        cast(rule_group as {{ dbt.type_string() }}) as rule_group,
        cast(name_en as {{ dbt.type_string() }}) as name_en,
        cast(name_fr as {{ dbt.type_string() }}) as name_fr,
        cast(description_en as {{ dbt.type_string() }}) as description_en,
        cast(description_fr as {{ dbt.type_string() }}) as description_fr,
        cast(top_features as {{ dbt.type_string() }}) as top_features,

        ---------- numerics
        cast(segment_number as {{ dbt.type_int() }}) as segment_number,
        cast(strategic_fit as {{ dbt.type_int() }}) as strategic_fit,
        cast(customers as {{ dbt.type_int() }}) as customers,
        cast(customer_share as {{ cible.type_double() }}) as customer_share,
        cast(orders_per_customer as {{ cible.type_double() }}) as orders_per_customer,
        cast(revenue_per_customer_eur as {{ cible.type_double() }}) as revenue_per_customer_eur,
        cast(average_order_value_eur as {{ cible.type_double() }}) as average_order_value_eur,
        cast(campaign_open_rate as {{ cible.type_double() }}) as campaign_open_rate,
        cast(campaign_click_rate as {{ cible.type_double() }}) as campaign_click_rate,
        cast(campaign_conversion_rate as {{ cible.type_double() }}) as campaign_conversion_rate,
        cast(profile_completeness as {{ cible.type_double() }}) as profile_completeness,
        cast(profiling_consent_rate as {{ cible.type_double() }}) as profiling_consent_rate,
        cast(marketing_consent_rate as {{ cible.type_double() }}) as marketing_consent_rate,
        cast(previous_match_distance as {{ cible.type_double() }}) as previous_match_distance,

        ---------- booleans
        cast(is_new_segment as {{ dbt.type_boolean() }}) as is_new_segment

    from source

)

select * from renamed
