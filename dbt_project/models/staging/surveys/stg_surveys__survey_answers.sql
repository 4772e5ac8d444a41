with

source as (

    select * from {{ source('surveys', 'survey_answers') }}

),

survey_questions as (

    select question_code from {{ ref('survey_questions') }}

),

renamed as (

    select
        ---------- ids
        {{ cible.clean_text('answer_id') }} as answer_id,
        {{ cible.clean_text('customer_number') }} as customer_number,
        {{ cible.clean_text('survey_id') }} as survey_id,

        ---------- properties
        lower({{ cible.clean_text('question_code') }}) as question_code,

        ---------- numerics
        {{ cible.parse_integer('answer_value') }} as answer_value,

        ---------- timestamps
        {{ cible.parse_timestamp('answered_at') }} as answered_at,

        ---------- what the source said
        {{ cible.text_to_parse('answer_value') }} as source_answer_value,
        {{ cible.text_to_parse('answered_at') }} as source_answered_at,
        {{ cible.raw_payload('surveys', 'survey_answers') }} as raw_payload,

        ---------- load metadata
        {{ cible.load_metadata() }}

    from source

),

validated as (

    select
        *,
        case
            when answer_id is null or customer_number is null or question_code is null
                then 'missing_required_value'
            when {{ cible.failed_to_parse('source_answer_value', 'answer_value') }} then 'unparseable_number'
            when answer_value is null then 'missing_required_value'
            when answer_value < 1 or answer_value > 5 then 'out_of_range'
            when question_code not in (select question_code from survey_questions) then 'unknown_value'
            when {{ cible.failed_to_parse('source_answered_at', 'answered_at') }} then 'unparseable_timestamp'
            when {{ cible.is_in_future('answered_at') }} then 'future_timestamp'
            when {{ cible.is_before_earliest_date('answered_at', 'survey_answers.answered_at') }} then 'before_earliest_date'
        end as invalid_reason

    from renamed

),

final as (

    select
        answer_id,
        customer_number,
        survey_id,
        question_code,
        answer_value,
        answered_at,
        invalid_reason is null as is_valid,
        invalid_reason,
        raw_payload,
        source_file,
        source_line,
        loaded_at,
        load_id

    from validated

)

select * from final
