-- Fails when any of normalize's quality checks (of one category, or all)
-- fails: the checks' own thresholds, from normalize.quality_thresholds,
-- decide. The failing rows are the failing checks.
{% test normalize_quality_checks(model, category=none) %}
select q.category, q.entity, q.check_name, q.observed, q.threshold, q.failing_rows, q.detail
from normalize.quality_checks() as q
where q.status = 'fail'
{% if category %}
  and q.category = '{{ category }}'
{% endif %}
{% endtest %}
