{# One row per person (resolved customer) with survivorship attributes and geography. #}

with

customers as (

    select * from {{ ref('int_customers_merged') }}

),

geography as (

    select * from {{ ref('geo_departements') }}

),

located as (

    select
        *,
        {{ cible.departement_from_postcode('postcode', 'country_code') }} as departement_code

    from customers

),

final as (

    select
        located.customer_id,
        located.anchor_customer_number,
        located.customer_numbers,
        located.record_count,
        located.email,
        located.phone_e164,
        located.first_name,
        located.last_name,
        located.gender,
        located.birth_date,
        located.postcode,
        located.city,
        located.country_code,
        located.departement_code,
        geography.departement_name,
        geography.region_code,
        geography.region_name,
        geography.density_class,
        located.pcs_code,
        located.household_size,
        located.signup_channel,
        located.created_at,
        located.updated_at

    from located
    left join geography
        on located.departement_code = geography.departement_code

)

select * from final
