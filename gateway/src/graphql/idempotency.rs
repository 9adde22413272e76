//! Idempotent mutations for clients (`API.md`, "Idempotent mutations"): a request sent with
//! an `Idempotency-Key` header makes each of its mutations a request the services know again.
//!
//! Each root mutation field of the request gets a request id derived from the caller, the key,
//! the operation's place in a batch and the field's response name (its alias, or its name).
//! The services record each write's answer under its request id (`entities::inbox`), so a retry
//! with the same key, through any gateway, answers the first outcome and changes nothing. The
//! field's name and arguments travel as a fingerprint (an HMAC under `AUTH_SECRET`, so not even
//! a password's hash leaves the gateway): the same key with other input is BAD_USER_INPUT.

use async_graphql::Context;
use hmac::{Hmac, KeyInit, Mac};
use rpc::{Caller, RpcClient};
use sha2::Sha256;
use uuid::Uuid;

/// A request's `Idempotency-Key`, with the operation's place in its batch: in the data of each
/// operation that came with one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    /// The operation's index in a batch; 0 for a single operation.
    pub operation: usize,
}

/// Derives request ids and fingerprints; its key is the deployment's `AUTH_SECRET`, shared
/// by every gateway, so a retry through another gateway is recognised.
pub struct Idempotency {
    secret: Vec<u8>,
}

/// The namespace of derived request ids (a UUIDv5 of its own).
const NAMESPACE: Uuid = Uuid::from_u128(0x6771_6c6d_715f_6964_656d_706f_7465_6e74);

impl Idempotency {
    pub fn new(secret: &[u8]) -> Self {
        Self { secret: secret.to_vec() }
    }

    /// `rpc` for the mutation field `ctx` resolves: as it is without a key; else sending the
    /// request id and fingerprint of this field of this request.
    pub fn client(&self, ctx: &Context<'_>, rpc: &RpcClient) -> async_graphql::Result<RpcClient> {
        let Some(key) = ctx.data_opt::<IdempotencyKey>() else { return Ok(rpc.clone()) };
        let field = ctx.field();
        let mut arguments = serde_json::Map::new();
        for (name, value) in field.arguments()? {
            arguments.insert(name.to_string(), value.into_json()?);
        }
        // serde_json's maps are sorted: the same arguments fingerprint alike in any order.
        let input = format!("{}\n{}", field.name(), serde_json::Value::Object(arguments));
        let response_name = field.alias().unwrap_or(field.name());
        Ok(rpc.idempotent(request_id(rpc.caller(), key, response_name), self.fingerprint(&input)))
    }

    fn fingerprint(&self, input: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else { return String::new() };
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// The request id of one mutation field: per caller, key, operation and response name.
fn request_id(caller: Caller, key: &IdempotencyKey, response_name: &str) -> Uuid {
    let name = format!("{}\n{}\n{}\n{}", caller.to_header(), key.operation, response_name, key.key);
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_the_same_for_a_retry_and_differs_per_caller_field_and_operation() {
        let key = IdempotencyKey { key: "k-1".into(), operation: 0 };
        let alice = Caller::User(Uuid::now_v7());
        let id = request_id(alice, &key, "createOrder");
        assert_eq!(request_id(alice, &key.clone(), "createOrder"), id);
        assert_ne!(request_id(Caller::User(Uuid::now_v7()), &key, "createOrder"), id);
        assert_ne!(request_id(alice, &key, "second"), id);
        assert_ne!(request_id(alice, &IdempotencyKey { operation: 1, ..key.clone() }, "createOrder"), id);
        assert_ne!(request_id(alice, &IdempotencyKey { key: "k-2".into(), ..key }, "createOrder"), id);
    }

    #[test]
    fn a_fingerprint_depends_on_the_secret_and_reveals_no_input() {
        let (one, two) = (Idempotency::new(b"one"), Idempotency::new(b"two"));
        let input = "changePassword\n{\"newPassword\":\"hunter2\"}";
        assert_eq!(one.fingerprint(input), one.fingerprint(input));
        assert_ne!(one.fingerprint(input), two.fingerprint(input));
        assert_eq!(one.fingerprint(input).len(), 64);
        assert!(!one.fingerprint(input).contains("hunter2"));
    }
}
