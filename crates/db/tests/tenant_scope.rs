//! Tenant scoping is written one way: a query of a tenant's rows starts from
//! `table.of(tenant)` (`nudge_db::scope`), never from a `tenant_id` filter written by
//! hand, which is the one a query forgets. This test reads the crate's own sources and
//! fails on such a filter, naming the file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use std::path::Path;

/// The hand-written tenant filters in `source` (whitespace ignored): a `.filter(` of a
/// table's `tenant_id` equal to a [`TenantId`](nudge_domain::TenantId) (`.as_uuid()`).
fn hand_written_scopes(source: &str) -> Vec<String> {
    let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let mut found = Vec::new();
    let mut rest = compact.as_str();
    while let Some(at) = rest.find(".filter(") {
        rest = &rest[at + ".filter(".len()..];
        let Some((table, after)) = rest.split_once("::tenant_id.eq(") else {
            break;
        };
        let is_table =
            !table.is_empty() && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let argument = after.split("))").next().unwrap_or_default();
        if is_table && argument.contains(".as_uuid(") {
            found.push(format!("{table}::tenant_id.eq({argument})"));
        }
    }
    found
}

fn sources(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn the_check_sees_a_hand_written_scope() {
    let by_hand = "templates::table\n    .filter(templates::tenant_id.eq(tenant.as_uuid()))\n";
    assert_eq!(hand_written_scopes(by_hand).len(), 1);
    let scoped = "templates::table.of(tenant).filter(templates::id.eq(id.as_uuid()))";
    assert!(hand_written_scopes(scoped).is_empty());
    // A row's own tenant, carried to the rows it owns, is not a tenant's scope.
    let carried = ".filter(messages::tenant_id.eq(message.tenant_id))";
    assert!(hand_written_scopes(carried).is_empty());
}

#[test]
fn no_query_of_this_crate_scopes_a_tenant_by_hand() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "the sources were not found in {src:?}");
    let mut offenders = Vec::new();
    for file in files {
        // The one place that writes the filter, for every tenant table.
        if file.ends_with("scope.rs") {
            continue;
        }
        for scope in hand_written_scopes(&std::fs::read_to_string(&file).unwrap()) {
            offenders.push(format!("{}: {scope}", file.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "start these queries from `table.of(tenant)` (nudge_db::scope::OfTenant):\n{}",
        offenders.join("\n")
    );
}
