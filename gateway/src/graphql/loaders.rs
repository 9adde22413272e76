//! Per-request DataLoaders, and the scope that runs their batches without a timer.
//!
//! async-graphql's DataLoader collects keys, then runs the batch in a task it hands to a
//! spawner after a delay (1 ms by default). A request would sit out that timer on every level
//! of the query. Instead, the delay is zero and the spawner is [`RequestScope`]: it queues the
//! batch and runs it inside the request's own future as soon as the request is blocked, that is
//! when every resolver of the current level has queued its keys. So a batch holds every key of
//! its level, deterministically, and costs no more than its RPC.

use std::{
    collections::HashMap,
    future::Future,
    pin::pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use async_graphql::dataloader::{DataLoader, Loader};
use futures_util::{StreamExt, future::BoxFuture, stream::FuturesUnordered};
use rpc::{
    Page, RpcClient, RpcError,
    orders::{GetOrders, Order, OrdersOfUsers, UserOrdersKey},
    users::{GetUsers, User},
};
use uuid::Uuid;

use serde::{Serialize, de::DeserializeOwned};

use super::{Requester, coalesce::Coalescer};
use crate::cache::{FieldCache, answers::Reads, keys::Keys, store::CacheKey};

/// Passes of one poll before the scope yields to the runtime.
const MAX_PASSES: usize = 10_000;

/// Records whether the request woke itself while being polled, and passes the wake on.
struct WakeFlag {
    woken: AtomicBool,
    parent: Waker,
}

impl futures_util::task::ArcWake for WakeFlag {
    fn wake_by_ref(flag: &Arc<Self>) {
        flag.woken.store(true, Ordering::Release);
        flag.parent.wake_by_ref();
    }
}

#[derive(Default)]
struct Spawned {
    tasks: Vec<BoxFuture<'static, ()>>,
    waker: Option<Waker>,
}

/// Runs the DataLoader batches of one request inside that request's future.
#[derive(Clone, Default)]
pub struct RequestScope {
    spawned: Arc<Mutex<Spawned>>,
}

impl RequestScope {
    /// The spawner to give a DataLoader.
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        if let Ok(mut spawned) = self.spawned.lock() {
            spawned.tasks.push(task);
            if let Some(waker) = spawned.waker.take() {
                waker.wake();
            }
        }
    }

    /// Drives `request` and every batch it queues until the request is done.
    ///
    /// A batch runs only once the request is blocked: polled without waking itself. The
    /// resolvers of a list sit in `FuturesUnordered`s, which poll a few children per pass and
    /// wake themselves to continue; so "blocked" means every resolver of the current level
    /// has queued its keys, and the batch holds them all.
    pub async fn run<F: Future>(&self, request: F) -> F::Output {
        let mut request = pin!(request);
        let mut batches = FuturesUnordered::new();
        std::future::poll_fn(|cx| {
            for _ in 0..MAX_PASSES {
                let flag = Arc::new(WakeFlag { woken: AtomicBool::new(false), parent: cx.waker().clone() });
                let waker = futures_util::task::waker(flag.clone());
                if let Poll::Ready(output) = request.as_mut().poll(&mut Context::from_waker(&waker)) {
                    return Poll::Ready(output);
                }
                if flag.woken.load(Ordering::Acquire) {
                    continue; // the request has more to do before it blocks
                }
                if let Ok(mut spawned) = self.spawned.lock() {
                    batches.extend(spawned.tasks.drain(..));
                    spawned.waker = Some(cx.waker().clone());
                }
                // Run batches until none can make progress; a finished batch answers
                // resolvers, which wake the request.
                let mut progressed = false;
                while let Poll::Ready(Some(())) = batches.poll_next_unpin(cx) {
                    progressed = true;
                }
                let queued_more = self.spawned.lock().map(|spawned| !spawned.tasks.is_empty()).unwrap_or(false);
                if !progressed && !queued_more {
                    return Poll::Pending;
                }
            }
            // Let other tasks run; come back right away.
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }

    fn loader<T: Send + Sync + 'static>(&self, loader: T) -> DataLoader<T> {
        let scope = self.clone();
        DataLoader::new(loader, move |task| scope.spawn(task)).delay(Duration::ZERO)
    }
}

/// The DataLoaders of one request. Never shared across requests; the cache behind them is.
pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub orders: DataLoader<OrderLoader>,
    pub user_orders: DataLoader<UserOrdersLoader>,
}

impl Loaders {
    /// The loaders of one request, whose look-ups are made for `requester`'s caller and
    /// cached in its view.
    pub fn new(scope: &RequestScope, lookups: &Arc<Lookups>, cache: &Arc<FieldCache>, requester: &Requester) -> Self {
        let source = || Source {
            lookups: lookups.clone(),
            cache: cache.clone(),
            rpc: requester.rpc().clone(),
            keys: requester.keys().clone(),
            reads: requester.reads().clone(),
        };
        Self {
            users: scope.loader(UserLoader(source())),
            orders: scope.loader(OrderLoader(source())),
            user_orders: scope.loader(UserOrdersLoader(source())),
        }
    }
}

/// One look-up outside a request, for `requester`'s caller and in its view: the same cache
/// and coalesced RPCs as the loaders. What a change a subscription announces is read through
/// (`crate::live`), once for all its subscribers.
pub struct Reader {
    lookups: Arc<Lookups>,
    cache: Arc<FieldCache>,
}

impl Reader {
    pub fn new(lookups: Arc<Lookups>, cache: Arc<FieldCache>) -> Self {
        Self { lookups, cache }
    }

