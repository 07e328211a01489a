#!/usr/bin/env bash
# Schemathesis against the OpenAPI document (/api/openapi.json) of a running web process.
#
# Installs a pinned schemathesis from PyPI into a virtualenv under the user's cache (once per
# version; nothing is written to the repository), starts the web process on a database of its own
# with the development Catalog and the admin operations on (test/schemathesis/target.ts), runs
# `st run` with the admin credentials (Basic auth), a bounded number of examples and a time
# budget, then stops the web process, which drops its database.
# Exit status: schemathesis's (0 when every check passed). Extra arguments go to `st run`.
#
# schemathesis's own output goes to a file in the report folder, beside the JUnit report, and is
# not printed as it is: it ends with a line in pytest's closing form (`=== 1 warning in 180.02s
# ===`) that CI's reader takes for the whole run's verdict, wherever it stands in the log. What
# is printed is one summary line no runner's closing line matches (no `N passed, N failed`, no
# `=== … in Ns ===`), and on a failure the failing cases, with their section rules rewritten.
#
#   bash scripts/schemathesis.sh                     # the CI run
#   SCHEMATHESIS_MAX_EXAMPLES=500 bash scripts/schemathesis.sh --seed 42
#   bash scripts/schemathesis.sh --max-response-time 0.001   # a run that fails, to see how
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/order-service/schemathesis-${version}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
max_time="${SCHEMATHESIS_MAX_TIME:-180}"
report_dir="${SCHEMATHESIS_REPORT_DIR:-${TMPDIR:-/tmp}/order-service-schemathesis}"
config="$PWD/test/schemathesis/schemathesis.toml"

if [[ ! -x "$venv/bin/st" ]]; then
  echo "installing schemathesis ${version} into ${venv}"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${version}"
fi

target_log=$(mktemp)
target_pid=
stop_target() {
  if [[ -n "$target_pid" ]] && kill -0 "$target_pid" 2>/dev/null; then
    kill -TERM "$target_pid"
    wait "$target_pid" || true
  fi
  rm -f "$target_log"
}
trap stop_target EXIT
trap "exit 130" INT TERM

# The admin operations (webhook subscriptions) need credentials: fresh ones for each run, given to
# the target and to `st run` (through test/schemathesis/schemathesis.toml's [auth.openapi]).
admin_user=schemathesis
admin_password=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
ADMIN_USER="$admin_user" ADMIN_PASSWORD="$admin_password" \
  node --import tsx/esm test/schemathesis/target.ts >"$target_log" 2>&1 &
target_pid=$!
for _ in $(seq 1 300); do
  grep -q '^target ' "$target_log" && break
  kill -0 "$target_pid" 2>/dev/null || { cat "$target_log" >&2; echo "the web process did not start" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/^target //p' "$target_log" | head -1)
[[ -n "$url" ]] || { cat "$target_log" >&2; echo "the web process did not start in time" >&2; exit 1; }
echo "schemathesis ${version} against ${url}/api/openapi.json (max ${max_examples} examples per operation, ${max_time} s)"

status=0
mkdir -p "$report_dir"
st_log="${report_dir}/schemathesis.log"
# Run from the report directory: schemathesis keeps what `st replay <id>` needs in ./.schemathesis.
# `timeout` is the hard stop; --max-time lets schemathesis end its phases by itself before it.
(cd "$report_dir" && ST_ADMIN_USER="$admin_user" ST_ADMIN_PASSWORD="$admin_password" timeout --signal=INT "$((max_time + 60))" \
  "$venv/bin/st" --config-file "${config}" run "${url}/api/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection \
  --max-examples "$max_examples" \
  --max-time "$max_time" \
  --request-timeout 10 \
  --workers 2 \
  --generation-database none \
  --report junit --report-dir "$report_dir" \
  --no-color \
  "$@") >"$st_log" 2>&1 || status=$?

# schemathesis's text with its rules (`==== FAILURES ====`, `____ POST /x ____`, the closing line)
# turned into `[FAILURES]`, so none of it reads as a runner's verdict.
plain() { sed -E 's/^[=_]{3,} (.*) [=_]{3,}$/[\1]/'; }
# Its summary's "Test cases:" line: "N generated, N passed" or "N generated, N found N unique
# failures", either followed by ", N errored" and ", N skipped" when there are some.
cases=$(sed -n '/^Test cases:/{n;p;q;}' "$st_log")
generated=$(sed -nE 's/^ *([0-9]+) generated.*/\1/p' <<<"$cases")
failing=$(sed -nE 's/.* ([0-9]+) found ([0-9]+) (unique failures?).*/a check refused \1 of them (\2 \3, listed above)/p' <<<"$cases")
errored=$(sed -nE 's/.* ([0-9]+) errored.*/, \1 cases could not be sent/p' <<<"$cases")
closing=$(grep -E '^=+ .* =+$' "$st_log" | tail -1 || true)
warnings=$(grep -oE '[0-9]+ warnings?' <<<"$closing" || true)
errors=$(grep -oE '[0-9]+ errors?' <<<"$closing" || true)
notes="${warnings:+; ${warnings}}${errors:+; ${errors} (not about a case)}"

if ((status != 0)); then
  if grep -qE '^=+ (FAILURES|ERRORS) =+$' "$st_log"; then
    # The failing cases and the run's errors, each with its curl to reproduce it.
    awk '/^=+ (FAILURES|ERRORS) =+$/ { on = 1 } /^=+ (WARNINGS|SUMMARY) =+$/ { on = 0 } on' \
      "$st_log" | plain
  else
    echo "--- the last lines of schemathesis's output"
    tail -30 "$st_log" | plain
  fi
fi

# What the web process logged as errors: where a 5xx came from.
if [[ -s "$target_log" ]] && grep -qv '^target ' "$target_log"; then
  echo "--- web process errors"
  grep -v '^target ' "$target_log" | tail -50
fi

where="full output ${st_log}, JUnit and \`st replay <id>\` in ${report_dir}"
if [[ -z "$generated" ]]; then
  echo "schemathesis: no case was generated or the run stopped early (exit status ${status})${notes}; ${where}"
elif ((status == 0)); then
  echo "schemathesis: ${generated} cases generated, every one conformed to the document${notes}; ${where}"
else
  echo "schemathesis: ${generated} cases generated; ${failing:-no check refused one}${errored}${notes}; exit status ${status}; ${where}"
fi
exit "$status"
