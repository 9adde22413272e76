//! The contract's bounds on pages and look-ups (`API.md`, "Rules"), defined once: the gateway
//! refuses past them before it calls, and the services again, since they do not trust their
//! callers with the size of their queries.

use crate::{RpcError, RpcResult};

/// `first` when a list field is not given one.
pub const DEFAULT_FIRST: u32 = 20;
/// The largest page: `first` is 0..=100.
pub const MAX_FIRST: u32 = 100;
/// The most ids (or keys) one look-up carries: a batch is at most a few pages, and this keeps
/// the `IN (...)` list far below every database's parameter limit.
pub const MAX_IDS: usize = 1000;

/// `first` of a page, or BAD_USER_INPUT on `first` past [`MAX_FIRST`].
pub fn page_size(first: u32) -> RpcResult<u32> {
    if first > MAX_FIRST {
        return Err(RpcError::invalid("first", format!("first must be between 0 and {MAX_FIRST}")));
    }
    Ok(first)
}

/// Refuses a look-up of more than [`MAX_IDS`] ids or keys, on `field` (`ids`, `keys`).
pub fn batch_size(field: &str, len: usize) -> RpcResult<()> {
    if len > MAX_IDS {
        return Err(RpcError::invalid(field, format!("at most {MAX_IDS} at once")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn field_of(error: RpcError) -> (ErrorCode, String) {
        (error.code, error.field.unwrap_or_default())
    }

    #[test]
    fn batches_above_a_thousand_are_refused() {
        assert!(batch_size("ids", 1000).is_ok());
        let error = batch_size("ids", 1001).unwrap_err();
        assert_eq!(field_of(error), (ErrorCode::BadUserInput, "ids".to_owned()));
    }

    #[test]
    fn pages_above_a_hundred_are_refused() {
        assert_eq!(page_size(0).unwrap(), 0);
        assert_eq!(page_size(100).unwrap(), 100);
        assert_eq!(field_of(page_size(101).unwrap_err()), (ErrorCode::BadUserInput, "first".to_owned()));
    }
}
