{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'feature_importances') }}

),

renamed as (

    select
        ---------- ids
        cast(model_version as {{ dbt.type_string() }}) as model_version,

        ---------- properties
        cast(target as {{ dbt.type_string() }}) as target,
        cast(feature as {{ dbt.type_string() }}) as feature,

        ---------- numerics
        cast(importance_mean as {{ cible.type_double() }}) as importance_mean,
        cast(importance_std as {{ cible.type_double() }}) as importance_std,
        cast(importance_rank as {{ dbt.type_bigint() }}) as importance_rank

    from source

)

select * from renamed
