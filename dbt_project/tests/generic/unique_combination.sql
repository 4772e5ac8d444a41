{% test unique_combination(model, columns) %}
    {#- Combinations of `columns` held by more than one row. -#}
    select {{ columns | join(', ') }}, count(*) as rows_with_key
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
