//! The execute stage: one prepared GraphQL request, validated and run by async-graphql with
//! DataLoaders of its own ([`RequestScope`]), its errors given their codes and the request id,
//! and the nulls of its failed fields where the specification puts them ([`nulls`]).

mod nulls;
mod order;

pub(crate) use nulls::operation;

use async_graphql::{Response, Value, parser::parse_query};
use futures_util::{Stream, StreamExt};

use super::{id::RequestId, parse::Prepared, respond, validate::Validation};
use crate::{
    auth::Authentication,
    cache::answers::Reads,
    documents::Kept,
    graphql::{
        Requester,
        error::{add_request_error_codes, finish_errors},
        idempotency::IdempotencyKey,
        loaders::{Loaders, RequestScope},
    },
    state::AppState,
};

/// Runs one prepared request, its field-cache reads seen by `reads`. Also tells whether it
/// failed as a whole (failed to validate or coerce its variables), before any field ran.
pub async fn execute(
    state: &AppState,
    id: &RequestId,
    auth: &Authentication,
    prepared: Prepared,
    key: Option<IdempotencyKey>,
    reads: Reads,
) -> (Response, bool) {
    let kept = prepared.kept.clone();
    let (request, validation) = Validation::of(prepared);
    let schema = validation.schema(state);
    let scope = RequestScope::default();
    let requester = Requester::new(auth.clone(), &state.rpc, &state.cache.keys).recording(reads);
    let loaders = Loaders::new(&scope, &state.lookups, &state.cache, &requester);
    let mut request = request.data(loaders).data(requester);
    if let Some(key) = key {
        request = request.data(key);
    }
    // The text stays here, for `finish` to parse the document again when it was not kept:
    // async-graphql runs the parsed document the prepare stage gave the request, and no
    // extension of ours reads the text.
    let query = std::mem::take(&mut request.query);
    let operation_name = request.operation_name.clone();
    let mut response = scope.run(schema.execute(request)).await;
    let request_failed = finish(&mut response, kept.as_deref(), &query, operation_name.as_deref(), id);
    validation.ran(request_failed);
    (response, request_failed)
}

/// Runs one prepared operation of a WebSocket, whose answers come one by one: a subscription's
/// changes, or a query's or mutation's one answer. `data` goes into the operation's data beside
/// the caller and the DataLoaders (the socket's, for the subscriptions). Each answer is
/// resolved with DataLoaders of the operation ([`RequestScope`] runs their batches while the
/// next answer is polled) and finished as [`execute`] finishes one.
pub fn execute_stream(
    state: &AppState,
    id: RequestId,
    auth: &Authentication,
    prepared: Prepared,
    data: impl std::any::Any + Send + Sync,
) -> impl Stream<Item = Response> + Send + 'static {
    let kept = prepared.kept.clone();
    let (request, validation) = Validation::of(prepared);
    let schema = validation.schema(state).clone();
    let scope = RequestScope::default();
    let requester = Requester::new(auth.clone(), &state.rpc, &state.cache.keys);
    let loaders = Loaders::new(&scope, &state.lookups, &state.cache, &requester);
    let mut request = request.data(loaders).data(requester).data(data);
    let query = std::mem::take(&mut request.query);
    let operation_name = request.operation_name.clone();
    let answers = schema.execute_stream(request);
    let mut validation = Some(validation);
    futures_util::stream::unfold((scope, answers), |(scope, mut answers)| async move {
        let answer = scope.run(answers.next()).await?;
        Some((answer, (scope, answers)))
    })
    .map(move |mut response: Response| {
        let failed = finish(&mut response, kept.as_deref(), &query, operation_name.as_deref(), &id);
        if let Some(validation) = validation.take() {
            validation.ran(failed);
        }
        response
    })
}

/// What every answer goes through once async-graphql made it: the nulls of failed fields where
/// the specification puts them ([`nulls`]), the fields in selection order ([`order`]), then
/// the errors' codes and request id. The document is the kept one, or the text parsed again
/// when it was not kept. Tells whether the operation failed as a whole.
fn finish(
    response: &mut Response,
    kept: Option<&Kept>,
    query: &str,
    operation_name: Option<&str>,
    id: &RequestId,
) -> bool {
    let field_failed = response.errors.iter().any(|error| !error.path.is_empty());
    if field_failed || matches!(response.data, Value::Object(_)) {
        let parsed;
        let document = match kept {
            Some(kept) => Some(&kept.document),
            None => {
                parsed = parse_query(query).ok();
                parsed.as_ref()
            }
        };
        if let Some(document) = document {
            if field_failed {
                nulls::propagate(&mut response.data, &response.errors, document, operation_name);
            }
            order::reorder(&mut response.data, document, operation_name);
        }
    }
    let failed = respond::could_not_run(response);
    add_request_error_codes(&mut response.errors);
    finish_errors(&mut response.errors, &id.0);
    failed
}
