//! What one request may ask of the gateway, and the checks async-graphql cannot make itself.
//!
//! A public GraphQL endpoint is an open door to expensive queries: deep nesting, lists of
//! lists, the same field under a thousand aliases, fragments that double at every level.
//! Every limit here is read from the environment ([`Limits`]), and every default is chosen
//! so that real clients (Apollo, urql, Relay, GraphiQL and its introspection query) never
//! meet it, while abuse is refused before any resolver runs, so before any RPC is sent.
//!
//! - Depth and complexity: async-graphql, during validation (`SchemaBuilder::limit_depth`,
//!   `limit_complexity`); list fields cost their selection once per item, by `first`
//!   ([`list_cost`]).
//! - Before parsing, [`check_nesting`]: a document nested thousands of levels deep is refused
//!   from its text, in one pass, before the parser matches it.
//! - After parsing, before validation, [`check_document`]: aliases and root fields per
//!   operation, fragment cycles, and the number of field selections once fragments are
//!   expanded. async-graphql's validation expands every fragment spread anew, so a few
//!   fragments that each spread the next twice would cost it billions of steps; here each
//!   fragment is counted once and remembered.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use crate::graphql::{
    error::code,
    pagination::{DEFAULT_FIRST, MAX_FIRST},
};

/// The limits of the GraphQL edge, from the environment (README, "Limits").
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// How deeply fields may nest, leaves included. Default 16: graphql-js's full
    /// introspection query (GraphiQL's) is 15 deep; a client's deep path here, an order's user's
    /// orders (`orders { edges { node { user { orders { edges { node { id`), is 8.
    #[arg(long = "graphql-max-depth", env = "GRAPHQL_MAX_DEPTH", default_value_t = Limits::DEFAULT.max_depth)]
    pub max_depth: usize,

    /// The most a query may cost: each field costs 1, and a list field (`users`, `orders`,
    /// `User.orders`) costs 1 plus its selection once per item it may return (`first`).
    /// Default 50000: a full page of 100 users, each with their first 20 orders, every field
    /// in Relay's shape (edges, cursors, pageInfo, totalCount), costs 35801; the same with 100
    /// orders each costs 171801; GraphiQL's introspection query, 230.
    #[arg(long = "graphql-max-complexity", env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = Limits::DEFAULT.max_complexity)]
    pub max_complexity: usize,

    /// How many aliased fields one operation may hold, fragments expanded. Default 30:
    /// generated clients alias rarely, while a thousand aliases of one field (say
    /// `changePassword`, to guess passwords in bulk) is the classic abuse.
    #[arg(long = "graphql-max-aliases", env = "GRAPHQL_MAX_ALIASES", default_value_t = Limits::DEFAULT.max_aliases)]
    pub max_aliases: usize,

    /// How many fields the root of one operation may select, fragments expanded; each is
    /// at least one RPC. Default 20.
    #[arg(long = "graphql-max-root-fields", env = "GRAPHQL_MAX_ROOT_FIELDS", default_value_t = Limits::DEFAULT.max_root_fields)]
    pub max_root_fields: usize,

    /// The largest POST body, in bytes; larger is a 413. Default 1 MiB (1048576): the
    /// introspection query is a few KiB, and no input of the contract comes near 100 KiB.
    #[arg(long = "max-body-bytes", env = "MAX_BODY_BYTES", default_value_t = Limits::DEFAULT.max_body_bytes)]
    pub max_body_bytes: usize,

    /// How many operations one batched POST may carry. Default 10: Apollo's batch link
    /// sends at most 10.
    #[arg(long = "max-batch-size", env = "MAX_BATCH_SIZE", default_value_t = Limits::DEFAULT.max_batch_size)]
    pub max_batch_size: usize,

    /// How long one HTTP request may run, in milliseconds; then 504 with code TIMEOUT.
    /// Default 15000: three times RPC_TIMEOUT_MS's default, room for a few levels of
    /// batched calls each at its slowest.
    #[arg(long = "request-timeout-ms", env = "REQUEST_TIMEOUT_MS", default_value_t = Limits::DEFAULT.request_timeout_ms)]
    pub request_timeout_ms: u64,

    /// Whether `__schema` and `__type` answer. Default true; `false` turns them off.
    #[arg(
        long = "graphql-introspection",
        env = "GRAPHQL_INTROSPECTION",
        default_value_t = Limits::DEFAULT.introspection,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    pub introspection: bool,

    /// Whether browsers get GraphiQL at `GET /graphql`. Default true; `false` turns it off.
    #[arg(
        long = "graphiql",
        env = "GRAPHIQL",
        default_value_t = Limits::DEFAULT.graphiql,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    pub graphiql: bool,
}

