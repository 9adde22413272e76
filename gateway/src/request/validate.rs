//! The validate stage: what a document may do before it runs. Over GET it may not mutate
//! ([`check_get`]). async-graphql then validates it against the schema as it executes: every
//! rule, unless the document is kept and passed them before with variables of the same shape,
//! in which case only what depends on the values ([`Validation`]; [`crate::documents`]).

use std::sync::Arc;

use async_graphql::{Request, parser::types::OperationType};

use super::{error::RequestError, parse::Prepared};
use crate::{
    documents::{self, Kept},
    graphql::AppSchema,
    state::AppState,
};

/// GET must not change anything: a mutation over GET is refused before it runs.
pub fn check_get(request: &mut Request) -> Result<(), RequestError> {
    if is_mutation(request) { Err(RequestError::MutationOverGet) } else { Ok(()) }
}

/// No subscription over HTTP: it runs over WebSocket (`crate::live::socket`).
pub fn check_http(request: &mut Request) -> Result<(), RequestError> {
    if operation_type(request) == Some(OperationType::Subscription) {
        Err(RequestError::SubscriptionOverHttp)
    } else {
        Ok(())
    }
}

/// Whether the operation the request selects is a mutation.
fn is_mutation(request: &mut Request) -> bool {
    operation_type(request) == Some(OperationType::Mutation)
}

/// The type of the operation the request runs, when its document names it.
fn operation_type(request: &mut Request) -> Option<OperationType> {
    let operation_name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match &operation_name {
        Some(name) => document.operations.iter().find(|(op_name, _)| op_name.is_some_and(|n| n.as_str() == name)),
        None => document.operations.iter().next(),
    };
    operation.map(|(_, operation)| operation.node.ty)
}

/// Which validation a prepared request gets, and what to remember once it passed.
pub struct Validation {
    /// The kept document and the [`documents::shape`] of the request's variables.
    kept: Option<(Arc<Kept>, u64)>,
    /// Whether the rules passed before for that shape.
    passed_before: bool,
}

impl Validation {
    pub fn of(prepared: Prepared) -> (Request, Self) {
        let Prepared { request, kept } = prepared;
        let kept = kept.map(|kept| (kept, documents::shape(request.operation_name.as_deref(), &request.variables)));
        let passed_before = kept.as_ref().is_some_and(|(kept, shape)| kept.validated(*shape));
        (request, Self { kept, passed_before })
    }

    /// The schema to run on: the one that skips the rules when they passed before.
    pub fn schema<'a>(&self, state: &'a AppState) -> &'a AppSchema {
        if self.passed_before { &state.validated_schema } else { &state.schema }
    }

    /// Remembers the shape once a request ran without failing as a whole, so it passed.
    pub fn ran(self, request_failed: bool) {
        if let Some((kept, shape)) = self.kept.filter(|_| !self.passed_before && !request_failed) {
            kept.mark_validated(shape);
        }
    }
}
