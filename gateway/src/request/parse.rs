//! The parse stage, and keep: a request's document is taken from the documents kept by their
//! text ([`Documents`]) or parsed, and once it passed the limits, kept for the next request
//! with the same text. A request's path through it is [`super::prepare`]'s.

use std::sync::Arc;

use async_graphql::{Request, parser::types::ExecutableDocument};

use super::error::RequestError;
use crate::documents::{Documents, Kept};

/// A request ready to run: its document is parsed and passed the limits; `kept` is that
/// document when it is kept.
pub struct Prepared {
    pub request: Request,
    pub kept: Option<Arc<Kept>>,
}

impl Prepared {
    /// A request whose text is kept: its document passed the limits when it was kept.
    pub fn kept(mut request: Request, kept: Arc<Kept>) -> Self {
        request.set_parsed_query(kept.document.clone());
        Self { request, kept: Some(kept) }
    }
}

pub fn parse(query: &str) -> Result<ExecutableDocument, RequestError> {
    async_graphql::parser::parse_query(query).map_err(RequestError::Parse)
}

/// Keeps a document that passed the limits, and gives the request it.
pub fn keep(documents: &Documents, mut request: Request, document: ExecutableDocument) -> Prepared {
    let kept = documents.keep(&request.query, &document);
    request.set_parsed_query(document);
    Prepared { request, kept }
}