impl Limits {
    /// The defaults, in one place for clap and for [`Default`].
    pub const DEFAULT: Self = Self {
        max_depth: 16,
        max_complexity: 50_000,
        max_aliases: 30,
        max_root_fields: 20,
        max_body_bytes: 1024 * 1024,
        max_batch_size: 10,
        request_timeout_ms: 15_000,
        introspection: true,
        graphiql: true,
    };

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

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

/// The nesting of `{` and `[` the document text may reach. The parser refuses more than 64
/// nested selection sets too, and async-graphql more than 32 levels of selection sets and
/// fragment spreads, but only once the grammar has matched the whole text, which is the slow
/// part: a thousand levels take the parser milliseconds, this scan microseconds. (Values nest
/// with `[` and `{` too; the contract's inputs nest two levels.)
pub const MAX_NESTING: usize = 64;

/// The levels of selection sets and fragment spreads async-graphql accepts (its
/// `limit_recursive_depth`, 32 by default); [`check_document`] stops at the same level.
pub const MAX_RECURSION: usize = 32;

/// A request refused before it ran: its `extensions.code` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    fn too_deep() -> Self {
        Self::new(code::QUERY_TOO_DEEP, "the query is nested too deeply")
    }
}

/// Refuses a document whose `{`/`[` nesting passes [`MAX_NESTING`], reading only its text:
/// strings (block strings too) and comments do not count.
pub fn check_nesting(query: &str) -> Result<(), Refusal> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                // A block string ends at the first `"""` not escaped as `\"""`.
                i += 3;
                while i < bytes.len() && !(bytes[i..].starts_with(b"\"\"\"") && bytes[i - 1] != b'\\') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Refusal::too_deep());
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Refuses a parsed document before validation: an operation with more aliases or root fields
/// than allowed, selection sets and fragment spreads nested past [`MAX_RECURSION`], a fragment
/// that spreads itself, `__schema`/`__type` when introspection is off, or more field
/// selections, fragments expanded, than the complexity budget (each costs at least 1 to
/// validate, whatever `first` says).
pub fn check_document(document: &ExecutableDocument, limits: &Limits) -> Result<(), Refusal> {
    let mut walker =
        Walker { document, budget: limits.max_complexity, fragments: HashMap::new(), open: HashSet::new() };
    let mut fields = 0usize;
    for (_, operation) in document.operations.iter() {
        let summary = walker.selection_set(&operation.node.selection_set.node, 0)?;
        fields = fields.saturating_add(summary.fields);
        if fields > limits.max_complexity {
            return Err(too_complex(limits));
        }
        if summary.aliases > limits.max_aliases {
            return Err(Refusal::new(
                code::TOO_MANY_ALIASES,
                format!(
                    "an operation may hold at most {} aliases; this one holds {}",
                    limits.max_aliases, summary.aliases
                ),
            ));
        }
        if summary.root_fields > limits.max_root_fields {
            return Err(Refusal::new(
                code::TOO_MANY_ROOT_FIELDS,
                format!(
                    "an operation may select at most {} root fields; this one selects {}",
                    limits.max_root_fields, summary.root_fields
                ),
            ));
        }
        if summary.introspects && !limits.introspection {
            return Err(Refusal::new(code::INTROSPECTION_DISABLED, "introspection is turned off on this server"));
        }
    }
    Ok(())
}

