{# Written by the segmentation step (ml/segmentation); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('segmentation', 'segment_quality') }}

),

renamed as (

    select
        ---------- ids
        cast(run_id as {{ dbt.type_string() }}) as run_id,

        ---------- numerics
        cast(silhouette as {{ cible.type_double() }}) as silhouette,
        cast(silhouette_sample_size as {{ dbt.type_int() }}) as silhouette_sample_size,
        cast(davies_bouldin as {{ cible.type_double() }}) as davies_bouldin,
        cast(calinski_harabasz as {{ cible.type_double() }}) as calinski_harabasz,
        cast(bootstrap_ari_mean as {{ cible.type_double() }}) as bootstrap_ari_mean,
        cast(bootstrap_ari_min as {{ cible.type_double() }}) as bootstrap_ari_min,
        cast(bootstrap_resamples as {{ dbt.type_int() }}) as bootstrap_resamples,
        cast(temporal_ari as {{ cible.type_double() }}) as temporal_ari,
        cast(temporal_keep_share as {{ cible.type_double() }}) as temporal_keep_share,
        cast(temporal_keep_share_all as {{ cible.type_double() }}) as temporal_keep_share_all,
        cast(shared_customers as {{ dbt.type_int() }}) as shared_customers,
        cast(segments as {{ dbt.type_int() }}) as segments,
        cast(smallest_segment_customers as {{ dbt.type_int() }}) as smallest_segment_customers,
        cast(largest_segment_customers as {{ dbt.type_int() }}) as largest_segment_customers,
        cast(min_segment_size as {{ dbt.type_int() }}) as min_segment_size,
        cast(noise_share as {{ cible.type_double() }}) as noise_share,
        cast(silhouette_floor as {{ cible.type_double() }}) as silhouette_floor,
        cast(bootstrap_ari_floor as {{ cible.type_double() }}) as bootstrap_ari_floor,
        cast(temporal_keep_share_floor as {{ cible.type_double() }}) as temporal_keep_share_floor,

        ---------- booleans
        cast(passed_silhouette_gate as {{ dbt.type_boolean() }}) as passed_silhouette_gate,
        cast(passed_size_gate as {{ dbt.type_boolean() }}) as passed_size_gate,
        cast(passed_stability_gate as {{ dbt.type_boolean() }}) as passed_stability_gate

    from source

)

select * from renamed
