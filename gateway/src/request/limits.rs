//! The limits stage: what the request path checks itself (README, "Limits"), so that a
//! refused request costs the services nothing.
//!
//! - [`check_batch`]: operations per batched POST (the body's size is bounded as it is read).
//! - Before anything reads the text, [`check_size`]: MAX_QUERY_BYTES, since parsing costs in
//!   proportion to the text.
//! - Before parsing, [`check_text`]: a document nested thousands of levels deep is refused
//!   from its text, in one pass, before the parser matches it; the same pass reads the `Int`
//!   literal `-0` as `0`, which async-graphql's parser cannot.
//! - After parsing, before validation, [`check_document`]: aliases and root fields per
//!   operation, fragment cycles, and the number of field selections once fragments are
//!   expanded. async-graphql's validation expands every fragment spread anew, so a few
//!   fragments that each spread the next twice would cost it billions of steps; here each
//!   fragment is counted once and remembered.
//!
//! Depth and complexity are async-graphql's, while it validates ([`crate::limits`]).

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet},
};

use async_graphql::{
    BatchRequest,
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

use super::error::RequestError;
use crate::limits::Limits;

/// Refuses a batch of more operations than MAX_BATCH_SIZE.
pub fn check_batch(batch: &BatchRequest, limits: &Limits) -> Result<(), RequestError> {
    match batch {
        BatchRequest::Batch(requests) if requests.len() > limits.max_batch_size => {
            Err(RequestError::BatchTooLarge { max: limits.max_batch_size, held: requests.len() })
        }
        _ => Ok(()),
    }
}

/// Refuses a query text longer than MAX_QUERY_BYTES, before a byte of it is read.
pub fn check_size(query: &str, limits: &Limits) -> Result<(), RequestError> {
    if query.len() > limits.max_query_bytes {
        return Err(RequestError::QueryTooLarge { max_bytes: limits.max_query_bytes });
    }
    Ok(())
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

/// Refuses a document whose `{`/`[` nesting passes [`MAX_NESTING`], reading only its text:
/// strings (block strings too) and comments do not count. Gives the text to parse: the same,
/// or, when it has `-0` tokens, a copy with each written ` 0`.
///
/// `-0` is an `Int` (the grammar's IntValue allows a sign before 0), but async-graphql's parser
/// hands a number's text to serde_json, which reads `-0` as the float -0.0, and the `Int`
/// scalar refuses floats. A space in place of the sign keeps every error location where it was.
/// `-0.5`, `-0e1` (floats) and `-01` (invalid) are left alone.
pub fn check_text(query: &str) -> Result<Cow<'_, str>, RequestError> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    // Allocated only for a text that has a `-0` token.
    let mut rewritten: Option<String> = None;
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
                    return Err(RequestError::TooDeep);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            // Outside strings and comments a `-` can only start a number.
            b'-' if bytes.get(i + 1) == Some(&b'0')
                && !bytes
                    .get(i + 2)
                    .is_some_and(|next| next.is_ascii_alphanumeric() || matches!(next, b'.' | b'_')) =>
            {
                rewritten.get_or_insert_with(|| query.to_owned()).replace_range(i..=i, " ");
            }
            _ => {}
        }
        i += 1;
    }
    Ok(rewritten.map_or(Cow::Borrowed(query), Cow::Owned))
}

