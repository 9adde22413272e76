//! What a query costs, for async-graphql's complexity limit (GRAPHQL_MAX_COMPLEXITY): each
//! field 1, and a list field its selection once per item it may return ([`list_cost`]).

use async_graphql::{
    Positioned, VisitorContext,
    parser::types::{Field, VariableDefinition},
};

use super::pagination::{DEFAULT_FIRST, MAX_FIRST};

/// The complexity of a list field: 1, plus its selection once per item it may return.
///
/// `first` is clamped to the contract's 0..=100: outside it the resolver answers
/// BAD_USER_INPUT, as the contract says, rather than the whole query being refused as too
/// complex. A page costs its selection at least once, since `totalCount` and `pageInfo`
/// resolve even when it is empty.
pub fn list_cost(first: Option<i64>, child_complexity: usize) -> usize {
    let items = first.unwrap_or(DEFAULT_FIRST).clamp(1, MAX_FIRST);
    let items = usize::try_from(items).unwrap_or(1);
    child_complexity.saturating_mul(items).saturating_add(1)
}

/// The cost of a list field (`users`, `orders`, `User.orders`) for async-graphql's complexity
/// limit: [`list_cost`] of `first` as the resolver reads it. The list fields say
/// `complexity = "crate::graphql::complexity::list_cost_of(__ctx, __variables_definition, __field,
/// child_complexity)"`.
///
/// Why not `complexity = "list_cost(first, child_complexity)"`: async-graphql-derive 7.2 then
/// reads `first` with its declared type before the expression, and a value of the wrong kind
/// (`$f: Int` given `"ten"`) fails there too, as a second BAD_USER_INPUT beside the one the
/// validation rules already gave for that value, and one that names no field. So the expression
/// names the closure's own parameters (the derive calls them `__ctx`, `__variables_definition`,
/// `__field` and `child_complexity`; a rename breaks the build, not the behaviour) and `first`
/// is read here, leniently: a value that is not an `Int` costs as the default, the rules having
/// refused it already, with its field.
pub fn list_cost_of(
    ctx: &VisitorContext<'_>,
    variables: &[Positioned<VariableDefinition>],
    field: &Field,
    child_complexity: usize,
) -> usize {
    let first = ctx.param_value::<Option<i64>>(variables, field, "first", Some(|| Some(DEFAULT_FIRST))).ok().flatten();
    list_cost(first, child_complexity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    #[test]
    fn a_list_costs_its_selection_once_per_item_within_the_contract_bounds() {
        assert_eq!(list_cost(Some(10), 5), 51);
        assert_eq!(list_cost(None, 5), 101, "first defaults to 20");
        assert_eq!(list_cost(Some(0), 5), 6, "an empty page still resolves totalCount and pageInfo");
        assert_eq!(list_cost(Some(i64::MAX), 5), 501, "out of range is the resolver's BAD_USER_INPUT");
        assert_eq!(list_cost(Some(-7), 5), 6);
        assert_eq!(list_cost(Some(100), usize::MAX), usize::MAX);
    }

    /// Runs `query` on a schema without services: validation (and so the limits) is all that
    /// can pass or fail; resolvers then fail for want of services, with a path.
    async fn validation_errors(limits: &Limits, query: &str, variables: serde_json::Value) -> Vec<String> {
        let schema = crate::graphql::build_schema(None, limits);
        let request = async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables));
        let response = schema.execute(request).await;
        response.errors.into_iter().filter(|error| error.path.is_empty()).map(|error| error.message).collect()
    }

    #[tokio::test]
    async fn list_fields_cost_their_selection_once_per_item_asked_for() {
        let limits = Limits { max_complexity: 200, ..Limits::default() };
        let query = "query($first: Int) { users(first: $first) { totalCount pageInfo { hasNextPage } } }";
        // 1 + 20 × 3: a variable left out, or null, is the default page.
        for variables in
            [serde_json::json!({}), serde_json::json!({ "first": null }), serde_json::json!({ "first": 50 })]
        {
            assert!(validation_errors(&limits, query, variables.clone()).await.is_empty(), "{variables}");
        }
        // 1 + 100 × 3.
        let refused = validation_errors(&limits, query, serde_json::json!({ "first": 100 })).await;
        assert_eq!(refused, ["Query is too complex."]);
        let nested = "{ users(first: 5) { nodes { orders(first: 10) { nodes { id } } } } }";
        // users: 1 + 5 × (nodes: 1 + (orders: 1 + 10 × (nodes: 1 + id: 1))) = 111.
        let limits = Limits { max_complexity: 111, ..Limits::default() };
        assert!(validation_errors(&limits, nested, serde_json::json!({})).await.is_empty());
        let limits = Limits { max_complexity: 110, ..Limits::default() };
        assert_eq!(validation_errors(&limits, nested, serde_json::json!({})).await, ["Query is too complex."]);
    }

    #[tokio::test]
    async fn depth_counts_every_field_down_to_the_leaves() {
        let limits = Limits { max_depth: 3, ..Limits::default() };
        let three = "{ users { nodes { id } } }";
        assert!(validation_errors(&limits, three, serde_json::json!({})).await.is_empty());
        let four = "{ users { nodes { orders { totalCount } } } }";
        assert_eq!(validation_errors(&limits, four, serde_json::json!({})).await, ["Query is nested too deep."]);
    }
}
