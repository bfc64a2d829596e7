"""The features of one entity in DuckDB, as a user would write them there:
plain framed window functions over the base rows, one per feature of
normalize's catalog (the same metrics, windows, aggregations and NULL
rules), keeping the cutoff rows. Loading the base rows is not timed; the
CREATE TABLE of the features is, in wall and process CPU seconds (DuckDB
runs on every thread it is given).

    python duckdb_features.py CATALOG_CSV ENTITY KEY BASE_CSV SAMPLE_CSV THREADS

Writes the rows of the first 20 keys to SAMPLE_CSV, for the benchmark to
compare with the engine's, and prints DUCKDB_* lines.
"""
import csv
import sys
import time

import duckdb


def window_name(n):
    return "w%d" % n


def feature_sql(f):
    """One feature as a DuckDB expression, with the views' NULL rules: a
    window feature is NULL unless all of its periods are known."""
    x = '"%s"' % f["source_metric"]
    agg = f["aggregation"]
    if agg == "last":
        return x
    n = int(f["window_size"])
    w = window_name(n)
    complete = "count(%s) OVER %s = %d" % (x, w, n)
    back = "lag(%s, %d) OVER o" % (x, n)
    body = {
        "mean": "avg(%s) OVER %s" % (x, w),
        "sum": "sum(%s) OVER %s" % (x, w),
        "min": "min(%s) OVER %s" % (x, w),
        "max": "max(%s) OVER %s" % (x, w),
        "stddev": "stddev_samp(%s) OVER %s" % (x, w),
        "slope": "regr_slope(%s, t) OVER %s" % (x, w),
    }
    if agg in body:
        return "CASE WHEN %s THEN %s END" % (complete, body[agg])
    if agg == "change":
        return "%s - %s" % (x, back)
    if agg == "pct_change":
        return "(%s - %s) / NULLIF(abs(%s), 0)" % (x, back, back)
    if agg == "growth_rate":
        return "CASE WHEN %s > 0 AND %s > 0 THEN power(%s / %s, 1.0 / %d) - 1 END" % (x, back, x, back, n)
    raise SystemExit("unknown aggregation %s" % agg)


def main():
    catalog_csv, entity, key, base_csv, sample_csv, threads = sys.argv[1:7]
    with open(catalog_csv, newline="") as fh:
        features = [r for r in csv.DictReader(fh) if r["entity"] == entity]
    features.sort(key=lambda r: int(r["position"]))
    windows = sorted({int(f["window_size"]) for f in features if f["window_size"]})

    con = duckdb.connect()
    con.execute("SET threads = %d" % int(threads))
    con.execute("CREATE TABLE base AS SELECT * FROM read_csv_auto(?, header = true)", [base_csv])

    columns = ",\n       ".join('(%s)::%s AS "%s"' % (feature_sql(f), "DOUBLE" if f["data_type"] == "float8" else "VARCHAR",
                                                       f["feature"]) for f in features)
    window_defs = ", ".join("%s AS (PARTITION BY \"%s\" ORDER BY t ROWS BETWEEN %d PRECEDING AND CURRENT ROW)"
                            % (window_name(n), key, n - 1) for n in windows)
    sql = ('CREATE TABLE features AS SELECT "%s", as_of, %s FROM base\n'
           'WINDOW o AS (PARTITION BY "%s" ORDER BY t), %s\nQUALIFY is_cutoff') % (key, columns, key, window_defs)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    con.execute(sql)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    rows = con.execute("SELECT count(*) FROM features").fetchone()[0]
    con.execute("COPY (SELECT * FROM features WHERE \"%s\" IN (SELECT DISTINCT \"%s\" FROM features ORDER BY 1 LIMIT 20)"
                " ORDER BY 1, 2) TO '%s' (HEADER, DELIMITER ',')" % (key, key, sample_csv.replace("'", "''")))
    print("DUCKDB_SECONDS=%.3f" % wall)
    print("DUCKDB_CPU=%.3f" % cpu)
    print("DUCKDB_ROWS=%d" % rows)
    print("DUCKDB_FEATURES=%d" % len(features))
    print("DUCKDB_VERSION=%s" % duckdb.__version__)


if __name__ == "__main__":
    main()
