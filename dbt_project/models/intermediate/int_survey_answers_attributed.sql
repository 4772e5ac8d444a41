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

attributed as (

    {#- The earliest receipt: an answer is given once; later copies re-export it. #}
    {{ cible.dedupe_and_attach('answers', key='answer_id', keep='earliest') }}

),

final as (

    select
        attributed.answer_id,
        attributed.customer_number,
        attributed.customer_id,
        attributed.is_unknown_customer,
        attributed.survey_id,
        attributed.question_code,
        questions.interest,
        attributed.answer_value,
        attributed.answered_at,
        attributed.source_file,
        attributed.source_line

    from attributed
    inner join questions
        on attributed.question_code = questions.question_code

)

select * from final
