"""Featuretools' Deep Feature Synthesis on the same monthly customer metrics
that normalize's customer features are computed from, at the same cutoffs.

    python bench/featuretools_customers.py BASE_CSV CUTOFFS_CSV

BASE_CSV: one row per account and month (account_key, month, known_at and
the metrics); CUTOFFS_CSV: account_key, as_of. For each window (3, 6 and 12
months) DFS aggregates every metric with mean, min, max, std, sum, trend and
last over the rows known at the cutoff within the window. Prints the number
of features, of rows, and the seconds DFS took (reading the CSVs excluded).
"""
import sys
import time
import warnings

import featuretools as ft
import pandas as pd


def main(base_csv: str, cutoffs_csv: str) -> None:
    # Featuretools 1.31 warns about pandas deprecations on every call.
    warnings.filterwarnings("ignore")
    base = pd.read_csv(base_csv)
    base["month"] = pd.to_datetime(base["month"], format="%Y-%m-%d")
    base["known_at"] = pd.to_datetime(base["known_at"], format="%Y-%m-%d")
    cutoffs = pd.read_csv(cutoffs_csv)
    cutoffs["as_of"] = pd.to_datetime(cutoffs["as_of"], format="%Y-%m-%d")
    cutoffs = cutoffs.rename(columns={"as_of": "time"})
    base = base.reset_index().rename(columns={"index": "row_id"})
    accounts = pd.DataFrame({"account_key": base["account_key"].unique()})
    metrics = [c for c in base.columns if c not in ("row_id", "account_key", "month", "known_at")]

    started = time.perf_counter()
    frames = []
    for months in (3, 6, 12):
        es = ft.EntitySet(id="customers")
        es = es.add_dataframe(dataframe_name="accounts", dataframe=accounts.copy(), index="account_key")
        # A month's row is known at its end: that is its time index, as in
        # normalize; the windows reach back over exactly that many month ends.
        es = es.add_dataframe(dataframe_name="months", dataframe=base.copy(), index="row_id",
                              time_index="known_at")
        es = es.add_relationship("accounts", "account_key", "months", "account_key")
        matrix, _ = ft.dfs(entityset=es, target_dataframe_name="accounts", cutoff_time=cutoffs,
                           agg_primitives=["mean", "min", "max", "std", "sum", "trend", "last"],
                           trans_primitives=[], max_depth=1, training_window=f"{int(months * 30.44 - 15)} days",
                           ignore_columns={"months": ["month"]}, verbose=False)
        matrix.columns = [f"{c}_{months}m" for c in matrix.columns]
        frames.append(matrix)
    result = pd.concat(frames, axis=1)
    elapsed = time.perf_counter() - started
    print(f"featuretools {ft.__version__}: {result.shape[1]} features x {result.shape[0]} rows "
          f"({len(metrics)} metrics) in {elapsed:.1f} s")
    print(f"FEATURETOOLS_SECONDS={elapsed:.3f}")
    print(f"FEATURETOOLS_FEATURES={result.shape[1]}")
    print(f"FEATURETOOLS_ROWS={result.shape[0]}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
