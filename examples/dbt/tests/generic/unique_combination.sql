-- Fails for every combination of the columns that occurs more than once
-- (what dbt_utils.unique_combination_of_columns does, without the package).
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
