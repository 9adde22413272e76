//! Look-ups by id of the whole gateway, merged into few RPCs when they crowd in.
//!
//! A DataLoader batches the keys of one request. Under load, many requests each ask for a few
//! ids at the same moment, and each would be an RPC of its own: a message through the broker
//! and a query in the service, per request. A [`Coalescer`] lets at most `max_in_flight` calls
//! of its method be out at once. While they are, the ids asked for wait together, and go out
//! in one call as soon as a slot frees (group commit, for reads). An idle gateway sends every
//! look-up at once, alone: merging costs no latency, it only takes what waits anyway.
//!
//! Only look-ups made for the same caller are merged: the service decides what each caller may
//! see, so one caller's ids never ride in another's call.
//!
//! Only calls not yet sent are joined, never one in flight: a look-up always starts after it
//! was asked for, so it sees every write answered before (the field cache relies on this).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures_util::future::BoxFuture;
use rpc::{Caller, RpcError, RpcResult, bounds::MAX_IDS};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The RPC behind a coalescer: the entities among some ids (absent ones left out), as the
/// caller may see them.
pub type Fetch<V> = Arc<dyn Fn(Caller, Vec<Uuid>) -> BoxFuture<'static, RpcResult<Vec<V>>> + Send + Sync>;

pub struct Coalescer<V> {
    fetch: Fetch<V>,
    id_of: fn(&V) -> Uuid,
    max_in_flight: usize,
    state: Mutex<State<V>>,
}

struct State<V> {
    in_flight: usize,
    waiting: Vec<Waiter<V>>,
}

enum Turn<V> {
    /// A slot is this caller's: call now.
    Now(Vec<Uuid>),
    /// Queued: a merged call answers.
    Later(oneshot::Receiver<RpcResult<Vec<V>>>),
}

struct Waiter<V> {
    caller: Caller,
    ids: Vec<Uuid>,
    answer: oneshot::Sender<RpcResult<Vec<V>>>,
}

impl<V: Clone + Send + 'static> Coalescer<V> {
    pub fn new(fetch: Fetch<V>, id_of: fn(&V) -> Uuid, max_in_flight: usize) -> Arc<Self> {
        let state = Mutex::new(State { in_flight: 0, waiting: Vec::new() });
        Arc::new(Self { fetch, id_of, max_in_flight: max_in_flight.max(1), state })
    }

    /// The entities among `ids`: fetched at once when a slot is free, else with the other
    /// ids waiting for the next one.
    pub async fn get(self: &Arc<Self>, caller: Caller, ids: Vec<Uuid>) -> RpcResult<Vec<V>> {
        match self.take_turn(caller, ids) {
            Turn::Now(ids) => {
                // Frees the slot (or hands it to those waiting) however this call ends.
                let _slot = Slot(self.clone());
                (self.fetch)(caller, ids).await
            }
            Turn::Later(answered) => answered.await.unwrap_or_else(|_| Err(RpcError::internal())),
        }
    }

    /// Takes a free slot for `ids`, or queues them for the next merged call.
    fn take_turn(&self, caller: Caller, ids: Vec<Uuid>) -> Turn<V> {
        let mut state = self.lock();
        if state.in_flight < self.max_in_flight && state.waiting.is_empty() {
            state.in_flight += 1;
            return Turn::Now(ids);
        }
        let (answer, answered) = oneshot::channel();
        state.waiting.push(Waiter { caller, ids, answer });
        Turn::Later(answered)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<V>> {
        // A panic while holding the lock leaves the state consistent: every change is one step.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A call ended: the waiting go out together on its slot, or the slot is free.
    fn release(self: &Arc<Self>) {
        let mut state = self.lock();
        if state.waiting.is_empty() {
            state.in_flight -= 1;
            return;
        }
        // The longest-waiting caller's look-ups go out together, in the order they came.
        let caller = state.waiting[0].caller;
        let (mut taken, mut batch, mut rest) = (0, Vec::new(), Vec::new());
        for waiter in state.waiting.drain(..) {
            let fits = batch.is_empty() || taken + waiter.ids.len() <= MAX_IDS;
            if waiter.caller == caller && fits {
                taken += waiter.ids.len();
                batch.push(waiter);
            } else {
                rest.push(waiter);
            }
        }
        state.waiting = rest;
        drop(state);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(self.clone().merged(batch))),
            // No runtime (shutting down): nobody will be answered; give the slot back.
            Err(_) => self.lock().in_flight -= 1,
        }
    }

    /// One call for the ids of `batch`, each waiter answered with its own entities.
    async fn merged(self: Arc<Self>, batch: Vec<Waiter<V>>) {
        let _slot = Slot(self.clone());
        let caller = batch[0].caller;
        let mut ids: Vec<Uuid> = batch.iter().flat_map(|waiter| waiter.ids.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        match (self.fetch)(caller, ids).await {
            Ok(found) => {
                let found: HashMap<Uuid, V> = found.into_iter().map(|entity| ((self.id_of)(&entity), entity)).collect();
                for waiter in batch {
                    let own = waiter.ids.iter().filter_map(|id| found.get(id).cloned()).collect();
                    let _ = waiter.answer.send(Ok(own));
                }
            }
            Err(error) => {
                for waiter in batch {
                    let _ = waiter.answer.send(Err(error.clone()));
                }
            }
        }
    }
}

/// A slot of a coalescer, released when dropped.
struct Slot<V: Clone + Send + 'static>(Arc<Coalescer<V>>);

