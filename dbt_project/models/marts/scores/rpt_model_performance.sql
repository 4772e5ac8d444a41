{#
    One row per model version: its status in the registry, its hold-out figures (AUC-ROC,
    PR-AUC, F1 at the chosen threshold, Brier before and after calibration, calibration error,
    lift of the top decile), the online model's AUC beside the batch model's, lifetime value's
    holdout error, and the feature that mattered most. What a reviewer reads before trusting
    a score. A lifetime-value version names the model behind its expected purchases (and
    lifetime value) and the one behind P(alive), read from its family
    (`<purchases>_gamma_gamma[+<model>_alive]`, ml/scoring/lifetime_value.py); versions from
    before issue #17 (`bg_nbd_gamma_gamma`) took both from BG/NBD. A target a training run
    skipped (the data cannot train it) has a row too, status `skipped`, with the reason in
    `gate_failures`.
#}

{%- set double = cible.type_double() %}
{%- set test_metrics = ['auc_roc', 'pr_auc', 'f1', 'threshold', 'brier', 'brier_uncalibrated',
                        'calibration_error', 'top_decile_lift', 'positive_rate'] %}

with

model_registry as (

    select * from {{ ref('stg_scoring__model_registry') }}

),

model_metrics as (

    select * from {{ ref('stg_scoring__model_metrics') }}

),

feature_importances as (

    select * from {{ ref('stg_scoring__feature_importances') }}

),

training_skips as (

    select * from {{ ref('stg_scoring__training_skips') }}

),

metrics_by_version as (

    select
        model_version,
        {%- for metric in test_metrics %}
        max(case when dataset = 'test' and metric = '{{ metric }}' then value end) as {{ metric }},
        {%- endfor %}
        max(case when dataset = 'online' and metric = 'online_auc_roc' then value end)
            as online_auc_roc,
        max(case when dataset = 'holdout' and metric = 'holdout_purchase_error' then value end)
            as holdout_purchase_error,
        max(case when dataset = 'holdout' and metric = 'holdout_purchase_correlation' then value end)
            as holdout_purchase_correlation,
        max(case when dataset = 'holdout' and metric = 'probability_alive_auc' then value end)
            as probability_alive_auc

    from model_metrics
    group by model_version

),

lifetime_value_models as (

    select
        model_version,
        case when model_family like 'mbg_nbd%' then 'mbg_nbd' else 'bg_nbd' end
            as expected_purchases_model,
        case
            when model_family like 'mbg_nbd%' or model_family like '%+mbg_nbd_alive' then 'mbg_nbd'
            else 'bg_nbd'
        end as probability_alive_model

    from model_registry
    where target_kind = 'lifetime_value'

),

top_features as (

    select
        model_version,
        max(feature) as top_feature,
        max(importance_mean) as top_feature_importance

    from feature_importances
    where importance_rank = 1
    group by model_version

),

final as (

    select
        model_registry.model_version,
        model_registry.target,
        model_registry.target_kind,
        model_registry.model_family,
        model_registry.status,
        model_registry.is_current,
        model_registry.gates_passed,
        model_registry.gate_failures,
        model_registry.trained_at,
        model_registry.training_cutoff_at,
        model_registry.promoted_at,
        model_registry.horizon_days,
        model_registry.training_rows,
        model_registry.positive_labels,
        {%- for metric in test_metrics %}
        cast(metrics_by_version.{{ metric }} as {{ double }}) as {{ metric }},
        {%- endfor %}
        cast(metrics_by_version.online_auc_roc as {{ double }}) as online_auc_roc,
        cast(metrics_by_version.holdout_purchase_error as {{ double }}) as holdout_purchase_error,
        cast(metrics_by_version.holdout_purchase_correlation as {{ double }})
            as holdout_purchase_correlation,
        lifetime_value_models.expected_purchases_model,
        lifetime_value_models.probability_alive_model,
        cast(metrics_by_version.probability_alive_auc as {{ double }}) as probability_alive_auc,
        top_features.top_feature,
        cast(top_features.top_feature_importance as {{ double }}) as top_feature_importance,
        model_registry.code_version,
        model_registry.training_data_fingerprint

    from model_registry
    left join metrics_by_version
        on model_registry.model_version = metrics_by_version.model_version
    left join lifetime_value_models
        on model_registry.model_version = lifetime_value_models.model_version
    left join top_features
        on model_registry.model_version = top_features.model_version

),

skipped as (

    select
        {{ dbt.concat(["'skipped:'", 'target', "':'", 'cast(skipped_at as ' ~ dbt.type_string() ~ ')']) }}
            as model_version,
        target,
        cast(null as {{ dbt.type_string() }}) as target_kind,
        cast(null as {{ dbt.type_string() }}) as model_family,
        'skipped' as status,
        false as is_current,
        false as gates_passed,
        reason as gate_failures,
        skipped_at as trained_at,
        cast(null as {{ dbt.type_timestamp() }}) as training_cutoff_at,
        cast(null as {{ dbt.type_timestamp() }}) as promoted_at,
        cast(null as {{ dbt.type_int() }}) as horizon_days,
        cast(null as {{ dbt.type_bigint() }}) as training_rows,
        cast(null as {{ dbt.type_bigint() }}) as positive_labels,
        {%- for metric in test_metrics %}
        cast(null as {{ double }}) as {{ metric }},
        {%- endfor %}
        cast(null as {{ double }}) as online_auc_roc,
        cast(null as {{ double }}) as holdout_purchase_error,
        cast(null as {{ double }}) as holdout_purchase_correlation,
        cast(null as {{ dbt.type_string() }}) as expected_purchases_model,
        cast(null as {{ dbt.type_string() }}) as probability_alive_model,
        cast(null as {{ double }}) as probability_alive_auc,
        cast(null as {{ dbt.type_string() }}) as top_feature,
        cast(null as {{ double }}) as top_feature_importance,
        cast(null as {{ dbt.type_string() }}) as code_version,
        cast(null as {{ dbt.type_string() }}) as training_data_fingerprint

    from training_skips

)

select * from final
union all
select * from skipped
