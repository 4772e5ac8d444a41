{#
    One row per (classifier version, model family searched): the family's best candidate by
    cross-validation, its hold-out AUC-ROC, PR-AUC and Brier score before calibration, its
    fit and search times, and whether the version was built from it; with the version's
    target, status and training time, so a reviewer sees what the chosen family beat, and by
    how much. The hold-out figures report; the choice is the cross-validated one.
#}

{%- set double = cible.type_double() %}

with

model_leaderboard as (

    select * from {{ ref('stg_scoring__model_leaderboard') }}

),

model_registry as (

    select * from {{ ref('stg_scoring__model_registry') }}

),

final as (

    select
        model_leaderboard.model_version,
        model_leaderboard.target,
        model_leaderboard.family,
        cast(model_leaderboard.rank as {{ dbt.type_int() }}) as leaderboard_rank,
        model_leaderboard.is_chosen,
        model_registry.status,
        model_registry.is_current,
        model_registry.trained_at,
        model_leaderboard.cv_metric,
        cast(model_leaderboard.cv_score as {{ double }}) as cv_score,
        cast(model_leaderboard.cv_std as {{ double }}) as cv_std,
        cast(model_leaderboard.candidates as {{ dbt.type_int() }}) as candidates,
        cast(model_leaderboard.holdout_auc_roc as {{ double }}) as holdout_auc_roc,
        cast(model_leaderboard.holdout_pr_auc as {{ double }}) as holdout_pr_auc,
        cast(model_leaderboard.holdout_brier as {{ double }}) as holdout_brier,
        cast(model_leaderboard.fit_seconds as {{ double }}) as fit_seconds,
        cast(model_leaderboard.search_seconds as {{ double }}) as search_seconds,
        model_leaderboard.params

    from model_leaderboard
    inner join model_registry
        on model_leaderboard.model_version = model_registry.model_version

)

select * from final
