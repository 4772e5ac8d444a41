{# Valid survey answers, one per answer id, with the resolved customer and the interest measured. #}

with

answers as (

    select * from {{ ref('stg_surveys__survey_answers') }}
    where is_valid

),

questions as (

    select question_code, interest from {{ ref('survey_questions') }}

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by answer_id
            order by loaded_at asc, source_file asc, source_line asc
        ) as receipt_rank

    from answers

),

final as (

    select
        ranked.answer_id,
        ranked.customer_number,
        identities.customer_id,
        identities.customer_number is null as is_unknown_customer,
        ranked.survey_id,
        ranked.question_code,
        questions.interest,
        ranked.answer_value,
        ranked.answered_at,
        ranked.source_file,
        ranked.source_line

    from ranked
    inner join questions
        on ranked.question_code = questions.question_code
    left join identities
        on ranked.customer_number = identities.customer_number
    where ranked.receipt_rank = 1

)

select * from final
