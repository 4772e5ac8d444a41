{# Written by the segmentation step (ml/segmentation); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('segmentation', 'segment_runs') }}

),

renamed as (

    select
        ---------- ids
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(previous_run_id as {{ dbt.type_string() }}) as previous_run_id,

        ---------- properties
        cast(algorithm as {{ dbt.type_string() }}) as algorithm,
        cast(model_version as {{ dbt.type_string() }}) as model_version,
        cast(model_path as {{ dbt.type_string() }}) as model_path,
        cast(model_sha256 as {{ dbt.type_string() }}) as model_sha256,
        cast(config_fingerprint as {{ dbt.type_string() }}) as config_fingerprint,
        cast(retired_segment_ids as {{ dbt.type_string() }}) as retired_segment_ids,
        cast(failed_gates as {{ dbt.type_string() }}) as failed_gates,

        ---------- numerics
        cast(n_clusters as {{ dbt.type_int() }}) as n_clusters,
        cast(customers as {{ dbt.type_int() }}) as customers,
        cast(clustered_customers as {{ dbt.type_int() }}) as clustered_customers,
        cast(excluded_customers as {{ dbt.type_int() }}) as excluded_customers,
        cast(noise_customers as {{ dbt.type_int() }}) as noise_customers,
        cast(fit_sample_size as {{ dbt.type_int() }}) as fit_sample_size,

        ---------- booleans
        cast(is_refit as {{ dbt.type_boolean() }}) as is_refit,
        cast(is_published as {{ dbt.type_boolean() }}) as is_published,

        ---------- timestamps
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(finished_at as {{ dbt.type_timestamp() }}) as finished_at,
        cast(as_of_at as {{ dbt.type_timestamp() }}) as as_of_at

    from source

)

select * from renamed
