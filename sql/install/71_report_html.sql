-- The readiness report as a page people can look at: one self-contained
-- HTML document (inline CSS and SVG, no scripts, no external assets), so it
-- can be mailed, archived or opened from a file.

CREATE FUNCTION @extschema@.html_escape(value text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'),
               '''', '&#39;');
COMMENT ON FUNCTION @extschema@.html_escape(text) IS
    'Text made safe to place in HTML content or a quoted attribute';

-- A histogram of observed counts over equal bins from low to high, with
-- the counts the target distribution expects drawn over it as a line: one
-- expected count per bin, finite, and counts that are counts (checked, or
-- the chart would be drawn misaligned, or with NaN coordinates).
CREATE FUNCTION @extschema@.svg_histogram(title text, low float8, high float8, observed bigint[], expected float8[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (low > '-infinity' AND high < 'infinity' AND low < high) THEN
        RAISE EXCEPTION 'low and high must be finite with low < high, got % and %', low, high
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the range the bins cover.';
    END IF;
    IF array_ndims(observed) > 1 OR array_ndims(expected) > 1 THEN
        RAISE EXCEPTION 'observed and expected must be one-dimensional arrays'
            USING ERRCODE = 'array_subscript_error', HINT = 'Pass one count per bin.';
    END IF;
    IF cardinality(observed) <> cardinality(expected) THEN
        RAISE EXCEPTION 'observed and expected must have the same length, got % and %',
                        cardinality(observed), cardinality(expected)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass one observed and one expected count per bin.';
    END IF;
    IF array_position(observed, NULL) IS NOT NULL OR array_position(expected, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'observed and expected must not contain NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass 0 for an empty bin.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(observed) AS o WHERE o < 0) THEN
        RAISE EXCEPTION 'observed must hold counts of at least 0, got %', (SELECT min(o) FROM unnest(observed) AS o)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the number of values in each bin.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(expected) AS e WHERE NOT (e > '-infinity' AND e < 'infinity')) THEN
        RAISE EXCEPTION 'expected must hold finite numbers'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the count the distribution expects in each bin.';
    END IF;
    RETURN (
    WITH dims AS (
        SELECT cardinality(observed) AS bins,
               greatest(1, (SELECT max(o) FROM unnest(observed) AS o),
                        (SELECT max(e) FROM unnest(expected) AS e)) AS top),
    bars AS (
        SELECT string_agg(format('<rect class="bar" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>',
                                 round((40 + (i - 1) * 300.0 / d.bins)::numeric, 2),
                                 round((170 - 140 * o::float8 / d.top)::numeric, 2),
                                 round((300.0 / d.bins - 1)::numeric, 2),
                                 round((140 * o::float8 / d.top)::numeric, 2),
                                 o || ' observed'), '' ORDER BY i) AS svg
          FROM dims AS d, unnest(observed) WITH ORDINALITY AS b(o, i)),
    curve AS (
        SELECT string_agg(format('%s,%s', round((40 + (i - 0.5) * 300.0 / d.bins)::numeric, 2),
                                 round((170 - 140 * e / d.top)::numeric, 2)), ' ' ORDER BY i) AS points
          FROM dims AS d, unnest(expected) WITH ORDINALITY AS c(e, i))
    SELECT format('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 360 200" width="360" height="200" role="img" aria-label="%1$s">'
                  '<text x="180" y="14" class="title">%1$s</text>'
                  '<line x1="40" y1="170" x2="340" y2="170" class="axis"/>%2$s'
                  '<polyline class="expected" points="%3$s"/>'
                  '<text x="40" y="186" class="tick">%4$s</text><text x="340" y="186" class="tick end">%5$s</text>'
                  '<text x="36" y="34" class="tick end">%6$s</text>'
                  '</svg>',
                  normalize.html_escape(title), bars.svg, curve.points,
                  round(low::numeric, 2), round(high::numeric, 2), round(dims.top::numeric))
      FROM dims, bars, curve);
END
$$;
COMMENT ON FUNCTION @extschema@.svg_histogram(text, float8, float8, bigint[], float8[]) IS
    'Internal: an inline SVG histogram of observed counts with the expected counts as a line, for readiness_report_html';

-- Horizontal bars, one per label, each with an optional band (drawn behind
-- it) and an optional interval (drawn as a whisker). Each series is NULL
-- (not drawn) or holds one value per label, NULL where it has none; a
-- shorter one would shift the bars against their labels.
CREATE FUNCTION @extschema@.svg_bars(title text, labels text[], vals float8[], band_low float8[], band_high float8[],
                                     whisker_low float8[], whisker_high float8[], value_format text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    series record;
BEGIN
    IF value_format IS NULL THEN
        RAISE EXCEPTION 'value_format must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a to_char format for the values, such as ''FM0.000''.';
    END IF;
    IF array_ndims(labels) > 1 THEN
        RAISE EXCEPTION 'labels must be a one-dimensional array, got % dimensions', array_ndims(labels)
            USING ERRCODE = 'array_subscript_error', HINT = 'Pass one label per bar.';
    END IF;
    FOR series IN SELECT * FROM (VALUES ('vals', vals), ('band_low', band_low), ('band_high', band_high),
                                        ('whisker_low', whisker_low), ('whisker_high', whisker_high)) AS v(name, a)
                   WHERE v.a IS NOT NULL LOOP
        IF array_ndims(series.a) > 1 OR coalesce(cardinality(series.a), 0) <> coalesce(cardinality(labels), 0) THEN
            RAISE EXCEPTION '% must hold one value per label (%), got %', series.name, coalesce(cardinality(labels), 0),
                            cardinality(series.a)
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass NULL for a series not drawn, and NULL for a label without a value.';
        END IF;
        IF EXISTS (SELECT 1 FROM unnest(series.a) AS x WHERE NOT (x > '-infinity' AND x < 'infinity')) THEN
            RAISE EXCEPTION '% must hold finite numbers or NULL', series.name
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass NULL for a label without a value.';
        END IF;
    END LOOP;
    RETURN (
    WITH rows AS (
        SELECT i, l, vals[i] AS v, band_low[i] AS bl, band_high[i] AS bh, whisker_low[i] AS wl, whisker_high[i] AS wh
          FROM unnest(labels) WITH ORDINALITY AS x(l, i)),
    dims AS (
        SELECT count(*) AS n,
               greatest(1e-9, max(greatest(coalesce(v, 0), coalesce(bh, 0), coalesce(wh, 0)))) AS top FROM rows),
    marks AS (
        SELECT string_agg(
                   format('<text x="150" y="%1$s" class="label end">%2$s</text>', 36 + (i - 1) * 24, normalize.html_escape(l))
                   || CASE WHEN bl IS NOT NULL AND bh IS NOT NULL THEN
                          format('<rect class="band" x="%s" y="%s" width="%s" height="18"><title>band %s to %s</title></rect>',
                                 round((156 + 300 * bl / d.top)::numeric, 2), 23 + (i - 1) * 24,
                                 round(greatest(1, 300 * (bh - bl) / d.top)::numeric, 2), bl, bh)
                      ELSE '' END
                   || format('<rect class="bar" x="156" y="%s" width="%s" height="12"><title>%s</title></rect>',
                             26 + (i - 1) * 24, round((300 * coalesce(v, 0) / d.top)::numeric, 2),
                             normalize.html_escape(l))
                   || CASE WHEN wl IS NOT NULL AND wh IS NOT NULL THEN
                          format('<line class="whisker" x1="%1$s" x2="%2$s" y1="%3$s" y2="%3$s"/>',
                                 round((156 + 300 * wl / d.top)::numeric, 2), round((156 + 300 * wh / d.top)::numeric, 2),
                                 32 + (i - 1) * 24)
                      ELSE '' END
                   || format('<text x="%s" y="%s" class="value">%s</text>',
                             round((160 + 300 * greatest(coalesce(v, 0), coalesce(wh, 0)) / d.top)::numeric, 2),
                             36 + (i - 1) * 24, CASE WHEN v IS NULL THEN 'n/a' ELSE to_char(v, value_format) END),
                   '' ORDER BY i) AS svg
          FROM rows, dims AS d)
    SELECT format('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 560 %1$s" width="560" height="%1$s" role="img" aria-label="%2$s">'
                  '<text x="8" y="14" class="title start">%2$s</text>%3$s</svg>',
                  30 + dims.n * 24, normalize.html_escape(title), coalesce(marks.svg, ''))
      FROM dims, marks);
END
$$;
COMMENT ON FUNCTION @extschema@.svg_bars(text, text[], float8[], float8[], float8[], float8[], float8[], text) IS
    'Internal: inline SVG horizontal bars with optional bands and intervals, for readiness_report_html';

CREATE FUNCTION @extschema@.readiness_report_html()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    h record;
    metrics text;
    checks text;
    results "normalize".quality_check[];  -- quoted: NORMALIZE is a keyword where a type is expected
    failing text;
    histograms text;
    churn text;
    missing text;
    splits text;
    balance text;
    confidence float8;
BEGIN
    PERFORM normalize.require_sources();
    SELECT * INTO h FROM normalize.history_info;
    -- The checks run once: the metrics and the tables below read them.
    results := ARRAY(SELECT ROW(q.*)::"normalize".quality_check FROM normalize.quality_checks() AS q);
    SELECT string_agg(format('<tr class="%s"><td>%s</td><td>%s</td><td class="num">%s</td><td class="num">%s</td><td>%s</td><td>%s</td></tr>',
                             CASE WHEN r.passed THEN 'pass' ELSE 'fail' END, normalize.html_escape(r.metric),
                             normalize.html_escape(r.target), coalesce(r.before::text, '&mdash;'),
                             coalesce(r.after::text, '&mdash;'), normalize.html_escape(r.unit),
                             CASE WHEN r.passed THEN 'pass' ELSE 'FAIL' END), '')
      INTO metrics FROM normalize.readiness_metrics(results) AS r;
    SELECT string_agg(format('<tr><td>%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>',
                             normalize.html_escape(c.category), c.pass, c.warn, c.fail), '' ORDER BY c.pos)
      INTO checks
      FROM (SELECT q.category, count(*) FILTER (WHERE q.status = 'pass') AS pass,
                   count(*) FILTER (WHERE q.status = 'warn') AS warn, count(*) FILTER (WHERE q.status = 'fail') AS fail,
                   array_position(ARRAY['completeness', 'type consistency', 'distributions', 'temporal', 'labels',
                                        'leakage', 'feature coverage'], q.category) AS pos
              FROM unnest(results) AS q GROUP BY q.category) AS c;
    SELECT string_agg(format('<tr class="%s"><td>%s</td><td>%s</td><td>%s</td><td class="num">%s</td><td>%s</td></tr>',
                             q.status, normalize.html_escape(q.category), normalize.html_escape(q.entity),
                             normalize.html_escape(q.check_name), coalesce(round(q.observed::numeric, 4)::text, '&mdash;'),
                             normalize.html_escape(coalesce(q.detail, ''))), '')
      INTO failing FROM unnest(results) AS q WHERE q.status <> 'pass';

    -- Each repaired column against its profile, by group.
    WITH v AS (
        SELECT p.label, p.profile, p.value AS x FROM normalize.profile_values('normalized') AS p),
    g AS (
        SELECT v.label, p.family, normalize.profile_params(p.family, p.params) AS params,
               coalesce(p.lower, '-infinity') AS lower, coalesce(p.upper, 'infinity') AS upper, count(*) AS n,
               coalesce(p.lower, min(v.x)) AS lo,
               greatest(coalesce(p.upper, max(v.x)), coalesce(p.lower, min(v.x)) + 1e-9) AS hi
          FROM v JOIN normalize.distribution_profiles AS p ON p.name = v.profile
         GROUP BY v.label, p.family, p.params, p.lower, p.upper),
    obs AS (
        SELECT v.label, least(greatest(width_bucket(v.x, g.lo, g.hi, 20), 1), 20) AS i, count(*) AS c
          FROM v JOIN g USING (label) GROUP BY 1, 2),
    bins AS (
        SELECT g.label, g.lo, g.hi, b.i, coalesce(o.c, 0) AS c,
               g.n * (normalize.distribution_cdf(g.lo + (g.hi - g.lo) * b.i / 20, g.family, g.params, g.lower, g.upper)
                      - normalize.distribution_cdf(g.lo + (g.hi - g.lo) * (b.i - 1) / 20, g.family, g.params, g.lower, g.upper))
                   AS e
          FROM g CROSS JOIN generate_series(1, 20) AS b(i)
          LEFT JOIN obs AS o ON o.label = g.label AND o.i = b.i)
    SELECT string_agg(s.svg, '' ORDER BY s.label) INTO histograms
      FROM (SELECT b.label, normalize.svg_histogram(b.label, b.lo, b.hi, array_agg(b.c ORDER BY b.i),
                                                    array_agg(b.e ORDER BY b.i)) AS svg
              FROM bins AS b GROUP BY b.label, b.lo, b.hi) AS s;

    SELECT t.threshold INTO confidence FROM normalize.quality_thresholds AS t
     WHERE t.check_name = 'annual churn within the band';
    SELECT normalize.svg_bars(format('Annual churn by tier (accounts): simulated, its %s%% interval, the plan''s band',
                                     round(100 * confidence::numeric, 1)),
                              array_agg(c.tier || ' (' || c.accounts || ')' ORDER BY c.tier),
                              array_agg(c.rate ORDER BY c.tier), array_agg(c.band_low ORDER BY c.tier),
                              array_agg(c.band_high ORDER BY c.tier), array_agg(c.low ORDER BY c.tier),
                              array_agg(c.high ORDER BY c.tier), 'FM0.000')
      INTO churn FROM normalize.annual_churn_by_tier(coalesce(confidence, 0.99)) AS c;

    SELECT normalize.svg_bars('Missing values per feature family: share of stored values that are NULL',
                              array_agg(m.entity || ' ' || m.family ORDER BY m.entity, m.family),
                              array_agg(m.share ORDER BY m.entity, m.family), NULL, NULL, NULL, NULL, 'FM0.000')
      INTO missing
      FROM (SELECT c.entity, c.family, sum(r.nulls)::float8 / nullif(sum(r.rows), 0) AS share
              FROM normalize.feature_null_rates() AS r
              JOIN normalize.feature_catalog AS c ON c.entity = r.entity AND c.feature = r.feature
             GROUP BY c.entity, c.family) AS m;

    WITH s AS (
        SELECT 'churn' AS set_name, c.split, count(*) AS n, avg(c.churned_90d::int)::float8 AS positive
          FROM normalize.churn_samples AS c GROUP BY c.split
        UNION ALL
        SELECT 'clv', c.split, count(*), NULL FROM normalize.clv_samples AS c GROUP BY c.split
        UNION ALL
        SELECT 'device health', d.split, count(*), avg(d.failed_30d::int)::float8
          FROM normalize.device_health_samples AS d GROUP BY d.split),
    o AS (SELECT s.*, s.set_name || ' ' || s.split AS label,
                 array_position(ARRAY['train', 'validation', 'test'], s.split) AS pos FROM s)
    SELECT normalize.svg_bars('Samples per split', array_agg(o.label ORDER BY o.set_name, o.pos),
                              array_agg(o.n::float8 ORDER BY o.set_name, o.pos), NULL, NULL, NULL, NULL, 'FM999999990'),
           normalize.svg_bars('Class balance: positive share per split (churn in 90 days, failure in 30)',
                              array_agg(o.label ORDER BY o.set_name, o.pos) FILTER (WHERE o.positive IS NOT NULL),
                              array_agg(o.positive ORDER BY o.set_name, o.pos) FILTER (WHERE o.positive IS NOT NULL),
                              NULL, NULL, NULL, NULL, 'FM0.000')
      INTO splits, balance FROM o;

    RETURN format($html$<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>normalize: ML-readiness report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #1d2733; max-width: 1180px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ccd; }
p.meta { color: #556; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; } td, th { border: 1px solid #ccd; padding: 0.3em 0.6em; text-align: left; }
th { background: #eef1f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.pass td:last-child { color: #176b2c; font-weight: 600; } tr.fail td, tr.fail td:last-child { color: #a4161a; font-weight: 600; }
tr.warn td { color: #8a5a00; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { background: #fafbfc; border: 1px solid #e1e4e8; }
svg .title { font-size: 11px; text-anchor: middle; font-weight: 600; fill: #1d2733; }
svg .tick, svg .label, svg .value { font-size: 10px; fill: #445; } svg .end { text-anchor: end; } svg .start { text-anchor: start; }
svg .axis { stroke: #889; } svg .bar { fill: #5b8def; } svg .band { fill: #f2c14e; fill-opacity: 0.45; }
svg .expected { fill: none; stroke: #d1495b; stroke-width: 2; } svg .whisker { stroke: #1d2733; stroke-width: 2; }
.legend span { display: inline-block; margin-right: 1.2em; } .swatch { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle; margin-right: 0.3em; }
</style>
</head>
<body>
<h1>ML-readiness report</h1>
<p class="meta">%1$s</p>
<h2>The plan's five success metrics</h2>
<table id="metrics"><tr><th>metric</th><th>target</th><th>before</th><th>after</th><th>unit</th><th>result</th></tr>%2$s</table>
<h2>Quality checks</h2>
<table id="checks"><tr><th>category</th><th>pass</th><th>warn</th><th>fail</th></tr>%3$s</table>
%4$s
<h2>Generated distributions against their profiles</h2>
<p class="legend"><span><i class="swatch" style="background:#5b8def"></i>observed values</span><span><i class="swatch" style="background:#d1495b"></i>counts the profile expects</span></p>
<div class="charts" id="histograms">%5$s</div>
<h2>Churn by tier</h2>
<p class="legend"><span><i class="swatch" style="background:#5b8def"></i>simulated annual churn</span><span><i class="swatch" style="background:#f2c14e"></i>the plan's band</span><span><i class="swatch" style="background:#1d2733"></i>confidence interval</span></p>
<div class="charts" id="churn">%6$s</div>
<h2>Missing values per feature family</h2>
<div class="charts" id="missing">%7$s</div>
<h2>Split sizes and class balance</h2>
<div class="charts" id="splits">%8$s%9$s</div>
</body>
</html>
$html$,
        normalize.html_escape(CASE WHEN h IS NULL THEN 'no history built yet'
                                   ELSE format('History of %s months, %s to %s, seed %s; report generated %s.',
                                               h.months, h.window_start, h.as_of, h.seed,
                                               to_char(now(), 'YYYY-MM-DD HH24:MI TZ')) END),
        metrics, coalesce(checks, ''),
        CASE WHEN failing IS NULL THEN '<p>Every check passes.</p>'
             ELSE '<table id="failing"><tr><th>category</th><th>entity</th><th>check</th><th>observed</th><th>detail</th></tr>'
                  || failing || '</table>' END,
        coalesce(histograms, '<p>No repaired columns yet.</p>'),
        coalesce(churn, '<p>No history yet.</p>'), coalesce(missing, '<p>No features yet.</p>'),
        coalesce(splits, '<p>No training sets yet.</p>'), coalesce(balance, ''));
END
$$;
COMMENT ON FUNCTION @extschema@.readiness_report_html() IS
    'The ML-readiness report as one self-contained HTML page (inline SVG, no scripts): the five metrics, the quality checks, each generated distribution against its profile, churn by tier against the bands, missing values per feature family, split sizes and class balance';
