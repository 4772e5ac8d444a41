{# Written by the segmentation step (ml/segmentation); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('segmentation', 'segment_runs') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('segmentation', 'segment_runs') }}

    from source

)

select * from renamed
