{# Written by the segmentation step (ml/segmentation); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('segmentation', 'segment_profile_features') }}

),

renamed as (

    select
        ---------- ids
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(segment_id as {{ dbt.type_string() }}) as segment_id,

        ---------- properties
        cast(feature as {{ dbt.type_string() }}) as feature,
        cast(base as {{ dbt.type_string() }}) as base,

        ---------- numerics
        cast(segment_mean as {{ cible.type_double() }}) as segment_mean,
        cast(base_mean as {{ cible.type_double() }}) as base_mean,
        cast(base_std as {{ cible.type_double() }}) as base_std,
        cast(lift as {{ cible.type_double() }}) as lift,
        cast(standardized_difference as {{ cible.type_double() }}) as standardized_difference,
        cast(importance_rank as {{ dbt.type_int() }}) as importance_rank

    from source

)

select * from renamed
