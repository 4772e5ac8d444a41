{# Written by the segmentation step (ml/segmentation); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('segmentation', 'rule_segment_memberships') }}

),

renamed as (

    select
        ---------- ids
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(segment_id as {{ dbt.type_string() }}) as segment_id,

        ---------- properties
        cast(rule_group as {{ dbt.type_string() }}) as rule_group

    from source

)

select * from renamed
