//! [`RequestId`]: which request a response, an error or a log line belongs to.

use std::sync::Arc;

/// The id of one HTTP request: in its response's `x-request-id`, its errors'
/// `extensions.requestId` and its log span (`http` takes it from the client or makes it).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);
