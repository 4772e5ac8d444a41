{#
    One row per scoring run and target: the PSI of the score, the worst feature PSI and its
    feature, how many features warn or block, and the overall status of the run for that
    target (the worst of its rows). Follows drift across runs.
#}

with

feature_drift as (

    select * from {{ ref('stg_scoring__feature_drift') }}

),

ranked_features as (

    select
        scoring_run_id,
        target,
        name,
        psi,
        row_number() over (
            partition by scoring_run_id, target
            order by psi desc, name asc
        ) as drift_rank

    from feature_drift
    where kind = 'feature'

),

most_drifted_features as (

    select
        scoring_run_id,
        target,
        name as most_drifted_feature,
        psi as max_feature_psi

    from ranked_features
    where drift_rank = 1

),

runs as (

    select
        scoring_run_id,
        target,
        max(model_version) as model_version,
        max(measured_at) as measured_at,
        max(case when kind = 'score' then psi end) as score_psi,
        sum(case when kind = 'feature' and status = 'warn' then 1 else 0 end) as features_warning,
        sum(case when kind = 'feature' and status = 'block' then 1 else 0 end) as features_blocking,
        sum(case when kind = 'feature' then 1 else 0 end) as features_measured,
        max(case when status = 'block' then 2 when status = 'warn' then 1 else 0 end) as worst_level,
        max(psi_warn) as psi_warn,
        max(psi_block) as psi_block

    from feature_drift
    group by scoring_run_id, target

),

final as (

    select
        runs.scoring_run_id,
        runs.target,
        runs.model_version,
        runs.measured_at,
        cast(runs.score_psi as {{ cible.type_double() }}) as score_psi,
        cast(most_drifted_features.max_feature_psi as {{ cible.type_double() }}) as max_feature_psi,
        most_drifted_features.most_drifted_feature,
        cast(runs.features_measured as {{ dbt.type_int() }}) as features_measured,
        cast(runs.features_warning as {{ dbt.type_int() }}) as features_warning,
        cast(runs.features_blocking as {{ dbt.type_int() }}) as features_blocking,
        case runs.worst_level when 2 then 'block' when 1 then 'warn' else 'ok' end as drift_status,
        cast(runs.psi_warn as {{ cible.type_double() }}) as psi_warn,
        cast(runs.psi_block as {{ cible.type_double() }}) as psi_block

    from runs
    left join most_drifted_features
        on runs.scoring_run_id = most_drifted_features.scoring_run_id
        and runs.target = most_drifted_features.target

)

select * from final
