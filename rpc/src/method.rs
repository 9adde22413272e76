//! Services, their queues, and the trait that ties a request type to its method and answer.

use serde::{Serialize, de::DeserializeOwned};

/// A service behind the broker. Each has one durable request queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Users,
    Orders,
}

impl Service {
    pub const ALL: [Service; 2] = [Service::Users, Service::Orders];

    /// The label used in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Orders => "orders",
        }
    }

    /// The durable request queue of this service.
    pub fn queue(self) -> &'static str {
        match self {
            Self::Users => "users.rpc",
            Self::Orders => "orders.rpc",
        }
    }

    /// Where messages that cannot be decoded are parked for a human to look at.
    pub fn dead_letter_queue(self) -> &'static str {
        match self {
            Self::Users => "users.rpc.dead",
            Self::Orders => "orders.rpc.dead",
        }
    }
}

/// A request type: its routing identity lives beside its serde struct.
pub trait Method: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The service that answers it.
    const SERVICE: Service;
    /// The method name, sent as the AMQP `type` property.
    const NAME: &'static str;
    /// What a successful call answers.
    type Response: Serialize + DeserializeOwned + Send + 'static;
}

/// Declares the `Method` impl of a request type in one line.
#[macro_export]
macro_rules! method {
    ($req:ty, $service:ident, $name:literal, $resp:ty) => {
        impl $crate::Method for $req {
            const SERVICE: $crate::Service = $crate::Service::$service;
            const NAME: &'static str = $name;
            type Response = $resp;
        }
    };
}

/// Every service answers it; the gateway's `/readyz` asks it.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Ping;

/// The method name of [`Ping`]; the same for every service.
pub const PING: &str = "ping";
