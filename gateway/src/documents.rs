//! Parsed documents, kept by their text.
//!
//! Clients send the same few documents again and again (an app has a fixed set of queries, and
//! sends them with variables), and parsing is the costliest step of a small request. So a
//! document that parsed and passed [`crate::request::limits::check_document`] is kept, and the next
//! request with the same text starts from a copy of it.
//!
//! Validation is next. async-graphql's rules (known fields and types, argument types,
//! fragments, overlapping fields...) read the schema, the document and, for the arguments, the
//! kinds of the variables' values: `first: $n` with `"n": "abc"` is refused there, naming the
//! argument, before any field runs. So a kept document remembers the [`shape`]s of variables
//! (operation name, and each value's kind, not the value) it passed every rule with, once a
//! request ran without failing as a whole; a later request with the same document and a known
//! shape runs on a schema that skips the rules ([`async_graphql::ValidationMode::Fast`]), and
//! any other is checked in full. What depends on the values themselves (complexity, through
//! `first`) and the depth are computed every time.
//!
//! Bounded by the size of the texts kept (a parsed document takes a few times its text), and
//! only documents up to [`MAX_TEXT`] bytes are kept, so a stream of large one-off documents
//! cannot push the common ones out.

use std::{
    hash::{Hash, Hasher},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use async_graphql::{Value, Variables, parser::types::ExecutableDocument};
use quick_cache::{Weighter, sync::Cache};

/// The total length of the texts kept.
const CAPACITY_BYTES: u64 = 4 * 1024 * 1024;
/// The longest text kept.
const MAX_TEXT: usize = 32 * 1024;
/// What a typical document's text length is, to size the table.
const TYPICAL_TEXT: u64 = 512;

/// How many shapes of variables a kept document remembers; a request with any other shape is
/// validated in full (an app sends a document with one or two).
const SHAPES: usize = 8;

/// A parsed document, and the shapes of variables it passed validation with.
pub struct Kept {
    pub document: ExecutableDocument,
    /// [`shape`]s, 0 for a free slot.
    validated: [AtomicU64; SHAPES],
}

impl Kept {
    fn new(document: ExecutableDocument) -> Self {
        Self { document, validated: Default::default() }
    }

    /// Whether a request with this document and variables of this shape passed every rule.
    pub fn validated(&self, shape: u64) -> bool {
        self.validated.iter().any(|slot| slot.load(Ordering::Relaxed) == shape)
    }

    /// Records that a request with this document and variables of this shape passed every rule.
    pub fn mark_validated(&self, shape: u64) {
        for slot in &self.validated {
            match slot.compare_exchange(0, shape, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(held) if held == shape => return,
                Err(_) => {}
            }
        }
    }
}

/// What of a request the validation rules read besides the document: the operation chosen and
/// the kind of every variable's value (null, boolean, an `Int`-sized integer, a larger one, a
/// fraction, a string, and the same for lists and objects with their keys), never the value.
/// Never 0.
///
/// Text is text here: no input type of this schema tells strings apart by their content during
/// validation (there are no input enums; `UUID`, `Decimal` and `DateTime` inputs are read by
/// the resolvers, which refuse bad text themselves). `tests::the_schema_has_no_enum` keeps it so.
pub fn shape(operation_name: Option<&str>, variables: &Variables) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    operation_name.hash(&mut hasher);
    for (name, value) in variables.iter() {
        name.as_str().hash(&mut hasher);
        hash_kind(value, &mut hasher);
    }
    hasher.finish().max(1)
}

fn hash_kind(value: &Value, hasher: &mut impl Hasher) {
    match value {
        Value::Null => hasher.write_u8(0),
        Value::Boolean(_) => hasher.write_u8(1),
        Value::Number(number) => match number.as_i64() {
            Some(int) if i32::try_from(int).is_ok() => hasher.write_u8(2),
            Some(_) => hasher.write_u8(3),
            None if number.is_u64() => hasher.write_u8(3),
            None => hasher.write_u8(4),
        },
        Value::String(_) => hasher.write_u8(5),
        Value::Binary(_) => hasher.write_u8(6),
        Value::Enum(name) => {
            hasher.write_u8(7);
            name.as_str().hash(hasher);
        }
        Value::List(items) => {
            hasher.write_u8(8);
            hasher.write_usize(items.len());
            items.iter().for_each(|item| hash_kind(item, hasher));
        }
        Value::Object(fields) => {
            hasher.write_u8(9);
            hasher.write_usize(fields.len());
            for (key, field) in fields {
                key.as_str().hash(hasher);
                hash_kind(field, hasher);
            }
        }
    }
}

#[derive(Clone)]
struct TextLength;

impl Weighter<String, Arc<Kept>> for TextLength {
    fn weight(&self, text: &String, _: &Arc<Kept>) -> u64 {
        text.len() as u64
    }
}

