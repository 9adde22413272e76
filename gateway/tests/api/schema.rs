//! `schema.graphql` at the root is the live schema.

#[test]
fn schema_graphql_equals_the_live_schema() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let live = gateway::graphql::sdl();
    assert!(
        committed == live,
        "schema.graphql differs from the live schema; regenerate it with:\n    cargo run -p gateway -- print-schema > schema.graphql"
    );
}
