//! Building and running the gateway: [`Application::build`] binds the listener and starts
//! what the configuration asks for (the embedded services when there is no broker, see
//! `embedded`, a default feature);
//! [`Application::run_until_stopped`] serves until the shutdown token is cancelled, then
//! drains requests in flight before stopping the embedded services.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use async_graphql::ValidationMode;
use futures_util::FutureExt;
use rpc::{Broker, Envelope, Service, amqp::SubscriberQueue, events};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{Auth, secret::AuthSecret, tokens::Tokens},
    cache::{
        FieldCache,
        keys::Keys,
        store::{MemoryStore, RedisStore, Store, generation_ttl},
    },
    config::Config,
    graphql::{
        Gateway, build_schema, build_schema_validating,
        idempotency::Idempotency,
        loaders::{Lookups, Reader},
    },
    http::{cors::Cors, router},
    live::Live,
    metrics::Metrics,
    request::persisted::PersistedQueries,
    state::AppState,
};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    cors: Option<Arc<Cors>>,
    shutdown: CancellationToken,
    /// The embedded services; stopped after the HTTP server has drained.
    services: JoinSet<anyhow::Result<()>>,
    services_shutdown: CancellationToken,
    connections: crate::serve::ConnectionLimits,
}

impl Application {
    /// Binds `config.listen_addr` and starts the embedded services if there is no broker.
    /// Serving stops when `shutdown` is cancelled.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        #[cfg(not(feature = "embedded"))]
        anyhow::ensure!(
            config.amqp_url.is_some(),
            "AMQP_URL is required: this gateway was built without the `embedded` feature, so it cannot \
             run the services itself; set AMQP_URL to the RabbitMQ where users-worker and orders-worker consume"
        );
        let cors = Cors::new(&config.cors_allowed_origins)?;
        let metrics = Metrics::new();
        let broker = Broker::from_url(config.amqp_url.as_deref(), config.topology);
        let services_shutdown = CancellationToken::new();
        let mut services = JoinSet::new();
        let rpc = broker.client("gateway", config.rpc_timeout()).with_observer({
            let metrics = metrics.clone();
            Arc::new(move |service: Service, method: &'static str| {
                metrics.rpc_requests.with_label_values(&[service.name(), method]).inc();
            })
        });
        #[cfg(feature = "embedded")]
        if broker.is_embedded() {
            crate::embedded::start(&config, &broker, &rpc, &mut services, &services_shutdown).await?;
        }
        // One Redis connection for the field cache and the persisted queries.
        let (ttl, timeout) =
            (Duration::from_secs(config.cache_ttl_seconds), Duration::from_millis(config.cache_timeout_ms));
        let redis = match &config.redis_url {
            Some(url) => {
                Some(Arc::new(RedisStore::new(url, timeout, generation_ttl(ttl)).context("invalid REDIS_URL")?))
            }
            None => None,
        };
        let cache = Arc::new(build_cache(&config, redis.clone(), ttl, timeout, &metrics));
        let persisted_queries =
            Arc::new(PersistedQueries::new(redis, &config.cache_key_prefix, timeout, metrics.clone()));
        services
            .spawn(cache.clone().flush_invalidations(Duration::from_millis(250), services_shutdown.clone()).map(Ok));
        let secret = auth_secret(&config)?;
        let auth = Arc::new(Auth::new(
            Tokens::new(secret.bytes(), config.token_ttl())?,
            Duration::from_secs(config.session_check_seconds),
        ));
        let idempotency = Arc::new(Idempotency::new(secret.bytes()));
        // Until the shared cache's queue is joined and its backlog applied, the cache may be
        // stale: nothing is read from it before then.
        cache.set_caught_up(!shares_cache(&config));
        let lookups = Arc::new(Lookups::new(&rpc, usize::from(config.rpc_lookups_in_flight)));
        let live = Arc::new(Live::new(
            config.live.clone(),
            Reader::new(lookups.clone(), cache.clone()),
            rpc.clone(),
            cache.clone(),
            shares_cache(&config),
            metrics.clone(),
            shutdown.clone(),
        ));
        let gateway =
            Gateway { rpc: rpc.clone(), cache: cache.clone(), auth: auth.clone(), idempotency, live: live.clone() };
        let validated_schema = build_schema_validating(Some(gateway.clone()), &config.limits, ValidationMode::Fast);
        let schema = build_schema(Some(gateway), &config.limits);
        services.spawn(
            on_events(
                broker.clone(),
                config.clone(),
                cache.clone(),
                auth.clone(),
                live.clone(),
                metrics.clone(),
                services_shutdown.clone(),
            )
            .map(Ok),
        );
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
        let app = Self {
            listener,
            state: AppState {
                schema,
                validated_schema,
                documents: Arc::default(),
                persisted_queries,
                rpc,
                lookups,
                cache,
                auth,
                metrics,
                live,
            },
            cors,
            shutdown,
            services,
            services_shutdown,
            connections: config.connections.clone(),
        };
        app.announce(&config);
        Ok(app)
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|address| address.port()).unwrap_or_default()
    }

    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let metrics = self.state.metrics.connections.clone();
        crate::serve::serve(self.listener, router(self.state, self.cors), &self.connections, metrics, shutdown)
            .await
            .context("HTTP server failed")?;
        // Requests are drained; now the embedded services finish what they hold.
        self.services_shutdown.cancel();
        while let Some(result) = self.services.join_next().await {
            result.context("an embedded service panicked")??;
        }
        tracing::info!("gateway stopped");
        Ok(())
    }

    /// Tells a person where the API is and what each part runs on.
    fn announce(&self, config: &Config) {
        let address = self.listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let broker = match &config.amqp_url {
            Some(url) => format!("RabbitMQ at {}", rpc::process::redact_url(url)),
            None => "embedded (in-process transport; both services run in this process)".to_owned(),
        };
        let (users_db, orders_db) = match &config.amqp_url {
            Some(_) => ("owned by the separate worker".to_owned(), "owned by the separate worker".to_owned()),
            #[cfg(feature = "embedded")]
            None => crate::embedded::databases(config),
            // Never reached: without embedded mode, `build` refuses a missing AMQP_URL.
            #[cfg(not(feature = "embedded"))]
            None => (String::new(), String::new()),
        };
        let cache = match (&config.redis_url, config.cache_ttl_seconds) {
            (_, 0) => "off (CACHE_TTL_SECONDS=0)".to_owned(),
            (Some(url), ttl) => format!("Redis at {} (TTL {ttl}s)", rpc::process::redact_url(url)),
            (None, ttl) => format!("in-process (TTL {ttl}s)"),
        };
        println!("GraphQL API ready: GraphiQL at http://{address}/graphql");
        println!("  broker:    {broker}");
        println!("  users db:  {users_db}");
        println!("  orders db: {orders_db}");
        println!("  cache:     {cache}");
    }
}

