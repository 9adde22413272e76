//! Prometheus metrics, served as text on `/metrics`.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// The gateway's counters. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// RPCs the gateway sent, by service and method.
    pub rpc_requests: IntCounterVec,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    /// Cache operations that failed (Redis unreachable, timed out, ...): the cache was bypassed.
    pub cache_errors: IntCounter,
    /// Cacheable queries answered whole from the cache, and those that were not (nothing
    /// stored, or stale): `crate::cache::answers`.
    pub answer_hits: IntCounter,
    pub answer_misses: IntCounter,
    /// Events from the services this gateway has applied to its cache, by routing key.
    pub events: IntCounterVec,
    pub connections: crate::serve::ConnectionMetrics,
    pub live: LiveMetrics,
}

/// The WebSocket endpoint's metrics (`crate::live`).
#[derive(Clone)]
pub struct LiveMetrics {
    /// Sockets open.
    pub sockets: IntGauge,
    /// Operations running on them (subscriptions, mostly).
    pub operations: IntGauge,
    /// Subscriptions following changes (those of `operations` that subscribed).
    pub subscriptions: IntGauge,
    /// Changes handed to subscribers (one per subscriber reached).
    pub deliveries: IntCounter,
    /// Sockets the gateway closed, by close code.
    pub closes: IntCounterVec,
}

impl LiveMetrics {
    fn new(registry: &Registry) -> Self {
        let sockets = IntGauge::new("gateway_websockets", "WebSockets open").expect("valid");
        let operations =
            IntGauge::new("gateway_websocket_operations", "Operations running on WebSockets (subscriptions)")
                .expect("valid");
        let subscriptions = IntGauge::new("gateway_subscriptions", "Subscriptions following changes").expect("valid");
        let deliveries =
            IntCounter::new("gateway_subscription_deliveries_total", "Changes handed to subscribers").expect("valid");
        let closes = IntCounterVec::new(
            Opts::new("gateway_websocket_closes_total", "WebSockets the gateway closed, by close code"),
            &["code"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(sockets.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(operations.clone()),
            Box::new(subscriptions.clone()),
            Box::new(deliveries.clone()),
            Box::new(closes.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        Self { sockets, operations, subscriptions, deliveries, closes }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let rpc_requests = IntCounterVec::new(
            Opts::new("gateway_rpc_requests_total", "RPCs the gateway sent"),
            &["service", "method"],
        )
        .expect("valid metric");
        let cache_hits = IntCounter::new("gateway_cache_hits_total", "Field-cache look-ups that hit").expect("valid");
        let cache_misses =
            IntCounter::new("gateway_cache_misses_total", "Field-cache look-ups that missed").expect("valid");
        let cache_errors =
            IntCounter::new("gateway_cache_errors_total", "Field-cache operations that failed").expect("valid");
        let answer_hits =
            IntCounter::new("gateway_answer_cache_hits_total", "Queries answered whole from the cache").expect("valid");
        let answer_misses = IntCounter::new(
            "gateway_answer_cache_misses_total",
            "Cacheable queries with no current answer in the cache",
        )
        .expect("valid");
        let events = IntCounterVec::new(
            Opts::new("gateway_events_total", "Service events applied to the field cache"),
            &["routing_key"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(rpc_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(cache_hits.clone()),
            Box::new(cache_misses.clone()),
            Box::new(cache_errors.clone()),
            Box::new(answer_hits.clone()),
            Box::new(answer_misses.clone()),
            Box::new(events.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        let connections = crate::serve::ConnectionMetrics::new();
        connections.register(&registry);
        let live = LiveMetrics::new(&registry);
        Self {
            registry,
            rpc_requests,
            cache_hits,
            cache_misses,
            cache_errors,
            answer_hits,
            answer_misses,
            events,
            connections,
            live,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
