//! The fields of a response in the order the query selected them, as the GraphQL specification
//! orders them (CollectFields: by the first occurrence of each response key, through fragments).
//!
//! async-graphql 7.2 resolves an object's fields together and writes each as it finishes
//! (`resolver_utils/container.rs`, a `FuturesUnordered`): a field that waits on a service comes
//! out after the ones that did not. [`reorder`] puts every object of `data` back in selection
//! order, in place; an object already in order is left as it is. The schema has no interfaces
//! or unions, so every fragment of a selection applies to its object.

use async_graphql::{
    Value,
    parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet},
};

/// Orders `data`, the answer to `document`'s operation `operation_name`.
pub fn reorder(data: &mut Value, document: &ExecutableDocument, operation_name: Option<&str>) {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => match operations.get(name) {
            Some(operation) => operation,
            None => return,
        },
        (DocumentOperations::Multiple(operations), None) => match operations.values().next() {
            Some(operation) if operations.len() == 1 => operation,
            _ => return,
        },
    };
    order(data, &[&operation.node.selection_set.node], document);
}

/// One response key of a selection, with the selections of every field under that key.
type Key<'a> = (&'a str, Vec<&'a SelectionSet>);

fn order(value: &mut Value, selections: &[&SelectionSet], document: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                order(item, selections, document);
            }
        }
        Value::Object(fields) => {
            let mut keys: Vec<Key<'_>> = Vec::new();
            for selection in selections {
                collect(selection, document, &mut keys);
            }
            let position = |name: &str| keys.iter().position(|(key, _)| *key == name).unwrap_or(usize::MAX);
            if !fields.keys().map(|name| position(name.as_str())).is_sorted() {
                fields.sort_by_cached_key(|name, _| position(name.as_str()));
            }
            for (key, below) in &keys {
                if let (false, Some(child)) = (below.is_empty(), fields.get_mut(*key)) {
                    order(child, below, document);
                }
            }
        }
        _ => {}
    }
}

/// The response keys of `selection`, in order, fragments spread in place.
fn collect<'a>(selection: &'a SelectionSet, document: &'a ExecutableDocument, keys: &mut Vec<Key<'a>>) {
    for item in &selection.items {
        match &item.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.as_str();
                let below = &field.node.selection_set.node;
                let below = (!below.items.is_empty()).then_some(below);
                match keys.iter_mut().find(|(name, _)| *name == key) {
                    Some((_, selections)) => selections.extend(below),
                    None => keys.push((key, below.into_iter().collect())),
                }
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect(&fragment.node.selection_set.node, document, keys);
                }
            }
            Selection::InlineFragment(fragment) => collect(&fragment.node.selection_set.node, document, keys),
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{Name, parser::parse_query};

    use super::*;

    fn object(fields: &[(&str, Value)]) -> Value {
        Value::Object(fields.iter().map(|(name, value)| (Name::new(name), value.clone())).collect())
    }

    fn keys(value: &Value) -> Vec<String> {
        match value {
            Value::Object(fields) => fields.keys().map(ToString::to_string).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn fields_come_back_in_selection_order_through_aliases_fragments_and_lists() {
        let document = parse_query(
            "query Q { order(id: 1) { u: user { nickName id } id ...Money } viewer { id } } \
             fragment Money on Order { totalValue id }",
        )
        .unwrap();
        let user = object(&[("id", Value::from(1)), ("nickName", Value::from("ana"))]);
        let order_value =
            object(&[("totalValue", Value::from("1.00")), ("id", Value::from(2)), ("u", Value::List(vec![user]))]);
        let mut data = object(&[("viewer", object(&[("id", Value::from(3))])), ("order", order_value)]);
        reorder(&mut data, &document, Some("Q"));
        assert_eq!(keys(&data), ["order", "viewer"]);
        let Value::Object(fields) = &data else { unreachable!() };
        assert_eq!(keys(&fields["order"]), ["u", "id", "totalValue"]);
        let Value::Object(order) = &fields["order"] else { unreachable!() };
        let Value::List(users) = &order["u"] else { unreachable!() };
        assert_eq!(keys(&users[0]), ["nickName", "id"]);
    }
}
