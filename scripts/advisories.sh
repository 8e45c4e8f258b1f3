#!/usr/bin/env bash
# RustSec advisories for the exporter's Cargo.lock and the fuzz workspace's
# fuzz/Cargo.lock, on every CI run. The live database (github.com) is used
# when reachable; otherwise the snapshot in ../shared/advisory-db.bundle
# (see ../shared/notes/advisories.md). Says which database and its date.
# The snapshot ages: a release must still be checked against the live
# database on a machine that reaches github.com.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deny >/dev/null 2>&1 || cargo install cargo-deny --locked --quiet

# Where cargo-deny looks for the default database (no db-path in deny.toml);
# the suffix is cargo-deny's hash of https://github.com/rustsec/advisory-db.
db_root="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
db="$db_root/advisory-db-3157b0e258782691"
bundle="${ADVISORY_DB_BUNDLE:-../shared/advisory-db.bundle}"

deny_flags=()
if timeout "${ADVISORY_FETCH_TIMEOUT:-60}" cargo deny fetch db >/dev/null 2>&1; then
  echo "advisory DB: live RustSec database (github.com), head $(git -C "$db" log -1 --format='%h of %cd' --date=short 2>/dev/null || echo "(date unknown)")"
elif [ -f "$bundle" ]; then
  rm -rf "$db"
  mkdir -p "$db_root"
  git clone -q -b snapshot "$bundle" "$db"
  echo "advisory DB: github.com unreachable; OFFLINE SNAPSHOT $bundle:"
  echo "  $(git -C "$db" log -1 --format='%s')"
  echo "  (a release must still be checked against the live database)"
  deny_flags=(--offline)
else
  echo "advisory DB: github.com unreachable and no snapshot at $bundle" >&2
  exit 1
fi

# --offline needs every crate of each graph downloaded (crates.io is reachable).
cargo fetch --locked --quiet
cargo fetch --locked --quiet --manifest-path fuzz/Cargo.toml

echo "-- advisories: Cargo.lock"
cargo deny "${deny_flags[@]}" check advisories
echo "-- advisories: fuzz/Cargo.lock"
cargo deny "${deny_flags[@]}" --manifest-path fuzz/Cargo.toml --config deny.toml check advisories
