{#
    What customers declared (survey interests, 1 to 5) and what data partners say about them,
    as known before the as-of date: the latest answer per interest and the latest value per
    attribute win.
#}

with

feature_window as (

    select * from {{ ref('int_feature_window') }}

),

answers as (

    select
        answers.*,
        row_number() over (
            partition by answers.customer_id, answers.interest
            order by answers.answered_at desc nulls last, answers.answer_id desc
        ) as answer_rank

    from {{ ref('int_survey_answers_attributed') }} as answers
    cross join feature_window
    where not answers.is_unknown_customer
        and coalesce(answers.answered_at, feature_window.as_of_at) <= feature_window.as_of_at

),

interests as (

    select
        customer_id,
        {%- for interest in var('survey_interests') %}
        max(case when interest = '{{ interest }}' then answer_value end) as interest_{{ interest }},
        {%- endfor %}
        max(answered_at) as last_survey_answer_at

    from answers
    where answer_rank = 1
    group by customer_id

),

attributes as (

    select
        attributes.*,
        row_number() over (
            partition by attributes.customer_id, attributes.attribute
            order by attributes.fetched_at desc nulls last, attributes.enrichment_id desc
        ) as attribute_rank

    from {{ ref('int_partner_attributes_attributed') }} as attributes
    cross join feature_window
    where not attributes.is_unknown_customer
        and coalesce(attributes.fetched_at, feature_window.as_of_at) <= feature_window.as_of_at

),

partner as (

    select
        customer_id,
        max(case when attribute = 'income_band' then {{ cible.parse_integer('attribute_value') }} end)
            as partner_income_band,
        max(case when attribute = 'is_property_owner' then lower(attribute_value) = 'true' end)
            as partner_is_property_owner,
        max(case when attribute = 'has_children' then lower(attribute_value) = 'true' end)
            as partner_has_children,
        max(case when attribute = 'luxury_affinity' then {{ cible.parse_integer('attribute_value') }} end)
            as partner_luxury_affinity

    from attributes
    where attribute_rank = 1
    group by customer_id

),

customers as (

    select customer_id from interests
    union
    select customer_id from partner

),

final as (

    select
        customers.customer_id,
        {%- for interest in var('survey_interests') %}
        interests.interest_{{ interest }},
        {%- endfor %}
        interests.last_survey_answer_at,
        partner.partner_income_band,
        partner.partner_is_property_owner,
        partner.partner_has_children,
        partner.partner_luxury_affinity

    from customers
    left join interests
        on customers.customer_id = interests.customer_id
    left join partner
        on customers.customer_id = partner.customer_id

)

select * from final
