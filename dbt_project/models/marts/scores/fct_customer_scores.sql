{#
    One row per customer of the latest scoring run: each classifier's calibrated probability,
    its decile and the model version that produced it, and the customer's lifetime value.
    A target that was not scored (no promoted model, or churn for a customer who is not
    active) is null. History of earlier runs stays in `stg_scoring__customer_scores`.
#}

{%- set targets = ['purchase_30d', 'purchase_90d', 'campaign_response', 'churn_risk'] %}

with

customer_scores as (

    select * from {{ ref('stg_scoring__customer_scores') }}

),

customer_lifetime_values as (

    select * from {{ ref('stg_scoring__customer_lifetime_values') }}

),

latest_score_run as (

    select max(scored_at) as scored_at from customer_scores

),

latest_value_run as (

    select max(scored_at) as scored_at from customer_lifetime_values

),

scores_of_latest_run as (

    select customer_scores.*
    from customer_scores
    inner join latest_score_run
        on customer_scores.scored_at = latest_score_run.scored_at

),

values_of_latest_run as (

    select customer_lifetime_values.*
    from customer_lifetime_values
    inner join latest_value_run
        on customer_lifetime_values.scored_at = latest_value_run.scored_at

),

scores_by_customer as (

    select
        customer_id,
        max(scoring_run_id) as scoring_run_id,
        max(scored_at) as scored_at,
        max(as_of_at) as as_of_at,
        {%- for target in targets %}
        max(case when target = '{{ target }}' then score end) as {{ target }}_score,
        max(case when target = '{{ target }}' then score_decile end) as {{ target }}_decile,
        max(case when target = '{{ target }}' then model_version end) as {{ target }}_model_version
        {{- "," if not loop.last }}
        {%- endfor %}

    from scores_of_latest_run
    group by customer_id

),

{#-
    Consent is read again here: a run that published nothing (its drift blocked) leaves the
    previous run's scores, and a customer who withdrew since must leave them at this run.
#}
profiling_allowed as (

    select customer_id
    from {{ ref('fct_customer_consents') }}
    where purpose = 'profiling' and is_allowed

),

scored as (

    select customer_id from scores_by_customer
    union
    select customer_id from values_of_latest_run

),

customers as (

    select scored.customer_id
    from scored
    inner join profiling_allowed on scored.customer_id = profiling_allowed.customer_id

),

final as (

    select
        customers.customer_id,
        coalesce(scores_by_customer.scoring_run_id, values_of_latest_run.scoring_run_id)
            as scoring_run_id,
        coalesce(scores_by_customer.scored_at, values_of_latest_run.scored_at) as scored_at,
        coalesce(scores_by_customer.as_of_at, values_of_latest_run.as_of_at) as as_of_at,
        {%- for target in targets %}
        cast(scores_by_customer.{{ target }}_score as {{ cible.type_double() }}) as {{ target }}_score,
        cast(scores_by_customer.{{ target }}_decile as {{ dbt.type_int() }}) as {{ target }}_decile,
        scores_by_customer.{{ target }}_model_version,
        {%- endfor %}
        cast(values_of_latest_run.expected_purchases as {{ cible.type_double() }}) as expected_purchases,
        cast(values_of_latest_run.probability_alive as {{ cible.type_double() }}) as probability_alive,
        cast(values_of_latest_run.expected_order_value_eur as {{ cible.type_double() }})
            as expected_order_value_eur,
        cast(values_of_latest_run.lifetime_value_eur as {{ cible.type_double() }}) as lifetime_value_eur,
        cast(values_of_latest_run.lifetime_value_decile as {{ dbt.type_int() }}) as lifetime_value_decile,
        values_of_latest_run.model_version as lifetime_value_model_version,
        cast(values_of_latest_run.horizon_days as {{ dbt.type_int() }}) as lifetime_value_horizon_days

    from customers
    left join scores_by_customer
        on customers.customer_id = scores_by_customer.customer_id
    left join values_of_latest_run
        on customers.customer_id = values_of_latest_run.customer_id

)

select * from final
