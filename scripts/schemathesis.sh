#!/usr/bin/env bash
# Schemathesis against the OpenAPI document (/api/openapi.json) of a running web process.
#
# Installs a pinned schemathesis from PyPI into a virtualenv under the user's cache (once per
# version; nothing is written to the repository), starts the web process on a database of its own
# with the development Catalog (scripts/schemathesis/target.ts), runs `st run` with a bounded
# number of examples and a time budget, then stops the web process, which drops its database.
# Exit status: schemathesis's (0 when every check passed). Extra arguments go to `st run`.
#
#   bash scripts/schemathesis.sh                     # the CI run
#   SCHEMATHESIS_MAX_EXAMPLES=500 bash scripts/schemathesis.sh --seed 42
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/order-service/schemathesis-${version}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
max_time="${SCHEMATHESIS_MAX_TIME:-180}"
report_dir="${SCHEMATHESIS_REPORT_DIR:-${TMPDIR:-/tmp}/order-service-schemathesis}"

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

node --import tsx/esm scripts/schemathesis/target.ts >"$target_log" 2>&1 &
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
# Run from the report directory: schemathesis keeps what `st replay <id>` needs in ./.schemathesis.
# `timeout` is the hard stop; --max-time lets schemathesis end its phases by itself before it.
(cd "$report_dir" && timeout --signal=INT "$((max_time + 60))" \
  "$venv/bin/st" run "${url}/api/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection \
  --max-examples "$max_examples" \
  --max-time "$max_time" \
  --request-timeout 10 \
  --workers 2 \
  --generation-database none \
  --report junit --report-dir "$report_dir" \
  --no-color \
  "$@") || status=$?
echo "reports and replays in ${report_dir} (cd there for \`st replay <id>\`)"

# What the web process logged as errors: where a 5xx came from.
if [[ -s "$target_log" ]] && grep -qv '^target ' "$target_log"; then
  echo "--- web process errors"
  grep -v '^target ' "$target_log" | tail -50
fi
exit "$status"