fn build_cache(
    config: &Config,
    redis: Option<Arc<RedisStore>>,
    ttl: Duration,
    timeout: Duration,
    metrics: &Metrics,
) -> FieldCache {
    let store: Arc<dyn Store> = match redis {
        Some(redis) => redis,
        None => Arc::new(MemoryStore::new(generation_ttl(ttl))),
    };
    FieldCache::new(Some(store), ttl, timeout, Keys::new(&config.cache_key_prefix), metrics.clone())
        .keeping_answers(config.cache_answers)
}

/// `AUTH_SECRET`, or embedded mode's own: a gateway on a broker must be given the one its
/// deployment shares.
fn auth_secret(config: &Config) -> anyhow::Result<AuthSecret> {
    if let Some(secret) = &config.auth_secret {
        return Ok(secret.clone());
    }
    anyhow::ensure!(
        config.amqp_url.is_none(),
        "AUTH_SECRET is required with AMQP_URL: every gateway of a deployment signs and checks tokens with the \
         same secret (at least 32 bytes, e.g. `openssl rand -base64 48`)"
    );
    #[cfg(feature = "embedded")]
    return crate::embedded::auth_secret(config);
    // Never reached: without embedded mode, `build` refuses a missing AMQP_URL.
    #[cfg(not(feature = "embedded"))]
    anyhow::bail!("AMQP_URL is required")
}

