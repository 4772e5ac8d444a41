{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'model_registry') }}

),

renamed as (

    select
        ---------- ids
        cast(model_version as {{ dbt.type_string() }}) as model_version,

        ---------- properties
        cast(target as {{ dbt.type_string() }}) as target,
        cast(target_kind as {{ dbt.type_string() }}) as target_kind,
        cast(model_family as {{ dbt.type_string() }}) as model_family,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(training_data_fingerprint as {{ dbt.type_string() }}) as training_data_fingerprint,
        cast(code_version as {{ dbt.type_string() }}) as code_version,
        cast(artefact_path as {{ dbt.type_string() }}) as artefact_path,
        cast(gate_failures as {{ dbt.type_string() }}) as gate_failures,
        cast(status_reason as {{ dbt.type_string() }}) as status_reason,

        ---------- booleans
        cast(is_current as {{ dbt.type_boolean() }}) as is_current,
        cast(gates_passed as {{ dbt.type_boolean() }}) as gates_passed,

        ---------- numerics
        cast(horizon_days as {{ dbt.type_int() }}) as horizon_days,
        cast(training_rows as {{ dbt.type_bigint() }}) as training_rows,
        cast(positive_labels as {{ dbt.type_bigint() }}) as positive_labels,

        ---------- timestamps
        cast(trained_at as {{ dbt.type_timestamp() }}) as trained_at,
        cast(training_cutoff_at as {{ dbt.type_timestamp() }}) as training_cutoff_at,
        cast(promoted_at as {{ dbt.type_timestamp() }}) as promoted_at,
        cast(status_changed_at as {{ dbt.type_timestamp() }}) as status_changed_at

    from source

)

select * from renamed
