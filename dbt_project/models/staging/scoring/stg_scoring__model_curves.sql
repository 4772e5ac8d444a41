{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'model_curves') }}

),

renamed as (

    select
        ---------- ids
        cast(model_version as {{ dbt.type_string() }}) as model_version,

        ---------- properties
        cast(target as {{ dbt.type_string() }}) as target,
        cast(curve as {{ dbt.type_string() }}) as curve,

        ---------- numerics
        cast(point as {{ dbt.type_bigint() }}) as point,
        cast(x as {{ cible.type_double() }}) as x,
        cast(y as {{ cible.type_double() }}) as y,
        cast(customers as {{ cible.type_double() }}) as customers

    from source

)

select * from renamed
