{# Written by the segmentation step (ml/segmentation); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('segmentation', 'rule_segment_memberships') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('segmentation', 'rule_segment_memberships') }}

    from source

)

select * from renamed