fn too_complex(limits: &Limits) -> Refusal {
    Refusal::new(code::QUERY_TOO_COMPLEX, format!("the query selects more than {} fields", limits.max_complexity))
}

/// What a selection set holds once its fragments are expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    /// Field selections, at every level.
    fields: usize,
    aliases: usize,
    /// Fields of the set's own level (through inline fragments and spreads too).
    root_fields: usize,
    /// How many levels of selection sets and spreads lie below the set.
    height: usize,
    introspects: bool,
}

impl Summary {
    /// Adds what a nested set holds, one level below; `same_level` when it is a fragment
    /// (inline or spread), whose fields belong to this set's level.
    fn absorb(&mut self, inner: Summary, same_level: bool) {
        self.fields = self.fields.saturating_add(inner.fields);
        self.aliases = self.aliases.saturating_add(inner.aliases);
        if same_level {
            self.root_fields = self.root_fields.saturating_add(inner.root_fields);
        }
        self.height = self.height.max(inner.height + 1);
        self.introspects |= inner.introspects;
    }
}

struct Walker<'a> {
    document: &'a ExecutableDocument,
    budget: usize,
    /// Each fragment, counted once: expanded again at every spread, a chain of fragments that
    /// each spread the next twice would double at every link.
    fragments: HashMap<&'a str, Summary>,
    /// Fragments being counted: spreading one of them again is a cycle.
    open: HashSet<&'a str>,
}