/// The events that make cached fields stale.
const CACHE_EVENTS: [&str; 6] = [
    events::USER_CREATED,
    events::USER_UPDATED,
    events::USER_DELETED,
    events::ORDER_CREATED,
    events::ORDER_UPDATED,
    events::ORDER_DELETED,
];

/// The events that end sessions this gateway keeps answers about.
const SESSION_EVENTS: [&str; 4] =
    [events::SESSION_ENDED, events::USER_SESSIONS_ENDED, events::USER_DELETED, events::USER_UPDATED];

/// Whether the field cache is shared with other gateways (Redis), and so fed by a durable queue.
fn shares_cache(config: &Config) -> bool {
    config.redis_url.is_some() && config.cache_ttl_seconds > 0
}

/// The durable queue that feeds a shared cache (Redis) its invalidations: one per cache (its
/// key prefix), consumed by whichever gateways of it run. What the services change on their own
/// (the `user.deleted` cascade) waits there while no gateway runs, so it reaches the cache
/// however the gateways come and go; an event waits at most the cache's TTL, after which what
/// it would invalidate has expired anyway.
pub fn cache_events_queue(key_prefix: &str) -> String {
    format!("gateway.cache-events.{key_prefix}")
}

/// What the services announce reaches this gateway:
///
/// - through a queue of its own, every change and ended session: for its sessions, its
///   subscribers (`crate::live`), and with no shared cache, the invalidations of its own cache;
/// - with a shared cache, through that cache's durable queue ([`cache_events_queue`]); until
///   its backlog is handled, this gateway reads nothing from the cache (it could be stale).
async fn on_events(
    broker: Broker,
    config: Config,
    cache: Arc<FieldCache>,
    auth: Arc<Auth>,
    live: Arc<Live>,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let shared_cache = shares_cache(&config);
    let invalidate = {
        let (cache, metrics) = (cache.clone(), metrics.clone());
        move |envelope: Envelope| {
            let (cache, metrics) = (cache.clone(), metrics.clone());
            async move {
                match envelope.routing_key.as_str() {
                    events::SUBSCRIBED => cache.set_caught_up(false),
                    events::CAUGHT_UP => cache.set_caught_up(true),
                    _ => {
                        let stale = cache.keys.written_by(&envelope);
                        if !stale.is_empty() {
                            cache.invalidate(stale).await;
                        }
                    }
                }
                metrics.events.with_label_values(&[envelope.routing_key.as_str()]).inc();
                Ok(())
            }
        }
    };
    let own: rpc::EventHandler = Arc::new({
        let invalidate = invalidate.clone();
        move |envelope: Envelope| {
            auth.on_event(&envelope);
            let invalidate = (!shared_cache).then(|| invalidate(envelope.clone()));
            let live = live.clone();
            async move {
                // The cache first: a subscriber reads what changed through it.
                if let Some(invalidate) = invalidate {
                    invalidate.await?;
                }
                live.on_event(&envelope).await;
                Ok(())
            }
            .boxed()
        }
    });
    let mut own_keys: Vec<&str> = SESSION_EVENTS.to_vec();
    own_keys.extend(CACHE_EVENTS.iter().filter(|key| !SESSION_EVENTS.contains(key)));
    let own_events = broker.subscribe(SubscriberQueue::Transient, &own_keys, own, shutdown.clone());
    if !shared_cache {
        return own_events.await;
    }
    let shared: rpc::EventHandler = Arc::new(move |envelope| invalidate(envelope).boxed());
    let queue = SubscriberQueue::Durable {
        name: cache_events_queue(&config.cache_key_prefix),
        ttl: Some(Duration::from_secs(config.cache_ttl_seconds)),
    };
    let cache_events = broker.subscribe(queue, &CACHE_EVENTS, shared, shutdown);
    tokio::join!(own_events, cache_events);
}
