#!/usr/bin/env bash
# squawk, a linter for Postgres migrations, over db/migrations with the rules of .squawk.toml:
# the statements that would stop intake while the release runs beside the old processes (a
# volatile default, an index built without CONCURRENTLY, a constraint added without NOT VALID, …).
# Fails on any violation. Rules and reasons: docs/scaling.md, Releases.
#
# squawk-cli comes pinned from PyPI, whose wheel carries the binary (the npm package downloads it
# at install time instead), into a virtualenv under the user's cache: once per version, nothing
# written to the repository.
#
#   npm run db:lint
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.70.0
venv="${XDG_CACHE_HOME:-$HOME/.cache}/order-service/squawk-${version}"
if [[ ! -x "$venv/bin/squawk" ]]; then
  echo "installing squawk-cli ${version} into ${venv}"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "squawk-cli==${version}"
fi
squawk=("$venv/bin/squawk" --config .squawk.toml --reporter gcc)

# Relative paths: .squawk.toml's excluded_paths (the history) are written so. The safe forms that
# docs/scaling.md shows are linted with them.
if ! "${squawk[@]}" db/migrations/*.sql scripts/migration-lint/safe.sql; then
  echo "a migration breaks a rule of .squawk.toml: see docs/scaling.md, Releases" >&2
  exit 1
fi

# The linter must still see what it is there for: a configuration that turned the rules off
# would pass everything.
refused=$("${squawk[@]}" scripts/migration-lint/unsafe.sql 2>&1 || true)
for rule in adding-field-with-default require-concurrent-index-creation constraint-missing-not-valid; do
  if ! grep -q "$rule" <<<"$refused"; then
    echo "squawk no longer reports ${rule} in scripts/migration-lint/unsafe.sql: check .squawk.toml" >&2
    exit 1
  fi
done
echo "migrations pass squawk ${version}"
