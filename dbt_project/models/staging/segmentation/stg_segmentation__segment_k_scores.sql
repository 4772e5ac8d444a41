{# Written by the segmentation step (ml/segmentation); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('segmentation', 'segment_k_scores') }}

),

renamed as (

    select
        ---------- ids
        cast(run_id as {{ dbt.type_string() }}) as run_id,

        ---------- numerics
        cast(k as {{ dbt.type_int() }}) as k,
        cast(silhouette as {{ cible.type_double() }}) as silhouette,
        cast(davies_bouldin as {{ cible.type_double() }}) as davies_bouldin,
        cast(calinski_harabasz as {{ cible.type_double() }}) as calinski_harabasz,
        cast(smallest_cluster as {{ dbt.type_int() }}) as smallest_cluster,
        cast(mean_rank as {{ cible.type_double() }}) as mean_rank,

        ---------- booleans
        cast(is_eligible as {{ dbt.type_boolean() }}) as is_eligible,
        cast(is_selected as {{ dbt.type_boolean() }}) as is_selected

    from source

)

select * from renamed
