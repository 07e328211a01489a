#!/usr/bin/env bash
# Fails when db/schema.ts and the committed migrations disagree, that is when `drizzle-kit
# generate` would write a new migration. A schema change without its migration would otherwise
# reach production unnoticed, and a hand-written migration the schema does not follow would be
# undone by the next generated one. drizzle-kit compares the schema with the last snapshot in
# db/migrations/meta and needs no database. It runs on a scratch copy so the tree is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The whole tree, so a schema importing from elsewhere in the repo still loads.
shopt -s nullglob dotglob
for entry in *; do
  case $entry in
    node_modules | dist | .git) ;;
    *) cp -R "$entry" "$scratch/" ;;
  esac
done
ln -s "$root/node_modules" "$scratch/node_modules"

# stdin closed and a time limit: an ambiguous change (a rename?) makes drizzle-kit ask, and a
# question here means the schema changed anyway.
if ! (cd "$scratch" && timeout 120 node_modules/.bin/drizzle-kit generate </dev/null >"$scratch/.generate.log" 2>&1); then
  cat "$scratch/.generate.log" >&2
  echo "drizzle-kit generate failed (or asked a question): db/schema.ts differs from db/migrations" >&2
  exit 1
fi

if ! diff -r db/migrations "$scratch/db/migrations" >"$scratch/.diff" 2>&1; then
  cat "$scratch/.diff" >&2
  for file in "$scratch"/db/migrations/*.sql; do
    [ -e "db/migrations/${file##*/}" ] || printf '\n%s would be:\n%s\n' "${file##*/}" "$(cat "$file")" >&2
  done
  cat >&2 <<'MSG'

db/schema.ts does not match db/migrations: `drizzle-kit generate` would write the above.
Either run `npm run db:generate` and commit the migration, or, when a hand-written migration
already made the change, make db/schema.ts (and the last snapshot in db/migrations/meta) say
what that migration did.
MSG
  exit 1
fi
echo "db/schema.ts matches db/migrations"
