{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'customer_lifetime_values') }}

),

renamed as (

    select
        ---------- ids
        cast(scoring_run_id as {{ dbt.type_string() }}) as scoring_run_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(model_version as {{ dbt.type_string() }}) as model_version,

        ---------- numerics
        cast(horizon_days as {{ dbt.type_bigint() }}) as horizon_days,
        cast(expected_purchases as {{ cible.type_double() }}) as expected_purchases,
        cast(probability_alive as {{ cible.type_double() }}) as probability_alive,
        cast(expected_order_value_eur as {{ cible.type_double() }}) as expected_order_value_eur,
        cast(lifetime_value_eur as {{ cible.type_double() }}) as lifetime_value_eur,
        cast(lifetime_value_decile as {{ dbt.type_bigint() }}) as lifetime_value_decile,

        ---------- timestamps
        cast(scored_at as {{ dbt.type_timestamp() }}) as scored_at,
        cast(as_of_at as {{ dbt.type_timestamp() }}) as as_of_at

    from source

)

select * from renamed
