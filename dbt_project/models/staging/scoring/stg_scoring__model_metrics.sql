{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'model_metrics') }}

),

renamed as (

    select
        ---------- ids
        cast(model_version as {{ dbt.type_string() }}) as model_version,

        ---------- properties
        cast(target as {{ dbt.type_string() }}) as target,
        cast(dataset as {{ dbt.type_string() }}) as dataset,
        cast(metric as {{ dbt.type_string() }}) as metric,

        ---------- numerics
        cast(value as {{ cible.type_double() }}) as value,

        ---------- timestamps
        cast(computed_at as {{ dbt.type_timestamp() }}) as computed_at

    from source

)

select * from renamed