pub struct Documents {
    parsed: Cache<String, Arc<Kept>, TextLength>,
}

impl Default for Documents {
    fn default() -> Self {
        let items = (CAPACITY_BYTES / TYPICAL_TEXT) as usize;
        Self { parsed: Cache::with_weighter(items, CAPACITY_BYTES, TextLength) }
    }
}

impl Documents {
    /// The document parsed from `text`, if it is kept.
    pub fn get(&self, text: &str) -> Option<Arc<Kept>> {
        self.parsed.get(text)
    }

    /// Keeps `document`, parsed from `text` and accepted by the limits, unless the text is too
    /// long to keep; returns what is kept.
    pub fn keep(&self, text: &str, document: &ExecutableDocument) -> Option<Arc<Kept>> {
        if text.len() > MAX_TEXT {
            return None;
        }
        let kept = Arc::new(Kept::new(document.clone()));
        self.parsed.insert(text.to_owned(), kept.clone());
        Some(kept)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    #[test]
    fn a_kept_document_comes_back_for_the_same_text_only() {
        let documents = Documents::default();
        let text = "{ users { nodes { id } } }";
        let document = parse_query(text).unwrap();
        assert!(documents.get(text).is_none());
        documents.keep(text, &document).unwrap().mark_validated(7);
        let kept = documents.get(text).unwrap();
        assert_eq!(format!("{:?}", kept.document), format!("{document:?}"));
        assert!(kept.validated(7) && !kept.validated(8));
        assert!(documents.get("{ users { nodes { id nickName } } }").is_none());
    }

    fn variables(json: serde_json::Value) -> Variables {
        Variables::from_json(json)
    }

    #[test]
    fn a_shape_is_the_kinds_of_the_values_not_the_values() {
        let of = |json| shape(None, &variables(json));
        let id = serde_json::json!({ "id": "01a1fe43-2ae9-7360-969a-934882dae4e5", "n": 5 });
        assert_eq!(of(id), of(serde_json::json!({ "id": "nope", "n": 7 })));
        let kinds = [
            serde_json::json!({ "n": 5 }),
            serde_json::json!({ "n": "5" }),
            serde_json::json!({ "n": 1.5 }),
            serde_json::json!({ "n": 99_999_999_999_i64 }),
            serde_json::json!({ "n": null }),
            serde_json::json!({ "n": true }),
            serde_json::json!({ "n": [5] }),
            serde_json::json!({ "n": { "a": 5 } }),
            serde_json::json!({ "n": { "b": 5 } }),
            serde_json::json!({ "n": { "a": "5" } }),
            serde_json::json!({ "m": 5 }),
            serde_json::json!({}),
        ];
        for (i, a) in kinds.iter().enumerate() {
            for b in &kinds[i + 1..] {
                assert_ne!(of(a.clone()), of(b.clone()), "{a} and {b}");
            }
        }
        let none = variables(serde_json::json!({}));
        assert_ne!(shape(Some("A"), &none), shape(Some("B"), &none));
    }

    #[test]
    fn no_input_is_an_enum() {
        // A shape holds no text, which is right only while no input type tells text apart
        // during validation. An enum would: take its values into `shape` before an argument or
        // an input field is one. (Output enums, such as `ChangeKind`, are no concern.)
        use async_graphql::parser::{
            parse_schema,
            types::{TypeKind, TypeSystemDefinition},
        };
        let document = parse_schema(crate::graphql::sdl()).unwrap();
        let types = || {
            document.definitions.iter().filter_map(|definition| match definition {
                TypeSystemDefinition::Type(ty) => Some(&ty.node),
                _ => None,
            })
        };
        let enums: Vec<String> =
            types().filter(|ty| matches!(ty.kind, TypeKind::Enum(_))).map(|ty| ty.name.node.to_string()).collect();
        let mut inputs: Vec<String> = Vec::new();
        for ty in types() {
            match &ty.kind {
                TypeKind::Object(object) => {
                    for field in &object.fields {
                        inputs.extend(field.node.arguments.iter().map(|argument| argument.node.ty.node.to_string()));
                    }
                }
                TypeKind::InputObject(input) => {
                    inputs.extend(input.fields.iter().map(|field| field.node.ty.node.to_string()))
                }
                _ => {}
            }
        }
        for input in &inputs {
            let name = input.trim_matches(|c| matches!(c, '[' | ']' | '!'));
            assert!(!enums.iter().any(|e| e == name), "{input} is an enum taken as input");
        }
        assert!(!inputs.is_empty());
    }

    #[test]
    fn long_texts_are_not_kept() {
        let documents = Documents::default();
        let text = format!("{{ __typename }}{}", " ".repeat(MAX_TEXT));
        assert!(documents.keep(&text, &parse_query(&text).unwrap()).is_none());
        assert!(documents.get(&text).is_none());
    }
}
