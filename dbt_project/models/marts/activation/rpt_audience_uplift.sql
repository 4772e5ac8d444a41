{#
    One row per audience export whose window has data: conversion of the treated customers
    against the holdout (the control group never exported) in the `uplift_window_days` after
    the export's `as_of_at`. A conversion is an order or a campaign `conversion` event.

    Difference of proportions with a Wald 95% interval. Too-small comparisons (fewer than
    `uplift_min_per_arm` customers in an arm, or fewer than `uplift_min_expected_conversions`
    expected conversions in an arm at the pooled rate) are flagged and never significant.
#}

with

audience_exports as (

    select * from {{ ref('stg_activation__audience_exports') }}
    where status <> 'failed'

),

audience_members as (

    select * from {{ ref('stg_activation__audience_members') }}

),

conversions as (

    select customer_id, ordered_at as converted_at
    from {{ ref('fct_orders') }}
    where customer_id is not null

    union all

    select customer_id, occurred_at as converted_at
    from {{ ref('fct_campaign_events') }}
    where event_type = 'conversion' and customer_id is not null

),

data_end as (

    select max(converted_at) as data_end_at from conversions

),

windows as (

    select
        audience_exports.*,
        {{ dbt.dateadd('day', 'audience_exports.uplift_window_days', 'audience_exports.as_of_at') }}
            as window_end_at,
        data_end.data_end_at

    from audience_exports
    cross join data_end
    where data_end.data_end_at > audience_exports.as_of_at

),

member_conversions as (

    select
        windows.export_id,
        audience_members.customer_id,
        audience_members.arm,
        max(case when conversions.customer_id is not null then 1 else 0 end) as has_converted

    from windows
    inner join audience_members
        on audience_members.export_id = windows.export_id
    left join conversions
        on conversions.customer_id = audience_members.customer_id
        and conversions.converted_at > windows.as_of_at
        and conversions.converted_at <= windows.window_end_at
    group by windows.export_id, audience_members.customer_id, audience_members.arm

),

arms as (

    select
        export_id,
        sum(case when arm = 'treated' then 1 else 0 end) as treated_n,
        sum(case when arm = 'holdout' then 1 else 0 end) as holdout_n,
        sum(case when arm = 'treated' then has_converted else 0 end) as treated_conversions,
        sum(case when arm = 'holdout' then has_converted else 0 end) as holdout_conversions

    from member_conversions
    group by export_id

),

rates as (

    select
        windows.audience,
        windows.export_id,
        windows.exported_at,
        windows.as_of_at,
        windows.uplift_window_days as window_days,
        least(
            windows.uplift_window_days,
            {{ dbt.datediff('windows.as_of_at', 'windows.data_end_at', 'day') }}
        ) as observed_days,
        windows.uplift_min_per_arm,
        windows.uplift_min_expected_conversions,
        arms.treated_n,
        arms.holdout_n,
        arms.treated_conversions,
        arms.holdout_conversions,
        case when arms.treated_n > 0
            then cast(arms.treated_conversions as {{ cible.type_double() }}) / arms.treated_n
        end as treated_rate,
        case when arms.holdout_n > 0
            then cast(arms.holdout_conversions as {{ cible.type_double() }}) / arms.holdout_n
        end as holdout_rate,
        case when arms.treated_n + arms.holdout_n > 0
            then cast(arms.treated_conversions + arms.holdout_conversions as {{ cible.type_double() }})
                / (arms.treated_n + arms.holdout_n)
        end as pooled_rate

    from windows
    inner join arms on arms.export_id = windows.export_id

),

intervals as (

    select
        rates.*,
        treated_rate - holdout_rate as uplift,
        sqrt(
            treated_rate * (1 - treated_rate) / treated_n
            + holdout_rate * (1 - holdout_rate) / holdout_n
        ) as standard_error,
        treated_n < uplift_min_per_arm
            or holdout_n < uplift_min_per_arm
            or coalesce(pooled_rate, 0) * treated_n < uplift_min_expected_conversions
            or coalesce(pooled_rate, 0) * holdout_n < uplift_min_expected_conversions
            as is_too_small

    from rates
    where treated_n > 0 and holdout_n > 0

)

select
    audience,
    export_id,
    exported_at,
    as_of_at,
    window_days,
    observed_days,
    treated_n,
    holdout_n,
    treated_conversions,
    holdout_conversions,
    treated_rate,
    holdout_rate,
    uplift,
    uplift - 1.959964 * standard_error as ci_low,
    uplift + 1.959964 * standard_error as ci_high,
    not is_too_small
        and (uplift - 1.959964 * standard_error > 0 or uplift + 1.959964 * standard_error < 0)
        as is_significant,
    is_too_small,
    case
        when is_too_small
            then 'too small to conclude: fewer than ' || cast(uplift_min_per_arm as {{ dbt.type_string() }})
                || ' customers or ' || cast(uplift_min_expected_conversions as {{ dbt.type_string() }})
                || ' expected conversions in an arm'
        when observed_days < window_days
            then 'window open: ' || cast(observed_days as {{ dbt.type_string() }}) || ' of '
                || cast(window_days as {{ dbt.type_string() }}) || ' days observed'
        when uplift - 1.959964 * standard_error > 0 or uplift + 1.959964 * standard_error < 0
            then 'significant at 95%'
        else 'not significant at 95%'
    end as status

from intervals
