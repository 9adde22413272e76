//! Parsed documents, kept by their text.
//!
//! Clients send the same few documents again and again (an app has a fixed set of queries, and
//! sends them with variables), and parsing is the costliest step of a small request. So a
//! document that parsed and passed [`crate::limits::check_document`] is kept, and the next
//! request with the same text starts from a copy of it.
//!
//! Validation is next. async-graphql's rules (known fields and types, argument and variable
//! types, fragments, overlapping fields...) read the schema and the document only, never the
//! variables, so a document that passed them once passes them again; what does depend on the
//! variables (complexity, through `first`) and the depth are computed every time. A kept
//! document is marked once a request with it ran without failing as a whole, and the later ones
//! run on a schema that skips the rules ([`async_graphql::ValidationMode::Fast`]).
//!
//! Bounded by the size of the texts kept (a parsed document takes a few times its text), and
//! only documents up to [`MAX_TEXT`] bytes are kept, so a stream of large one-off documents
//! cannot push the common ones out.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::parser::types::ExecutableDocument;
use quick_cache::{Weighter, sync::Cache};

/// The total length of the texts kept.
const CAPACITY_BYTES: u64 = 4 * 1024 * 1024;
/// The longest text kept.
const MAX_TEXT: usize = 32 * 1024;
/// What a typical document's text length is, to size the table.
const TYPICAL_TEXT: u64 = 512;

/// A parsed document, and whether it passed validation.
pub struct Kept {
    pub document: ExecutableDocument,
    validated: AtomicBool,
}

impl Kept {
    /// Whether a request with this document passed every validation rule.
    pub fn validated(&self) -> bool {
        self.validated.load(Ordering::Relaxed)
    }

    /// Records that a request with this document passed every validation rule.
    pub fn mark_validated(&self) {
        self.validated.store(true, Ordering::Relaxed);
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
        let kept = Arc::new(Kept { document: document.clone(), validated: AtomicBool::new(false) });
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
        documents.keep(text, &document).unwrap().mark_validated();
        let kept = documents.get(text).unwrap();
        assert_eq!(format!("{:?}", kept.document), format!("{document:?}"));
        assert!(kept.validated());
        assert!(documents.get("{ users { nodes { id nickName } } }").is_none());
    }

    #[test]
    fn long_texts_are_not_kept() {
        let documents = Documents::default();
        let text = format!("{{ __typename }}{}", " ".repeat(MAX_TEXT));
        assert!(documents.keep(&text, &parse_query(&text).unwrap()).is_none());
        assert!(documents.get(&text).is_none());
    }
}
