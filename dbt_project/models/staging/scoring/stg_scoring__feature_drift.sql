{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'feature_drift') }}

),

renamed as (

    select
        ---------- ids
        cast(scoring_run_id as {{ dbt.type_string() }}) as scoring_run_id,
        cast(model_version as {{ dbt.type_string() }}) as model_version,

        ---------- properties
        cast(target as {{ dbt.type_string() }}) as target,
        cast(kind as {{ dbt.type_string() }}) as kind,
        cast(name as {{ dbt.type_string() }}) as name,
        cast(status as {{ dbt.type_string() }}) as status,

        ---------- numerics
        cast(psi as {{ cible.type_double() }}) as psi,
        cast(psi_warn as {{ cible.type_double() }}) as psi_warn,
        cast(psi_block as {{ cible.type_double() }}) as psi_block,

        ---------- timestamps
        cast(measured_at as {{ dbt.type_timestamp() }}) as measured_at

    from source

)

select * from renamed
