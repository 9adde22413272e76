//! The read stage: the GraphQL request(s) out of a POST's body or a GET's query string. The
//! body is bounded by MAX_BODY_BYTES as it is read, and refused before it is read when its
//! declared length is over it. A request needs a `query`, unless it names a persisted query
//! by its hash ([`super::persisted`]). JSON's `-0` in `variables` is read as the integer 0.

use async_graphql::{BatchRequest, Extensions, Request, Value, Variables};
use axum::{
    body::Bytes,
    extract::{
        FromRequest, Request as HttpRequest,
        rejection::{BytesRejection, FailedToBufferBody},
    },
    http::header,
};

use super::{error::RequestError, persisted};
use crate::limits::Limits;

/// A POST's body: one GraphQL request, or a batch of them (a JSON array).
pub async fn body(request: HttpRequest, limits: &Limits) -> Result<BatchRequest, RequestError> {
    let too_large = || RequestError::PayloadTooLarge { max_bytes: limits.max_body_bytes };
    // A declared length over the limit is refused before a byte of the body is read.
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    // `DefaultBodyLimit` (`http::router`) bounds the read when no length is declared.
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => return Err(too_large()),
        Err(rejection) => return Err(RequestError::UnreadableBody(rejection)),
    };
    let mut batch: BatchRequest = serde_json::from_slice(&body).map_err(RequestError::NotGraphql)?;
    batch.iter_mut().try_for_each(check)?;
    Ok(batch)
}

/// What every request a client sends must hold, over HTTP or WebSocket: a `query`, the one
/// member a GraphQL request cannot do without, but for a persisted query's hash, which stands
/// for it. Its variables' `-0`s become integers.
pub fn check(request: &mut Request) -> Result<(), RequestError> {
    if request.query.trim().is_empty() && !persisted::is_named(request) {
        return Err(RequestError::NoQuery);
    }
    integers_for_minus_zero(&mut request.variables);
    Ok(())
}

/// A GET's query string, each parameter as sent: `query` (or the hash of a persisted query in
/// `extensions`), `variables` and `extensions` (JSON), `operationName`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryString {
    pub query: Option<String>,
    pub variables: Option<String>,
    pub operation_name: Option<String>,
    pub extensions: Option<String>,
}

/// The GraphQL request of a GET's query string.
pub fn query_string(params: QueryString) -> Result<Request, RequestError> {
    let QueryString { query, variables, operation_name, extensions } = params;
    let mut request = Request::new(query.clone().unwrap_or_default());
    if let Some(operation_name) = operation_name {
        request = request.operation_name(operation_name);
    }
    if let Some(variables) = variables {
        let mut variables: Variables =
            serde_json::from_str(&variables).map_err(|_| RequestError::VariablesNotAnObject)?;
        integers_for_minus_zero(&mut variables);
        request = request.variables(variables);
    }
    if let Some(extensions) = extensions {
        request.extensions =
            serde_json::from_str::<Extensions>(&extensions).map_err(|_| RequestError::ExtensionsNotAnObject)?;
    }
    if query.is_none() && !persisted::is_named(&request) {
        return Err(RequestError::NoQueryParameter);
    }
    Ok(request)
}

/// JSON has one kind of number, and `-0` is 0; but serde_json reads it as the float -0.0, which
/// an `Int` refuses. As in the document ([`super::limits::check_text`]), it is the integer 0.
fn integers_for_minus_zero(variables: &mut Variables) {
    fn visit(value: &mut Value) {
        match value {
            Value::Number(number) if number.as_f64().is_some_and(|n| n == 0.0 && n.is_sign_negative()) => {
                *value = Value::from(0);
            }
            Value::List(items) => items.iter_mut().for_each(visit),
            Value::Object(fields) => fields.values_mut().for_each(visit),
            _ => {}
        }
    }
    variables.values_mut().for_each(visit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_minus_zero_is_the_integer_zero_at_any_depth() {
        let mut variables: Variables =
            serde_json::from_str(r#"{ "a": -0, "b": [1, -0, { "c": -0 }], "d": 0.5, "e": -1 }"#).unwrap();
        integers_for_minus_zero(&mut variables);
        let json = serde_json::to_value(&variables).unwrap();
        assert_eq!(json, serde_json::json!({ "a": 0, "b": [1, 0, { "c": 0 }], "d": 0.5, "e": -1 }));
        assert!(json["a"].is_u64() || json["a"].is_i64(), "an integer, not 0.0");
    }

    #[test]
    fn a_get_needs_a_query_or_a_persisted_query() {
        let refusal = query_string(QueryString { extensions: Some("{}".into()), ..QueryString::default() });
        assert!(matches!(refusal, Err(RequestError::NoQueryParameter)));
        let hash = Some(r#"{"persistedQuery":{"version":1,"sha256Hash":"ab"}}"#.to_owned());
        assert!(query_string(QueryString { extensions: hash, ..QueryString::default() }).is_ok());
        let refusal = query_string(QueryString { extensions: Some("[1]".into()), ..QueryString::default() });
        assert!(matches!(refusal, Err(RequestError::ExtensionsNotAnObject)));
    }
}