impl<'a> Walker<'a> {
    /// `level` counts selection sets and spreads as async-graphql's recursion check does, and
    /// bounds this recursion as well.
    fn selection_set(&mut self, set: &'a SelectionSet, level: usize) -> Result<Summary, Refusal> {
        if level > MAX_RECURSION {
            return Err(Refusal::too_deep());
        }
        let mut summary = Summary::default();
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    summary.fields = summary.fields.saturating_add(1);
                    summary.root_fields = summary.root_fields.saturating_add(1);
                    summary.aliases = summary.aliases.saturating_add(usize::from(field.alias.is_some()));
                    summary.introspects |= matches!(field.name.node.as_str(), "__schema" | "__type");
                    if !field.selection_set.node.items.is_empty() {
                        let inner = self.selection_set(&field.selection_set.node, level + 1)?;
                        summary.absorb(inner, false);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let inner = self.selection_set(&fragment.node.selection_set.node, level + 1)?;
                    summary.absorb(inner, true);
                }
                Selection::FragmentSpread(spread) => {
                    let inner = self.fragment(spread.node.fragment_name.node.as_str(), level + 1)?;
                    summary.absorb(inner, true);
                }
            }
            // Stop as soon as the budget is spent, however the rest of the document looks.
            if summary.fields > self.budget {
                return Err(Refusal::new(
                    code::QUERY_TOO_COMPLEX,
                    format!("the query selects more than {} fields", self.budget),
                ));
            }
        }
        Ok(summary)
    }

    fn fragment(&mut self, name: &'a str, level: usize) -> Result<Summary, Refusal> {
        if let Some(summary) = self.fragments.get(name) {
            if level + summary.height > MAX_RECURSION {
                return Err(Refusal::too_deep());
            }
            return Ok(*summary);
        }
        // An unknown fragment is validation's to report.
        let Some(fragment) = self.document.fragments.get(name) else { return Ok(Summary::default()) };
        if !self.open.insert(name) {
            return Err(Refusal::new(
                code::GRAPHQL_VALIDATION_FAILED,
                format!("cannot spread fragment \"{name}\" within itself"),
            ));
        }
        let summary = self.selection_set(&fragment.node.selection_set.node, level)?;
        self.open.remove(name);
        self.fragments.insert(name, summary);
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use proptest::prelude::*;

    use super::*;

    fn check(query: &str, limits: &Limits) -> Result<(), Refusal> {
        check_nesting(query)?;
        check_document(&parse_query(query).expect("the test query parses"), limits)
    }

    fn code_of(query: &str, limits: &Limits) -> Option<&'static str> {
        check(query, limits).err().map(|refusal| refusal.code)
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let limits = Limits::default();
        assert_eq!(limits.max_body_bytes, 1_048_576);
        assert!(limits.introspection && limits.graphiql);
        assert_eq!(limits.request_timeout(), Duration::from_secs(15));
    }

    #[test]
    fn limits_are_read_like_the_environment_gives_them() {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            limits: Limits,
        }
        use clap::Parser as _;
        let parsed = Command::try_parse_from(["gateway"]).unwrap().limits;
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Limits::default()));
        let args = ["gateway", "--graphql-max-depth", "7", "--graphql-introspection", "false", "--graphiql", "off"];
        let parsed = Command::try_parse_from(args).unwrap().limits;
        assert_eq!((parsed.max_depth, parsed.introspection, parsed.graphiql), (7, false, false));
        assert!(Command::try_parse_from(["gateway", "--max-body-bytes", "-1"]).is_err());
    }

    #[test]
    fn a_list_costs_its_selection_once_per_item_within_the_contract_bounds() {
        assert_eq!(list_cost(Some(10), 5), 51);
        assert_eq!(list_cost(None, 5), 101, "first defaults to 20");
        assert_eq!(list_cost(Some(0), 5), 6, "an empty page still resolves totalCount and pageInfo");
        assert_eq!(list_cost(Some(i64::MAX), 5), 501, "out of range is the resolver's BAD_USER_INPUT");
        assert_eq!(list_cost(Some(-7), 5), 6);
        assert_eq!(list_cost(Some(100), usize::MAX), usize::MAX);
    }

    #[test]
    fn ordinary_queries_pass() {
        let limits = Limits::default();
        let query = "query Page($after: String) { users(first: 50, after: $after) { edges { cursor node { id \
                     ...U orders { nodes { id totalValue user { id } } } } } pageInfo { hasNextPage endCursor } } }
                     fragment U on User { nickName email }";
        assert_eq!(check(query, &limits), Ok(()));
    }

    #[test]
    fn aliases_are_counted_per_operation_with_fragments_expanded() {
        let limits = Limits { max_aliases: 3, ..Limits::default() };
        assert_eq!(code_of("{ a: users { totalCount } b: users { totalCount } c: __typename }", &limits), None);
        assert_eq!(
            code_of("{ ...F ...F } fragment F on Query { a: __typename b: __typename }", &limits),
            Some(code::TOO_MANY_ALIASES)
        );
        assert_eq!(
            code_of("query A { a: __typename b: __typename } query B { c: __typename d: __typename }", &limits),
            None
        );
    }

    #[test]
    fn root_fields_are_counted_through_fragments_but_not_below_the_root() {
        let limits = Limits { max_root_fields: 2, ..Limits::default() };
        assert_eq!(code_of("{ users { nodes { id nickName email } } __typename }", &limits), None);
        assert_eq!(
            code_of(
                "{ users { totalCount } ... on Query { orders { totalCount } } ...F } fragment F on Query { __typename }",
                &limits
            ),
            Some(code::TOO_MANY_ROOT_FIELDS)
        );
    }

    #[test]
    fn introspection_is_refused_only_when_turned_off() {
        let query = "{ ...F } fragment F on Query { __schema { queryType { name } } }";
        assert_eq!(code_of(query, &Limits::default()), None);
        let off = Limits { introspection: false, ..Limits::default() };
        assert_eq!(code_of(query, &off), Some(code::INTROSPECTION_DISABLED));
        assert_eq!(code_of("{ __typename users { totalCount } }", &off), None, "__typename is not introspection");
    }

    #[test]
    fn fragments_that_double_at_every_level_are_refused_at_once() {
        let mut query = String::from("{ ...F0 }");
        for level in 0..40 {
            query.push_str(&format!(" fragment F{level} on Query {{ ...F{next} ...F{next} }}", next = level + 1));
        }
        query.push_str(" fragment F40 on Query { __typename }");
        // 2^40 expanded selections; counted once per fragment, then refused as too deep or too
        // complex, whichever comes first.
        let refusal = check(&query, &Limits::default()).unwrap_err();
        assert!([code::QUERY_TOO_COMPLEX, code::QUERY_TOO_DEEP].contains(&refusal.code), "{refusal:?}");
        let mut shallow = String::from("{ ...F0 }");
        for level in 0..20 {
            shallow.push_str(&format!(" fragment F{level} on Query {{ ...F{next} ...F{next} }}", next = level + 1));
        }
        shallow.push_str(" fragment F20 on Query { __typename }");
        assert_eq!(code_of(&shallow, &Limits::default()), Some(code::QUERY_TOO_COMPLEX));
    }

    #[test]
    fn a_fragment_that_spreads_itself_is_refused() {
        let query = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert_eq!(code_of(query, &Limits::default()), Some(code::GRAPHQL_VALIDATION_FAILED));
    }

    #[test]
    fn nesting_is_measured_on_the_text_ignoring_strings_and_comments() {
        let deep = format!("{}{}", "{ a ".repeat(MAX_NESTING + 1), "}".repeat(MAX_NESTING + 1));
        assert_eq!(check_nesting(&deep).unwrap_err().code, code::QUERY_TOO_DEEP);
        let fits = format!("{}{}", "{ a ".repeat(MAX_NESTING), "}".repeat(MAX_NESTING));
        assert_eq!(check_nesting(&fits), Ok(()));
        let quoted = "{".repeat(MAX_NESTING + 1);
        for text in [
            format!("{{ a(b: \"{quoted}\") }}"),
            format!("{{ a(b: \"\"\"{quoted} \\\"\"\" {quoted}\"\"\") }}"),
            format!("# {quoted}\n{{ a }}"),
            format!("{{ a(b: \"\\\"{quoted}\") }}"),
        ] {
            assert_eq!(check_nesting(&text), Ok(()), "{text}");
        }
        let lists = format!("{{ a(b: {}) }}", "[".repeat(MAX_NESTING + 1));
        assert_eq!(check_nesting(&lists).unwrap_err().code, code::QUERY_TOO_DEEP);
    }

    #[test]
    fn nesting_past_async_graphqls_recursion_limit_is_refused_without_recursing_further() {
        let nested = |levels: usize| format!("{{ {}a {} }}", "a { ".repeat(levels), "} ".repeat(levels));
        assert_eq!(code_of(&nested(MAX_RECURSION), &Limits::default()), None);
        assert_eq!(code_of(&nested(MAX_RECURSION + 1), &Limits::default()), Some(code::QUERY_TOO_DEEP));
        // A chain of fragments nests as deeply as the selection sets it stands for.
        let mut chain = String::from("{ ...F0 }");
        for level in 0..MAX_RECURSION {
            chain.push_str(&format!(" fragment F{level} on Query {{ ...F{} }}", level + 1));
        }
        chain.push_str(&format!(" fragment F{MAX_RECURSION} on Query {{ __typename }}"));
        assert_eq!(code_of(&chain, &Limits::default()), Some(code::QUERY_TOO_DEEP));
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_nesting_check_never_panics(text in "[{}\\[\\]\"#\\\\a \n]{0,200}") {
            let _ = check_nesting(&text);
        }

        #[test]
        fn the_document_check_never_panics_on_documents_that_parse(
            pieces in proptest::collection::vec(
                prop_oneof![Just("{"), Just("}"), Just("a "), Just("b: a "), Just("...F "), Just("... on Query ")],
                0..60,
            ),
        ) {
            let text = format!("{} fragment F on Query {{ a ...G }} fragment G on Query {{ b: a }}", pieces.concat());
            if let Ok(document) = parse_query(&text) {
                let _ = check_document(&document, &Limits::default());
            }
        }
    }
}
