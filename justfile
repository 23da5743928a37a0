# salient: `just test` is what CI runs; `just train` runs the whole job end to end.

default:
    @just --list

# Format check, clippy with warnings denied, and every test of the workspace.
test:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo test --workspace
