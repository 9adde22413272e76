//! The execute stage: one prepared GraphQL request, validated and run by async-graphql with
//! DataLoaders of its own ([`RequestScope`]), its errors given their codes and the request id,
//! and the nulls of its failed fields where the specification puts them ([`nulls`]).

mod nulls;
mod order;

use async_graphql::{Response, Value, parser::parse_query};
use futures_util::{Stream, StreamExt};

use super::{id::RequestId, parse::Prepared, respond, validate::Validation};
use crate::{
    auth::Authentication,
    documents::Kept,
    graphql::{
        Requester,
        error::{add_request_error_codes, finish_errors},
        idempotency::IdempotencyKey,
        loaders::{Loaders, RequestScope},
    },
    state::AppState,
};

/// Runs one prepared request. Also tells whether it failed as a whole (failed to validate or
/// coerce its variables), before any field ran.
pub async fn execute(
    state: &AppState,
    id: &RequestId,
    auth: &Authentication,
    prepared: Prepared,
    key: Option<IdempotencyKey>,
) -> (Response, bool) {
    let kept = prepared.kept.clone();
    let (request, validation) = Validation::of(prepared);
    let schema = validation.schema(state);
    let scope = RequestScope::default();
    let requester = Requester::new(auth.clone(), &state.rpc, &state.cache.keys);
    let loaders = Loaders::new(&scope, &state.lookups, &state.cache, &requester);
    let mut request = request.data(loaders).data(requester);
    if let Some(key) = key {
        request = request.data(key);
    }
    // The text stays here, for `nulls` to read the document again if a field fails: async-graphql
    // runs the parsed document the prepare stage gave the request, and no extension of ours
    // reads the text.
    let query = std::mem::take(&mut request.query);
    let operation_name = request.operation_name.clone();
    let mut response = scope.run(schema.execute(request)).await;
    if response.errors.iter().any(|error| !error.path.is_empty()) {
        nulls::propagate(&mut response.data, &response.errors, &query, operation_name.as_deref());
    }
    in_selection_order(&mut response.data, kept.as_deref(), &query, operation_name.as_deref());
    let request_failed = respond::could_not_run(&response);
    validation.ran(request_failed);
    add_request_error_codes(&mut response.errors);
    finish_errors(&mut response.errors, &id.0);
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
        if response.errors.iter().any(|error| !error.path.is_empty()) {
            nulls::propagate(&mut response.data, &response.errors, &query, operation_name.as_deref());
        }
        in_selection_order(&mut response.data, kept.as_deref(), &query, operation_name.as_deref());
        if let Some(validation) = validation.take() {
            validation.ran(respond::could_not_run(&response));
        }
        add_request_error_codes(&mut response.errors);
        finish_errors(&mut response.errors, &id.0);
        response
    })
}

/// Puts `data`'s fields in the order the query selected them ([`order`]), with the kept
/// document, or the text parsed again when it was not kept.
fn in_selection_order(data: &mut Value, kept: Option<&Kept>, query: &str, operation_name: Option<&str>) {
    if !matches!(data, Value::Object(_)) {
        return;
    }
    match kept {
        Some(kept) => order::reorder(data, &kept.document, operation_name),
        None => {
            if let Ok(document) = parse_query(query) {
                order::reorder(data, &document, operation_name);
            }
        }
    }
}
