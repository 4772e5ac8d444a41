{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'customer_scores') }}

),

renamed as (

    select
        ---------- ids
        cast(scoring_run_id as {{ dbt.type_string() }}) as scoring_run_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(model_version as {{ dbt.type_string() }}) as model_version,

        ---------- properties
        cast(target as {{ dbt.type_string() }}) as target,

        ---------- numerics
        cast(score as {{ cible.type_double() }}) as score,
        cast(score_decile as {{ dbt.type_bigint() }}) as score_decile,

        ---------- timestamps
        cast(scored_at as {{ dbt.type_timestamp() }}) as scored_at,
        cast(as_of_at as {{ dbt.type_timestamp() }}) as as_of_at

    from source

)

select * from renamed