    fn source(&self, requester: &Requester) -> Source {
        Source {
            lookups: self.lookups.clone(),
            cache: self.cache.clone(),
            rpc: requester.rpc().clone(),
            keys: requester.keys().clone(),
            reads: requester.reads().clone(),
        }
    }

    pub async fn order(&self, requester: &Requester, id: Uuid) -> Result<Option<Order>, RpcError> {
        let source = self.source(requester);
        let mut found = source.by_ids(&[id], Keys::order, &source.lookups.orders, |order: &Order| order.id).await?;
        Ok(found.remove(&id))
    }

    pub async fn user(&self, requester: &Requester, id: Uuid) -> Result<Option<User>, RpcError> {
        let source = self.source(requester);
        let mut found = source.by_ids(&[id], Keys::user, &source.lookups.users, |user: &User| user.id).await?;
        Ok(found.remove(&id))
    }
}

/// The RPCs of the whole gateway behind the loaders: look-ups by id go through a
/// [`Coalescer`] each, which merges them when many requests want some at once.
pub struct Lookups {
    users: Arc<Coalescer<User>>,
    orders: Arc<Coalescer<Order>>,
}

impl Lookups {
    /// `in_flight`: how many calls of each look-up may be out at once (`RPC_LOOKUPS_IN_FLIGHT`).
    pub fn new(rpc: &RpcClient, in_flight: usize) -> Self {
        Self {
            users: coalesced(rpc, |ids| GetUsers { ids }, |user: &User| user.id, in_flight),
            orders: coalesced(rpc, |ids| GetOrders { ids }, |order: &Order| order.id, in_flight),
        }
    }
}

/// A coalescer for the look-up method `request` builds.
fn coalesced<M, V>(
    rpc: &RpcClient,
    request: fn(Vec<Uuid>) -> M,
    id_of: fn(&V) -> Uuid,
    in_flight: usize,
) -> Arc<Coalescer<V>>
where
    M: rpc::Method<Response = Vec<V>>,
    V: Clone + Send + 'static,
{
    let rpc = rpc.clone();
    let fetch = move |caller, ids| {
        let rpc = rpc.as_caller(caller);
        Box::pin(async move { rpc.call(&request(ids)).await }) as BoxFuture<'static, _>
    };
    Coalescer::new(Arc::new(fetch), id_of, in_flight)
}

/// Where a loader gets its batch: the cache first (one read, in the caller's view), then one
/// RPC for the misses, made for the caller.
struct Source {
    lookups: Arc<Lookups>,
    cache: Arc<FieldCache>,
    /// Calls made for the caller; its caller is the one the coalesced look-ups are made for.
    rpc: RpcClient,
    keys: Keys,
    /// What the request's reads saw (see [`crate::cache::answers`]).
    reads: Reads,
}

impl Source {
    /// Entities by id: `key` names each id's cache key, `lookup` fetches the ids the cache
    /// missed, `id_of` reads an entity's id.
    async fn by_ids<T>(
        &self,
        ids: &[Uuid],
        key: fn(&Keys, Uuid) -> CacheKey,
        lookup: &Arc<Coalescer<T>>,
        id_of: fn(&T) -> Uuid,
    ) -> Result<HashMap<Uuid, T>, RpcError>
    where
        T: Serialize + DeserializeOwned + Clone + Send + 'static,
    {
        let keys = ids.iter().copied().map(|id| key(&self.keys, id));
        let entities = self
            .cache
            .get_many(&self.reads, keys, |missing| {
                let wanted: Vec<Uuid> = missing.iter().map(|&i| ids[i]).collect();
                let fetched = lookup.get(self.rpc.caller(), wanted.clone());
                async move {
                    let mut found: HashMap<Uuid, T> =
                        fetched.await?.into_iter().map(|entity| (id_of(&entity), entity)).collect();
                    Ok(wanted.iter().map(|id| found.remove(id)).collect())
                }
            })
            .await?;
        Ok(entities.into_iter().flatten().map(|entity| (id_of(&entity), entity)).collect())
    }
}

/// Users by id: one `users.get` per batch, for the misses only (merged with other requests'
/// under load).
pub struct UserLoader(Source);

impl Loader<Uuid> for UserLoader {
    type Value = User;
    type Error = RpcError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, User>, RpcError> {
        self.0.by_ids(ids, Keys::user, &self.0.lookups.users, |user: &User| user.id).await
    }
}

/// Orders by id: one `orders.get` per batch, for the misses only (merged with other requests'
/// under load).
pub struct OrderLoader(Source);

impl Loader<Uuid> for OrderLoader {
    type Value = Order;
    type Error = RpcError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Order>, RpcError> {
        self.0.by_ids(ids, Keys::order, &self.0.lookups.orders, |order: &Order| order.id).await
    }
}

/// Pages of orders of many users: one `orders.of_users` per batch, for the misses only.
pub struct UserOrdersLoader(Source);

impl Loader<UserOrdersKey> for UserOrdersLoader {
    type Value = Page<Order>;
    type Error = RpcError;

    async fn load(&self, keys: &[UserOrdersKey]) -> Result<HashMap<UserOrdersKey, Page<Order>>, RpcError> {
        let Source { cache, rpc, keys: view, reads, .. } = &self.0;
        let cache_keys = keys.iter().copied().map(|key| view.user_orders(&key));
        let pages = cache
            .get_many(reads, cache_keys, |missing| async move {
                let wanted: Vec<UserOrdersKey> = missing.iter().map(|&i| keys[i]).collect();
                let pages = rpc.call(&OrdersOfUsers { keys: wanted }).await?;
                Ok(pages.into_iter().map(Some).collect())
            })
            .await?;
        Ok(keys.iter().copied().zip(pages).filter_map(|(key, page)| Some((key, page?))).collect())
    }
}
