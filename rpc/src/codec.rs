//! The one codec both transports use: requests are the JSON of their struct, replies the
//! JSON of `Result<Response, RpcError>`.

use serde::{Serialize, de::DeserializeOwned};

use crate::{RpcError, RpcResult};

/// The `content_type` of every RPC message.
pub const CONTENT_TYPE: &str = "application/json";

pub fn encode_reply<T: Serialize>(reply: &RpcResult<T>) -> Vec<u8> {
    serde_json::to_vec(reply).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot encode reply");
        encode_error(&RpcError::internal())
    })
}

pub fn encode_error(error: &RpcError) -> Vec<u8> {
    // An `RpcError` is strings and an enum: encoding it cannot fail.
    serde_json::to_vec(&RpcResult::<()>::Err(error.clone())).unwrap_or_default()
}

pub fn decode_reply<T: DeserializeOwned>(body: &[u8]) -> RpcResult<T> {
    serde_json::from_slice::<RpcResult<T>>(body).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot decode reply");
        Err(RpcError::internal())
    })
}