/// Refuses a parsed document before validation: an operation with more aliases or root fields
/// than allowed, selection sets and fragment spreads nested past [`MAX_RECURSION`], a fragment
/// that spreads itself, `__schema`/`__type` when introspection is off, or more field
/// selections, fragments expanded, than the complexity budget (each costs at least 1 to
/// validate, whatever `first` says).
pub fn check_document(document: &ExecutableDocument, limits: &Limits) -> Result<(), RequestError> {
    let mut walker =
        Walker { document, budget: limits.max_complexity, fragments: HashMap::new(), open: HashSet::new() };
    let mut fields = 0usize;
    for (_, operation) in document.operations.iter() {
        let summary = walker.selection_set(&operation.node.selection_set.node, 0)?;
        fields = fields.saturating_add(summary.fields);
        if fields > limits.max_complexity {
            return Err(RequestError::TooComplex { max: limits.max_complexity });
        }
        if summary.aliases > limits.max_aliases {
            return Err(RequestError::TooManyAliases { max: limits.max_aliases, held: summary.aliases });
        }
        if summary.root_fields > limits.max_root_fields {
            return Err(RequestError::TooManyRootFields { max: limits.max_root_fields, held: summary.root_fields });
        }
        if summary.introspects && !limits.introspection {
            return Err(RequestError::IntrospectionDisabled);
        }
    }
    Ok(())
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
    fn selection_set(&mut self, set: &'a SelectionSet, level: usize) -> Result<Summary, RequestError> {
        if level > MAX_RECURSION {
            return Err(RequestError::TooDeep);
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
                return Err(RequestError::TooComplex { max: self.budget });
            }
        }
        Ok(summary)
    }

    fn fragment(&mut self, name: &'a str, level: usize) -> Result<Summary, RequestError> {
        if let Some(summary) = self.fragments.get(name) {
            if level + summary.height > MAX_RECURSION {
                return Err(RequestError::TooDeep);
            }
            return Ok(*summary);
        }
        // An unknown fragment is validation's to report.
        let Some(fragment) = self.document.fragments.get(name) else { return Ok(Summary::default()) };
        if !self.open.insert(name) {
            return Err(RequestError::FragmentCycle(name.to_owned()));
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
    use crate::graphql::error::code;

    fn check(query: &str, limits: &Limits) -> Result<(), RequestError> {
        let text = check_text(query)?;
        check_document(&parse_query(&text).expect("the test query parses"), limits)
    }

    fn code_of(query: &str, limits: &Limits) -> Option<&'static str> {
        check(query, limits).err().map(|refusal| refusal.code())
    }

    #[test]
    fn ordinary_queries_pass() {
        let limits = Limits::default();
        let query = "query Page($after: String) { users(first: 50, after: $after) { edges { cursor node { id \
                     ...U orders { nodes { id totalValue user { id } } } } } pageInfo { hasNextPage endCursor } } }
                     fragment U on User { nickName email }";
        assert!(check(query, &limits).is_ok());
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
        assert!([code::QUERY_TOO_COMPLEX, code::QUERY_TOO_DEEP].contains(&refusal.code()), "{refusal:?}");
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
        assert_eq!(check_text(&deep).unwrap_err().code(), code::QUERY_TOO_DEEP);
        let fits = format!("{}{}", "{ a ".repeat(MAX_NESTING), "}".repeat(MAX_NESTING));
        assert!(check_text(&fits).is_ok());
        let quoted = "{".repeat(MAX_NESTING + 1);
        for text in [
            format!("{{ a(b: \"{quoted}\") }}"),
            format!("{{ a(b: \"\"\"{quoted} \\\"\"\" {quoted}\"\"\") }}"),
            format!("# {quoted}\n{{ a }}"),
            format!("{{ a(b: \"\\\"{quoted}\") }}"),
        ] {
            assert!(check_text(&text).is_ok(), "{text}");
        }
        let lists = format!("{{ a(b: {}) }}", "[".repeat(MAX_NESTING + 1));
        assert_eq!(check_text(&lists).unwrap_err().code(), code::QUERY_TOO_DEEP);
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

    #[test]
    fn texts_longer_than_max_query_bytes_are_refused() {
        let limits = Limits { max_query_bytes: 16, ..Limits::default() };
        assert!(check_size("{ __typename }  ", &limits).is_ok());
        let refusal = check_size("{ __typename }   ", &limits).unwrap_err();
        assert_eq!((refusal.code(), refusal.status().as_u16()), (code::QUERY_TOO_LARGE, 400));
        assert_eq!(refusal.to_string(), "the query text is larger than 16 bytes");
    }

    #[test]
    fn minus_zero_is_read_as_zero_outside_strings_and_comments_only() {
        let rewrite = |text: &str| check_text(text).unwrap().into_owned();
        assert_eq!(rewrite("{ a(b: -0, c: [-0 -0]) }"), "{ a(b:  0, c: [ 0  0]) }");
        assert_eq!(rewrite("{ a(b: -0) }").len(), "{ a(b: -0) }".len(), "locations stay where they were");
        for untouched in [
            "{ a(b: -0.5, c: -0e1, d: -0E1, e: -01, f: -1, g: -10) }",
            r#"{ a(b: "-0", c: """ -0 \""" -0 """) }"#,
            "# -0\n{ a }",
            "{ a(b: -0x) }",
        ] {
            assert!(matches!(check_text(untouched), Ok(Cow::Borrowed(_))), "{untouched}");
        }
        assert_eq!(rewrite("{ a(b: -0)}"), "{ a(b:  0)}");
        assert_eq!(rewrite("query($n: Int = -0) { a }"), "query($n: Int =  0) { a }");
        assert_eq!(rewrite("{ a(b: -0"), "{ a(b:  0", "at the very end too");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_nesting_check_never_panics(text in "[{}\\[\\]\"#\\\\a \n]{0,200}") {
            let _ = check_text(&text);
        }

        #[test]
        fn the_text_check_keeps_the_length_and_never_panics(text in "[-0.e{}\"#\\\\a é\n]{0,200}") {
            if let Ok(checked) = check_text(&text) {
                prop_assert_eq!(checked.len(), text.len());
            }
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
