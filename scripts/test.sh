#!/usr/bin/env bash
# The whole check, as CI runs it: host tools, formatting, lints, then every test (unit tests and
# the one `integration` binary, which drives the real `lade` binary with runc, umoci, skopeo).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
