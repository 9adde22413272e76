//! Parsed documents, kept by their text.
//!
//! Clients send the same few documents again and again (an app has a fixed set of queries, and
//! sends them with variables), and parsing is the costliest step of a small request. So a
//! document that parsed and passed [`crate::limits::check_document`] is kept, and the next
//! request with the same text starts from a copy of it. Validation still runs every time:
//! it depends on the variables.
//!
//! Bounded by the size of the texts kept (a parsed document takes a few times its text), and
//! only documents up to [`MAX_TEXT`] bytes are kept, so a stream of large one-off documents
//! cannot push the common ones out.

use async_graphql::parser::types::ExecutableDocument;
use quick_cache::{Weighter, sync::Cache};

/// The total length of the texts kept.
const CAPACITY_BYTES: u64 = 4 * 1024 * 1024;
/// The longest text kept.
const MAX_TEXT: usize = 32 * 1024;
/// What a typical document's text length is, to size the table.
const TYPICAL_TEXT: u64 = 512;

#[derive(Clone)]
struct TextLength;

impl Weighter<String, ExecutableDocument> for TextLength {
    fn weight(&self, text: &String, _: &ExecutableDocument) -> u64 {
        text.len() as u64
    }
}

pub struct Documents {
    parsed: Cache<String, ExecutableDocument, TextLength>,
}

impl Default for Documents {
    fn default() -> Self {
        let items = (CAPACITY_BYTES / TYPICAL_TEXT) as usize;
        Self { parsed: Cache::with_weighter(items, CAPACITY_BYTES, TextLength) }
    }
}

impl Documents {
    /// A copy of the document parsed from `text`, if it is kept.
    pub fn get(&self, text: &str) -> Option<ExecutableDocument> {
        self.parsed.get(text)
    }

    /// Keeps `document`, parsed from `text` and accepted by the limits.
    pub fn keep(&self, text: &str, document: &ExecutableDocument) {
        if text.len() <= MAX_TEXT {
            self.parsed.insert(text.to_owned(), document.clone());
        }
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
        documents.keep(text, &document);
        let kept = documents.get(text).unwrap();
        assert_eq!(format!("{kept:?}"), format!("{document:?}"));
        assert!(documents.get("{ users { nodes { id nickName } } }").is_none());
    }

    #[test]
    fn long_texts_are_not_kept() {
        let documents = Documents::default();
        let text = format!("{{ __typename }}{}", " ".repeat(MAX_TEXT));
        documents.keep(&text, &parse_query(&text).unwrap());
        assert!(documents.get(&text).is_none());
    }
}
