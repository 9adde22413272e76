//! The answer stage, between validate and execute: a cacheable query is answered whole from
//! the cache when the answer stored for it is current, and its answer is kept for the next
//! request otherwise ([`crate::cache::answers`] keeps them, never stale).
//!
//! A query is cacheable when:
//! - it is one operation of a POST or a GET (not of a batch, nor over a WebSocket);
//! - it is a query, and each of its root fields is one of [`CACHEABLE_ROOTS`], at least one
//!   of them not `__typename` (a query that reads nothing is cheaper to run than to look up);
//! - its caller is signed in (an anonymous caller reads nothing but `viewer`'s null).
//!
//! Its answer is kept when it has no error and every field it read came through the field
//! cache at one generation each.

use async_graphql::{
    Positioned,
    parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet},
};
use axum::body::Bytes;

use super::parse::Prepared;
use crate::{
    auth::Authentication,
    cache::answers::{AnswerKey, Answered, Reads},
    state::AppState,
};

/// The root fields of a cacheable query. Each is read through the field cache, and so is every
/// field below them: the test `every_field_below_a_cacheable_root_was_judged` lists them all,
/// so a field added to the schema fails it until someone judges whether it is read that way.
pub const CACHEABLE_ROOTS: &[&str] = &["user", "users", "userByNickName", "order", "orders", "viewer", "__typename"];

/// What answering a cacheable query found.
pub enum Lookup {
    /// The stored answer, current: the response's body.
    Hit(Bytes),
    /// None current: run the query, recording its reads, and keep its answer under this key.
    Miss(AnswerKey, Reads),
    /// Not cacheable: run it as usual.
    Uncacheable,
}

/// Looks the request's answer up, when it is cacheable.
pub async fn look_up(state: &AppState, auth: &Authentication, prepared: &mut Prepared) -> Lookup {
    if !state.cache.keeps_answers() {
        return Lookup::Uncacheable;
    }
    let Ok(caller) = &auth.caller else { return Lookup::Uncacheable };
    if caller.user_id().is_none() {
        return Lookup::Uncacheable;
    }
    let request = &mut prepared.request;
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return Lookup::Uncacheable };
    if !cacheable(document, operation_name.as_deref()) {
        return Lookup::Uncacheable;
    }
    let key = state.cache.answer_key(*caller, &request.query, operation_name.as_deref(), &request.variables);
    match state.cache.answer(&key).await {
        Some(Answered::Hit(body)) => Lookup::Hit(body),
        Some(Answered::Miss(reads)) => Lookup::Miss(key, reads),
        None => Lookup::Uncacheable,
    }
}

/// Whether the operation `operation_name` selects in `document` is a cacheable query (see the
/// module's documentation).
pub fn cacheable(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    let Some(operation) = super::execute::operation(document, operation_name) else { return false };
    if operation.node.ty != OperationType::Query {
        return false;
    }
    let mut reads_something = false;
    let mut fragments_seen = 0;
    roots_allowed(document, &operation.node.selection_set, &mut reads_something, &mut fragments_seen) && reads_something
}

