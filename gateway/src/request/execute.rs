//! The execute stage: one prepared GraphQL request, validated and run by async-graphql with
//! DataLoaders of its own ([`RequestScope`]), its errors given their codes and the request id.

use async_graphql::{Response, Value};

use super::{id::RequestId, parse::Prepared, validate::Validation};
use crate::{
    graphql::{
        error::{add_request_error_codes, finish_errors},
        loaders::{Loaders, RequestScope},
    },
    state::AppState,
};

/// Runs one prepared request. Also tells whether it failed as a whole (failed to validate or
/// coerce its variables), before any field ran.
pub async fn execute(state: &AppState, id: &RequestId, prepared: Prepared) -> (Response, bool) {
    let (request, validation) = Validation::of(prepared);
    let schema = validation.schema(state);
    let scope = RequestScope::default();
    let request = request.data(Loaders::new(&scope, &state.lookups, &state.cache));
    let mut response = scope.run(schema.execute(request)).await;
    // Field errors always have a path; errors of the request as a whole have none, and
    // leave no data.
    let request_failed = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty());
    validation.ran(request_failed);
    add_request_error_codes(&mut response.errors);
    finish_errors(&mut response.errors, &id.0);
    (response, request_failed)
}
