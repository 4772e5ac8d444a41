{# Written by the segmentation step (ml/segmentation); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('segmentation', 'segment_assignments') }}

),

renamed as (

    select
        ---------- ids
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(segment_id as {{ dbt.type_string() }}) as segment_id,

        ---------- properties
        cast(segment_kind as {{ dbt.type_string() }}) as segment_kind,

        ---------- numerics
        cast(distance_to_centroid as {{ cible.type_double() }}) as distance_to_centroid

    from source

)

select * from renamed