/// Whether every root field of `selection_set` (through fragments) is a cacheable root; notes
/// whether one of them reads data. Fragments are followed at most as many times as the
/// document has them, so a cycle (refused by validation later) cannot loop.
fn roots_allowed(
    document: &ExecutableDocument,
    selection_set: &Positioned<SelectionSet>,
    reads_something: &mut bool,
    fragments_seen: &mut usize,
) -> bool {
    selection_set.node.items.iter().all(|selection| match &selection.node {
        Selection::Field(field) => {
            let name = field.node.name.node.as_str();
            *reads_something |= name != "__typename";
            CACHEABLE_ROOTS.contains(&name)
        }
        Selection::InlineFragment(fragment) => {
            roots_allowed(document, &fragment.node.selection_set, reads_something, fragments_seen)
        }
        Selection::FragmentSpread(spread) => {
            *fragments_seen += 1;
            if *fragments_seen > document.fragments.len() {
                return false;
            }
            match document.fragments.get(&spread.node.fragment_name.node) {
                Some(fragment) => {
                    roots_allowed(document, &fragment.node.selection_set, reads_something, fragments_seen)
                }
                None => false,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn is_cacheable(query: &str, operation_name: Option<&str>) -> bool {
        cacheable(&parse_query(query).unwrap(), operation_name)
    }

    #[test]
    fn only_queries_of_cacheable_roots_that_read_something_are_cacheable() {
        assert!(is_cacheable("{ orders(first: 100) { nodes { id user { id } } } }", None));
        assert!(is_cacheable("query Q($id: UUID!) { __typename user(id: $id) { id } }", None));
        assert!(is_cacheable("{ ...F } fragment F on Query { viewer { id } }", None));
        assert!(is_cacheable("{ ... on Query { order(id: \"x\") { id } } }", None));
        assert!(!is_cacheable("{ __typename }", None), "nothing read: cheaper to run");
        assert!(!is_cacheable("{ __schema { types { name } } user(id: \"x\") { id } }", None));
        assert!(!is_cacheable("mutation { logout }", None));
        assert!(!is_cacheable("subscription { orderChanges { kind } }", None));
        assert!(!is_cacheable("{ ...Missing }", None));
        assert!(!is_cacheable("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }", None));
        let two = "query A { user(id: \"x\") { id } } mutation B { logout }";
        assert!(is_cacheable(two, Some("A")));
        assert!(!is_cacheable(two, Some("B")));
        assert!(!is_cacheable(two, Some("C")));
    }

    /// Every field a cacheable query can reach, judged by hand to be read through the field
    /// cache (or computed from what is): a field added below a cacheable root fails this test
    /// until it is judged, and added here, or its root taken out of [`CACHEABLE_ROOTS`].
    const JUDGED: &[&str] = &[
        "Order.createdAt",
        "Order.id",
        "Order.itemDescription",
        "Order.itemPrice",
        "Order.itemQuantity",
        "Order.totalValue",
        "Order.updatedAt",
        "Order.user",
        "Order.userId",
        "OrderConnection.edges",
        "OrderConnection.nodes",
        "OrderConnection.pageInfo",
        "OrderConnection.totalCount",
        "OrderEdge.cursor",
        "OrderEdge.node",
        "PageInfo.endCursor",
        "PageInfo.hasNextPage",
        "PageInfo.hasPreviousPage",
        "PageInfo.startCursor",
        "Query.order",
        "Query.orders",
        "Query.user",
        "Query.userByNickName",
        "Query.users",
        "Query.viewer",
        "User.cpf",
        "User.createdAt",
        "User.email",
        "User.fullName",
        "User.id",
        "User.nickName",
        "User.orders",
        "User.phoneNumber",
        "User.updatedAt",
        "UserConnection.edges",
        "UserConnection.nodes",
        "UserConnection.pageInfo",
        "UserConnection.totalCount",
        "UserEdge.cursor",
        "UserEdge.node",
    ];

    #[test]
    fn every_field_below_a_cacheable_root_was_judged() {
        use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
        let schema = async_graphql::parser::parse_schema(crate::graphql::sdl()).unwrap();
        let objects: std::collections::HashMap<String, Vec<(String, String)>> = schema
            .definitions
            .iter()
            .filter_map(|definition| match definition {
                TypeSystemDefinition::Type(ty) => match &ty.node.kind {
                    TypeKind::Object(object) => Some((
                        ty.node.name.node.to_string(),
                        object
                            .fields
                            .iter()
                            .map(|field| {
                                let mut of = &field.node.ty.node.base;
                                while let BaseType::List(inner) = of {
                                    of = &inner.base;
                                }
                                let BaseType::Named(named) = of else { unreachable!() };
                                (field.node.name.node.to_string(), named.to_string())
                            })
                            .collect(),
                    )),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let mut reached = std::collections::BTreeSet::new();
        let mut to_visit: Vec<(String, String)> = objects["Query"]
            .iter()
            .filter(|(name, _)| CACHEABLE_ROOTS.contains(&name.as_str()))
            .map(|(name, ty)| (format!("Query.{name}"), ty.clone()))
            .collect();
        while let Some((field, ty)) = to_visit.pop() {
            if !reached.insert(field) {
                continue;
            }
            for (name, of) in objects.get(&ty).into_iter().flatten() {
                to_visit.push((format!("{ty}.{name}"), of.clone()));
            }
        }
        let reached: Vec<&str> = reached.iter().map(String::as_str).collect();
        assert_eq!(reached, JUDGED);
    }
}