impl<V: Clone + Send + 'static> Drop for Slot<V> {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Notify;

    use super::*;

    /// A fetch that records each call's ids and answers every id but the nil one, once
    /// `gate` lets it.
    fn recording(calls: Arc<Mutex<Vec<Vec<Uuid>>>>, gate: Arc<Notify>) -> Fetch<Uuid> {
        Arc::new(move |_caller, ids: Vec<Uuid>| {
            let (calls, gate) = (calls.clone(), gate.clone());
            Box::pin(async move {
                calls.lock().unwrap().push(ids.clone());
                gate.notified().await;
                Ok(ids.into_iter().filter(|id| !id.is_nil()).collect())
            })
        })
    }

    #[tokio::test]
    async fn an_idle_coalescer_sends_at_once_and_crowds_wait_for_one_merged_call() {
        let (calls, gate) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Notify::new()));
        let coalescer = Coalescer::new(recording(calls.clone(), gate.clone()), |id| *id, 1);
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();

        // The first look-up goes out alone; three more wait while it is out.
        let first = tokio::spawn({
            let coalescer = coalescer.clone();
            let id = ids[0];
            async move { coalescer.get(Caller::Service, vec![id]).await }
        });
        while calls.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let waiting: Vec<_> = [vec![ids[1], ids[2]], vec![ids[2], Uuid::nil()], vec![ids[3]]]
            .into_iter()
            .map(|asked| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { coalescer.get(Caller::Service, asked).await })
            })
            .collect();
        while coalescer.lock().waiting.len() < 3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(calls.lock().unwrap().len(), 1, "nothing else goes out while the slot is taken");

        gate.notify_one();
        assert_eq!(first.await.unwrap().unwrap(), vec![ids[0]]);
        while calls.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        let answers: Vec<_> = futures_util::future::join_all(waiting).await;
        let answers: Vec<Vec<Uuid>> = answers.into_iter().map(|answer| answer.unwrap().unwrap()).collect();
        assert_eq!(answers, vec![vec![ids[1], ids[2]], vec![ids[2]], vec![ids[3]]]);
        let mut merged = vec![ids[1], ids[2], ids[3], Uuid::nil()];
        merged.sort_unstable();
        assert_eq!(calls.lock().unwrap()[1], merged, "one call for the three, each id once");
        assert_eq!(coalescer.lock().in_flight, 0);
    }

    #[tokio::test]
    async fn an_error_reaches_every_waiter_and_a_dropped_call_frees_its_slot() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let fetch: Fetch<Uuid> = Arc::new({
            let attempts = attempts.clone();
            move |_caller, _ids: Vec<Uuid>| {
                let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    if attempt == 0 {
                        std::future::pending::<()>().await;
                    }
                    Err(RpcError::unavailable("down"))
                })
            }
        });
        let coalescer = Coalescer::new(fetch, |id| *id, 1);
        // A call that never ends, then dropped (its request timed out): the slot comes back.
        let stuck = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.get(Caller::Service, vec![Uuid::now_v7()]).await }
        });
        while attempts.load(Ordering::SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { coalescer.get(Caller::Service, vec![Uuid::now_v7()]).await })
            })
            .collect();
        while coalescer.lock().waiting.len() < 2 {
            tokio::task::yield_now().await;
        }
        stuck.abort();
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap().unwrap_err().code, rpc::ErrorCode::ServiceUnavailable);
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "the two waiters shared one call");
        assert_eq!(coalescer.lock().in_flight, 0);
    }

    #[tokio::test]
    async fn look_ups_of_different_callers_never_share_a_call() {
        type Calls = Arc<Mutex<Vec<(Caller, Vec<Uuid>)>>>;
        let calls: Calls = Arc::default();
        let gate = Arc::new(Notify::new());
        let fetch: Fetch<Uuid> = Arc::new({
            let (calls, gate) = (calls.clone(), gate.clone());
            move |caller, ids: Vec<Uuid>| {
                let (calls, gate) = (calls.clone(), gate.clone());
                Box::pin(async move {
                    calls.lock().unwrap().push((caller, ids.clone()));
                    gate.notified().await;
                    Ok(ids)
                })
            }
        });
        let coalescer = Coalescer::new(fetch, |id| *id, 1);
        let (alice, bob) = (Caller::User(Uuid::now_v7()), Caller::User(Uuid::now_v7()));
        let first = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.get(alice, vec![Uuid::now_v7()]).await }
        });
        while calls.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let asked = [(alice, Uuid::now_v7()), (bob, Uuid::now_v7()), (alice, Uuid::now_v7())];
        let waiting: Vec<_> = asked
            .iter()
            .map(|&(caller, id)| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { coalescer.get(caller, vec![id]).await })
            })
            .collect();
        while coalescer.lock().waiting.len() < 3 {
            tokio::task::yield_now().await;
        }
        for _ in 0..3 {
            gate.notify_one();
            tokio::task::yield_now().await;
        }
        // Keep the gate open until every waiter is answered.
        let opener = tokio::spawn({
            let gate = gate.clone();
            async move {
                loop {
                    gate.notify_one();
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        });
        first.await.unwrap().unwrap();
        for (waiter, (_, id)) in waiting.into_iter().zip(asked) {
            assert_eq!(waiter.await.unwrap().unwrap(), vec![id], "each caller gets what it asked for");
        }
        opener.abort();
        let calls = calls.lock().unwrap();
        let mut alices = vec![asked[0].1, asked[2].1];
        alices.sort_unstable();
        assert_eq!(calls.len(), 3, "alice's first, then alice's two merged, then bob's: {calls:?}");
        assert_eq!(calls[1], (alice, alices), "the longest-waiting caller's look-ups go out together");
        assert_eq!(calls[2], (bob, vec![asked[1].1]));
    }
}
