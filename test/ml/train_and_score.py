"""Trains a logistic regression and a gradient-boosted model on the training
split of a set exported by normalize and scores its test split.

    python test/ml/train_and_score.py CSV LABEL [LABEL_COLUMNS...]

CSV is a *_training_set view copied out with a header. Feature columns are
every column after the label and weight columns; text features are one-hot
encoded, missing numbers imputed with the training median (with a
missing-indicator). Prints one line per model: "<model> auc=<x>".
"""
import sys
import warnings

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

KEYS = {"split", "account_key", "device_key", "user_key", "as_of", "sample_weight", "tier", "revenue_12m"}


def main(path: str, label: str, other_labels: list[str]) -> None:
    warnings.filterwarnings("ignore")
    data = pd.read_csv(path)
    drop = KEYS | {label} | set(other_labels)
    features = data.drop(columns=[c for c in data.columns if c in drop])
    features = pd.get_dummies(features, dtype=float)
    features = features.loc[:, features.notna().any()]
    y = data[label].astype(str).str.lower().isin(["t", "true", "1"]).astype(int)
    weight = data["sample_weight"]
    train = data["split"] == "train"
    test = data["split"] == "test"
    models = {
        "logistic": make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                                  LogisticRegression(max_iter=2000, C=0.1)),
        "gradient_boosting": HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0),
    }
    print(f"samples: train={int(train.sum())} test={int(test.sum())} positives_test={int(y[test].sum())} "
          f"features={features.shape[1]}")
    for name, model in models.items():
        model.fit(features[train], y[train], **({"logisticregression__sample_weight": weight[train]}
                                                 if name == "logistic" else {"sample_weight": weight[train]}))
        score = model.predict_proba(features[test])[:, 1]
        print(f"{name} auc={roc_auc_score(y[test], score):.4f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
