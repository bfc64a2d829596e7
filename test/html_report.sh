#!/usr/bin/env bash
# The HTML readiness report renders in headless Chromium: the page is
# self-contained (no scripts, nothing fetched), its DOM holds the five
# metrics and a chart for every generated distribution, and a screenshot is
# saved as a test artifact. Prints TAP. Needs PGHOST/PGPORT/PGUSER of a
# running cluster, NZ_PG_BIN, and Debian's chromium; NZ_ARTIFACTS names the
# directory for the page and its screenshot (default: a temporary one).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
out=${NZ_ARTIFACTS:-$(mktemp -d)}
mkdir -p "$out"
page=$out/readiness-report.html
shot=$out/readiness-report.png
db=nz_html_report
echo "1..7"
pipeline_db "$db" report_raw
psql_ -d "$db" -At -c "SELECT normalize.readiness_report_html()" >"$page"

check "the page has no scripts and fetches nothing (no src or href attributes)" "0" \
      "$(grep -ciE '<script|[[:space:]](src|href)=' "$page" || true)"
check "every tag the report writes is closed: one svg end tag per svg" \
      "$(grep -o '<svg ' "$page" | wc -l)" "$(grep -o '</svg>' "$page" | wc -l)"

# Chromium refuses to run as root without --no-sandbox; it reads only a
# local file here.
chromium_() { chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run "$@" 2>/dev/null; }
dom=$(chromium_ --dump-dom "file://$page" || true)
check "Chromium renders the page: the title is in its DOM" "yes" \
      "$(grep -q '<title>normalize: ML-readiness report</title>' <<<"$dom" && echo yes || echo no)"
check "the DOM holds the five success metrics, each passing" "5" \
      "$(grep -o '<table id="metrics">.*</table>' <<<"$dom" | sed 's/<\/table>.*//' | grep -o '<tr class="pass">' | wc -l | tr -d ' ')"
groups=$(psql_ -d "$db" -At -c "SELECT (SELECT count(DISTINCT tier) FROM normalize.accounts)
                                     + (SELECT count(DISTINCT status) FROM normalize.devices) + 1
                                     + (SELECT count(DISTINCT role) FROM normalize.users)")
check "a histogram for every generated distribution against its profile" "$groups" \
      "$(sed -n '/id="histograms"/,/<\/div>/p' <<<"$dom" | grep -o '<polyline class="expected"' | wc -l | tr -d ' ')"
check "charts of churn by tier (with bands), missing values and the splits" "4" \
      "$(grep -o 'aria-label="\(Annual churn\|Missing values\|Samples per split\|Class balance\)' <<<"$dom" | wc -l | tr -d ' ')"
rm -f "$shot"
chromium_ --window-size=1280,3600 --screenshot="$shot" "file://$page" >/dev/null || true
# A blank page of this size compresses to a few kilobytes; the charts and
# tables do not.
check "a screenshot is saved, and it is not blank" "yes" \
      "$([ -f "$shot" ] && [ "$(stat -c %s "$shot")" -gt 40000 ] && echo yes || echo "no: $(ls -l "$shot" 2>&1)")"
echo "# page: $page; screenshot: $shot"
psql_ -d postgres -c "DROP DATABASE $db"
[ "$failed" -eq 0 ]
