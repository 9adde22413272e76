//! The GraphQL specification's "Handling Field Errors", after async-graphql has run: a field
//! that failed is `null`, or, where its type is non-null, its nearest nullable parent is (up to
//! `data` itself, which is then `null`).
//!
//! async-graphql 7.2 does otherwise (`resolver_utils/container.rs`): a field whose resolver
//! fails is left out of its object, and an object none of whose fields came back is `null`,
//! whatever its type. [`propagate`] walks each failed field's path with the document's
//! selections (a path names response keys, aliases included) and the schema's types, and puts
//! the `null` where the specification does. It runs only for responses with field errors.

use std::{collections::HashMap, sync::LazyLock};

use async_graphql::{
    Name, PathSegment, ServerError, Value,
    indexmap::IndexMap,
    parser::{
        parse_schema,
        types::{
            BaseType, DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType,
            Selection, SelectionSet, Type, TypeKind, TypeSystemDefinition,
        },
    },
};

/// The schema's object types: each field's type, by type and field name; and the root types.
struct Types {
    fields: HashMap<String, HashMap<String, Type>>,
    query: String,
    mutation: String,
    subscription: String,
}

static TYPES: LazyLock<Types> = LazyLock::new(|| {
    let mut types = Types {
        fields: HashMap::new(),
        query: "Query".into(),
        mutation: "Mutation".into(),
        subscription: "Subscription".into(),
    };
    // Our own SDL parses: `schema.graphql` is it, checked by a test.
    let Ok(document) = parse_schema(crate::graphql::sdl()) else {
        return types;
    };
    for definition in document.definitions {
        match definition {
            TypeSystemDefinition::Schema(schema) => {
                if let Some(query) = schema.node.query {
                    types.query = query.node.to_string();
                }
                if let Some(mutation) = schema.node.mutation {
                    types.mutation = mutation.node.to_string();
                }
                if let Some(subscription) = schema.node.subscription {
                    types.subscription = subscription.node.to_string();
                }
            }
            TypeSystemDefinition::Type(ty) => {
                if let TypeKind::Object(object) = ty.node.kind {
                    let fields = object
                        .fields
                        .into_iter()
                        .map(|field| (field.node.name.node.to_string(), field.node.ty.node))
                        .collect();
                    types.fields.insert(ty.node.name.node.to_string(), fields);
                }
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    types
});

/// Puts the `null`s the specification puts for `errors` into `data`, the answer to
/// `document`'s operation `operation_name`.
pub fn propagate(
    data: &mut Value,
    errors: &[ServerError],
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) {
    let Some(operation) = operation(document, operation_name) else {
        return;
    };
    let root = match operation.node.ty {
        OperationType::Query => &TYPES.query,
        OperationType::Mutation => &TYPES.mutation,
        OperationType::Subscription => &TYPES.subscription,
    };
    let mut targets: Vec<Target> = errors
        .iter()
        .filter(|error| !error.path.is_empty())
        .filter_map(|error| Target::of(&error.path, root, &operation.node.selection_set.node, document))
        .collect();
    // Shallowest first: a null that covers a deeper one makes it moot.
    targets.sort_by_key(|target| target.len);
    let mut nulled: Vec<&[PathSegment]> = Vec::new();
    for target in &mut targets {
        if nulled.iter().any(|done| target.path[..target.len].starts_with(done)) {
            continue;
        }
        target.apply(data);
        nulled.push(&target.path[..target.len]);
    }
}

/// The operation of `document` a request named `operation_name` runs.
pub(crate) fn operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a async_graphql::Positioned<OperationDefinition>> {
    match &document.operations {
        DocumentOperations::Single(operation) => Some(operation),
        DocumentOperations::Multiple(operations) => match operation_name {
            Some(name) => operations.get(name),
            None if operations.len() == 1 => operations.values().next(),
            None => None,
        },
    }
}

/// Where one failed field's `null` goes.
struct Target {
    path: Vec<PathSegment>,
    /// Whether the value at `path[..i + 1]` may be null.
    nullable: Vec<bool>,
    /// The response keys of the object holding `path[i]`, in the selection's order, when
    /// `path[i]` is a field.
    keys: Vec<Vec<Name>>,
    /// The null goes at `path[..len]`; 0 is `data`.
    len: usize,
}

impl Target {
    /// `None` when the path leaves what the document and the schema say (introspection).
    fn of(path: &[PathSegment], root: &str, selection: &SelectionSet, document: &ExecutableDocument) -> Option<Self> {
        let mut sets = vec![selection];
        let mut current: Option<&Type> = None;
        let (mut nullable, mut keys) = (Vec::with_capacity(path.len()), Vec::with_capacity(path.len()));
        for segment in path {
            match segment {
                PathSegment::Field(key) => {
                    let parent = match current.map(|ty| &ty.base) {
                        None => root,
                        Some(BaseType::Named(name)) => name.as_str(),
                        Some(BaseType::List(_)) => return None,
                    };
                    let mut order = Vec::new();
                    response_keys(&sets, &document.fragments, &mut order);
                    let mut found = None;
                    let mut next = Vec::new();
                    fields_named(key, &sets, &document.fragments, &mut found, &mut next);
                    current = Some(TYPES.fields.get(parent)?.get(found?)?);
                    sets = next;
                    keys.push(order);
                }
                PathSegment::Index(_) => {
                    current = match &current?.base {
                        BaseType::List(item) => Some(item),
                        BaseType::Named(_) => return None,
                    };
                    keys.push(Vec::new());
                }
            }
            nullable.push(current?.nullable);
        }
        let len = (1..=path.len()).rev().find(|&len| nullable[len - 1]).unwrap_or(0);
        Some(Self { path: path.to_vec(), nullable, keys, len })
    }

    /// Sets `path[..len]` to null, filling in the objects async-graphql left out or made null
    /// for having no field. A list that is not there cannot be filled in: the null then goes
    /// to the nearest nullable position at or above it.
    fn apply(&mut self, data: &mut Value) {
        loop {
            match self.try_apply(data) {
                Ok(()) => return,
                Err(stuck) => self.len = (1..=stuck).rev().find(|&len| self.nullable[len - 1]).unwrap_or(0),
            }
        }
    }

    /// `Err(depth)` when the value at `path[..depth]` should be a list with that index, and is
    /// not.
    fn try_apply(&self, data: &mut Value) -> Result<(), usize> {
        let mut value = data;
        for (depth, segment) in self.path[..self.len].iter().enumerate() {
            let last = depth + 1 == self.len;
            value = match segment {
                PathSegment::Field(key) => {
                    if !matches!(value, Value::Object(_)) {
                        *value = Value::Object(IndexMap::new());
                    }
                    let Value::Object(object) = value else { unreachable!("made an object above") };
                    let name = Name::new(key);
                    if !object.contains_key(&name) {
                        object.insert(name.clone(), Value::Null);
                        in_selection_order(object, &self.keys[depth]);
                    }
                    let Some(field) = object.get_mut(&name) else { unreachable!("inserted above") };
                    field
                }
                PathSegment::Index(index) => match value {
                    Value::List(items) if *index < items.len() => &mut items[*index],
                    _ => return Err(depth),
                },
            };
            if last {
                *value = Value::Null;
            }
        }
        if self.len == 0 {
            *value = Value::Null;
        }
        Ok(())
    }
}

/// Reorders an object whose key was filled in as its selection orders them.
fn in_selection_order(object: &mut IndexMap<Name, Value>, keys: &[Name]) {
    let mut ordered = IndexMap::with_capacity(object.len());
    for key in keys {
        if let Some(value) = object.shift_remove(key) {
            ordered.insert(key.clone(), value);
        }
    }
    ordered.extend(object.drain(..));
    *object = ordered;
}

/// The response keys of the selection sets, fragments expanded, in order, each once.
pub(super) fn response_keys(
    sets: &[&SelectionSet],
    fragments: &HashMap<Name, FragmentPositioned>,
    keys: &mut Vec<Name>,
) {
    for set in sets {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.clone();
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                Selection::InlineFragment(inline) => response_keys(&[&inline.node.selection_set.node], fragments, keys),
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = fragments.get(&spread.node.fragment_name.node) {
                        response_keys(&[&fragment.node.selection_set.node], fragments, keys);
                    }
                }
            }
        }
    }
}

