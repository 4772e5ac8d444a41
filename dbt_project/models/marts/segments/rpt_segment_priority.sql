{#
    The priority grid of the current run's segments (noise aside). Five criteria, each scored
    1 to 5 against the ascending thresholds of the `priority_grid_thresholds` seed (a value at
    or above threshold_4 scores 5, ..., below threshold_1 scores 1; a missing value scores 1):

    - size: share of the customer base in the segment;
    - expected_conversion: campaign conversion rate (0 without campaigns);
    - profitability: revenue per customer over 12 months, euros;
    - data_accessibility: mean of profile completeness and marketing consent rate;
    - strategic_fit: declared in config/segmentation.yml (1 to 5).

    The priority score is the mean of the scores weighted by the `priority_grid_weights` seed
    (6 decimals); the rank orders segments by score, then size. Segments under the run's minimum size are
    flagged, not hidden.
#}

with

segments as (

    select * from {{ ref('dim_segments') }}
    where is_active
        and segment_kind <> 'noise'

),

weights as (

    select * from {{ ref('priority_grid_weights') }}

),

thresholds as (

    select * from {{ ref('priority_grid_thresholds') }}

),

criteria as (

    select segment_id, 'size' as criterion, customer_share as criterion_value
    from segments

    union all

    select segment_id, 'expected_conversion' as criterion,
        coalesce(campaign_conversion_rate, 0) as criterion_value
    from segments

    union all

    select segment_id, 'profitability' as criterion, revenue_per_customer_eur as criterion_value
    from segments

    union all

    select segment_id, 'data_accessibility' as criterion,
        (profile_completeness + marketing_consent_rate) / 2 as criterion_value
    from segments

    union all

    select segment_id, 'strategic_fit' as criterion,
        cast(strategic_fit as {{ cible.type_double() }}) as criterion_value
    from segments

),

scored as (

    select
        criteria.segment_id,
        criteria.criterion,
        criteria.criterion_value,
        cast(weights.weight as {{ cible.type_double() }}) as weight,
        case
            when criteria.criterion_value is null then 1
            when criteria.criterion_value >= thresholds.threshold_4 then 5
            when criteria.criterion_value >= thresholds.threshold_3 then 4
            when criteria.criterion_value >= thresholds.threshold_2 then 3
            when criteria.criterion_value >= thresholds.threshold_1 then 2
            else 1
        end as score

    from criteria
    inner join weights
        on criteria.criterion = weights.criterion
    inner join thresholds
        on criteria.criterion = thresholds.criterion

),

pivoted as (

    select
        segment_id,
        {%- for criterion in ['size', 'expected_conversion', 'profitability', 'data_accessibility', 'strategic_fit'] %}
        max(case when criterion = '{{ criterion }}' then criterion_value end) as {{ criterion }}_value,
        cast(max(case when criterion = '{{ criterion }}' then score end) as {{ dbt.type_int() }})
            as {{ criterion }}_score,
        {%- endfor %}
        -- Rounded: a floating sum's last bits depend on the order rows reach it, which a
        -- parallel aggregate does not fix; equal grids must tie (and rank by size) every run.
        round({{ cible.safe_divide('sum(weight * score)', 'sum(weight)') }}, 6) as priority_score

    from scored
    group by segment_id

),

final as (

    select
        segments.segment_id,
        segments.segment_kind,
        segments.rule_group,
        segments.name_en,
        segments.name_fr,
        segments.customers,
        pivoted.size_value,
        pivoted.size_score,
        pivoted.expected_conversion_value,
        pivoted.expected_conversion_score,
        pivoted.profitability_value,
        pivoted.profitability_score,
        pivoted.data_accessibility_value,
        pivoted.data_accessibility_score,
        pivoted.strategic_fit_value,
        pivoted.strategic_fit_score,
        pivoted.priority_score,
        cast(
            row_number() over (
                order by pivoted.priority_score desc, segments.customers desc, segments.segment_id asc
            ) as {{ dbt.type_int() }}
        ) as priority_rank,
        segments.is_below_minimum_size,
        segments.last_run_id as run_id

    from segments
    inner join pivoted
        on segments.segment_id = pivoted.segment_id

)

select * from final
