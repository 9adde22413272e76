//! The fields of a response in the order the query selected them, as the GraphQL specification
//! orders them (CollectFields: by the first occurrence of each response key, through fragments).
//!
//! async-graphql 7.2 resolves an object's fields together and writes each as it finishes
//! (`resolver_utils/container.rs`, a `FuturesUnordered`): a field that waits on a service comes
//! out after the ones that did not. [`reorder`] puts every object of `data` back in selection
//! order, in place; an object already in order is left as it is. The schema has no interfaces
//! or unions, so every fragment of a selection applies to its object.

use async_graphql::{
    Name, Value,
    parser::types::{ExecutableDocument, SelectionSet},
};

use super::nulls::{fields_named, operation, response_keys};

/// Orders `data`, the answer to `document`'s operation `operation_name`.
pub fn reorder(data: &mut Value, document: &ExecutableDocument, operation_name: Option<&str>) {
    if let Some(operation) = operation(document, operation_name) {
        Plan::of(&[&operation.node.selection_set.node], document).apply(data);
    }
}

/// How the objects one selection gives are ordered: its response keys, and the same for each
/// key with a selection below it. Made once per answer, whatever the lists hold.
struct Plan {
    keys: Vec<Name>,
    below: Vec<(Name, Plan)>,
}

impl Plan {
    fn of(sets: &[&SelectionSet], document: &ExecutableDocument) -> Self {
        let mut keys = Vec::new();
        response_keys(sets, &document.fragments, &mut keys);
        let below = keys
            .iter()
            .filter_map(|key| {
                let (mut name, mut next) = (None, Vec::new());
                fields_named(key, sets, &document.fragments, &mut name, &mut next);
                next.iter().any(|set| !set.items.is_empty()).then(|| (key.clone(), Self::of(&next, document)))
            })
            .collect();
        Self { keys, below }
    }

    fn apply(&self, value: &mut Value) {
        match value {
            Value::List(items) => items.iter_mut().for_each(|item| self.apply(item)),
            Value::Object(fields) => {
                let position = |name: &Name| self.keys.iter().position(|key| key == name).unwrap_or(usize::MAX);
                if !fields.keys().map(position).is_sorted() {
                    fields.sort_by_cached_key(|name, _| position(name));
                }
                for (key, plan) in &self.below {
                    if let Some(child) = fields.get_mut(key) {
                        plan.apply(child);
                    }
                }
            }
            _ => {}
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