type FragmentPositioned = async_graphql::Positioned<FragmentDefinition>;

/// The field name behind response key `key` in the selection sets (validation made it one
/// field), and the selection sets of every selection of it, which GraphQL merges.
pub(super) fn fields_named<'a>(
    key: &str,
    sets: &[&'a SelectionSet],
    fragments: &'a HashMap<Name, FragmentPositioned>,
    name: &mut Option<&'a str>,
    next: &mut Vec<&'a SelectionSet>,
) {
    for set in sets {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) if field.node.response_key().node.as_str() == key => {
                    *name = Some(field.node.name.node.as_str());
                    next.push(&field.node.selection_set.node);
                }
                Selection::Field(_) => {}
                Selection::InlineFragment(inline) => {
                    fields_named(key, &[&inline.node.selection_set.node], fragments, name, next);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = fragments.get(&spread.node.fragment_name.node) {
                        fields_named(key, &[&fragment.node.selection_set.node], fragments, name, next);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{Pos, value};

    use super::*;
    use async_graphql::parser::parse_query;

    fn error(path: &[&str]) -> ServerError {
        let mut error = ServerError::new("failed", Some(Pos::default()));
        error.path = path
            .iter()
            .map(|segment| match segment.parse() {
                Ok(index) => PathSegment::Index(index),
                Err(_) => PathSegment::Field((*segment).to_owned()),
            })
            .collect();
        error
    }

    fn propagated(mut data: Value, paths: &[&[&str]], query: &str) -> Value {
        let errors: Vec<_> = paths.iter().map(|path| error(path)).collect();
        propagate(&mut data, &errors, &parse_query(query).unwrap(), None);
        data
    }

    #[test]
    fn a_failed_nullable_field_is_null_in_the_order_of_its_selection() {
        let query = "{ a: user(id: \"x\") { id } b: user(id: \"y\") { id } }";
        assert_eq!(
            propagated(value!({ "b": { "id": "y" } }), &[&["a"]], query).to_string(),
            value!({ "a": null, "b": { "id": "y" } }).to_string()
        );
    }

    #[test]
    fn a_failed_root_mutation_field_nulls_data() {
        let query = "mutation { deleteOrder(id: \"x\") createUser(input: {}) { id } }";
        assert_eq!(propagated(value!({ "deleteOrder": true }), &[&["createUser"]], query), Value::Null);
    }

    #[test]
    fn a_failed_non_null_field_nulls_its_nearest_nullable_parent_through_fragments() {
        // UserConnection.nodes is [User!]!, User.id is UUID!: the null goes up to `users`.
        let query = "{ users { ...page } orders { totalCount } } fragment page on UserConnection { nodes { id } }";
        let data = value!({ "users": { "nodes": [null] }, "orders": { "totalCount": 1 } });
        assert_eq!(
            propagated(data, &[&["users", "nodes", "0", "id"]], query),
            value!({ "users": null, "orders": { "totalCount": 1 } })
        );
    }

    #[test]
    fn an_object_left_null_for_having_no_field_gets_its_keys_back() {
        let query = "{ orders { nodes { user { id } } } }";
        let data = value!({ "orders": { "nodes": [null] } });
        assert_eq!(
            propagated(data, &[&["orders", "nodes", "0", "user"]], query),
            value!({ "orders": { "nodes": [{ "user": null }] } })
        );
    }

    #[test]
    fn a_failure_below_a_missing_object_nulls_its_nearest_nullable_parent() {
        let query = "{ users { nodes { orders { nodes { id } } } } }";
        let data = value!({ "users": { "nodes": [{}] } });
        assert_eq!(
            propagated(data, &[&["users", "nodes", "0", "orders", "nodes", "3", "id"]], query),
            value!({ "users": { "nodes": [{ "orders": null }] } })
        );
    }
}
