//! One LLM, one queue: at most `max` drafts talk to the LLM at once; the rest
//! wait in priority order (oldest first within a priority), and when too many
//! wait, the oldest of the lowest priority is dropped. A busy local server
//! that gets five drafts at once answers all of them late; in turn, each on time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// Why a draft never got its turn at the LLM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "dropped from the LLM queue: {waiting} drafts were waiting and this was the oldest of the lowest priority"
)]
pub struct Dropped {
    pub waiting: usize,
}

struct Waiter {
    rank: u8,
    seq: u64,
    tx: oneshot::Sender<Result<SlotPermit, Dropped>>,
}

#[derive(Default)]
struct State {
    busy: usize,
    seq: u64,
    waiting: Vec<Waiter>,
    most_busy: usize,
}

/// The LLM's turns. Shared by every draft (`Arc`).
pub struct LlmSlots {
    /// Turns at once; a server that says how many it serves sets it.
    max: AtomicUsize,
    max_waiting: usize,
    state: Mutex<State>,
}

/// A turn at the LLM; dropping it hands the turn to the best waiter.
pub struct SlotPermit {
    slots: Option<Arc<LlmSlots>>,
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        if let Some(s) = self.slots.take() {
            s.release();
        }
    }
}

impl LlmSlots {
    /// `max` drafts at the LLM at once (at least 1), `max_waiting` in line.
    pub fn new(max: usize, max_waiting: usize) -> Arc<Self> {
        Arc::new(Self {
            max: AtomicUsize::new(max.max(1)),
            max_waiting,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves the counts consistent (they change under
        // the lock only), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drafts at the LLM now, and the most there ever were (for tests and status).
    pub fn busy(&self) -> (usize, usize) {
        let st = self.lock();
        (st.busy, st.most_busy)
    }

    /// Drafts waiting for a turn.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Waits for a turn. `rank`: higher goes first (0 = unprompted).
    pub async fn acquire(self: &Arc<Self>, rank: u8) -> Result<SlotPermit, Dropped> {
        let rx = {
            let mut st = self.lock();
            if st.busy < self.max.load(Ordering::Relaxed) {
                st.busy += 1;
                st.most_busy = st.most_busy.max(st.busy);
                return Ok(SlotPermit {
                    slots: Some(self.clone()),
                });
            }
            st.seq += 1;
            let (tx, rx) = oneshot::channel();
            let seq = st.seq;
            st.waiting.push(Waiter { rank, seq, tx });
            if st.waiting.len() > self.max_waiting {
                let waiting = st.waiting.len();
                // The lowest rank, and within it the oldest.
                if let Some(i) =
                    (0..st.waiting.len()).min_by_key(|&i| (st.waiting[i].rank, st.waiting[i].seq))
                {
                    let w = st.waiting.swap_remove(i);
                    let _ = w.tx.send(Err(Dropped { waiting }));
                }
            }
            rx
        };
        match rx.await {
            Ok(r) => r,
            // The sender went away without an answer: only when the slots are
            // gone, which cannot happen while this `Arc` is held.
            Err(_) => Err(Dropped { waiting: 0 }),
        }
    }

    /// The server serves `max` drafts at once (llama.cpp's slots): more
    /// turns are handed out at once, fewer take effect as turns end.
    pub fn set_max(self: &Arc<Self>, max: usize) {
        let max = max.max(1);
        self.max.store(max, Ordering::Relaxed);
        let mut st = self.lock();
        while st.busy < max && self.grant_one(&mut st) {
            st.busy += 1;
            st.most_busy = st.most_busy.max(st.busy);
        }
    }

    /// A turn ended: hand it to the best waiter still waiting, or free it.
    fn release(self: &Arc<Self>) {
        let mut st = self.lock();
        if st.busy > self.max.load(Ordering::Relaxed) || !self.grant_one(&mut st) {
            st.busy = st.busy.saturating_sub(1);
        }
    }

    /// Gives a turn to the best waiter still waiting; false if none was.
    fn grant_one(self: &Arc<Self>, st: &mut State) -> bool {
        loop {
            // The highest rank, and within it the oldest.
            let best = (0..st.waiting.len())
                .max_by_key(|&i| (st.waiting[i].rank, std::cmp::Reverse(st.waiting[i].seq)));
            let Some(i) = best else { return false };
            let w = st.waiting.swap_remove(i);
            let permit = SlotPermit {
                slots: Some(self.clone()),
            };
            match w.tx.send(Ok(permit)) {
                Ok(()) => return true,
                // That draft gave up waiting: disarm the permit (no release
                // from inside this lock) and try the next one.
                Err(Ok(mut p)) => p.slots = None,
                Err(Err(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_with_more_slots_lets_waiting_drafts_in_at_once() {
        let slots = LlmSlots::new(1, 8);
        let first = slots.acquire(1).await.expect("free slot");
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let s = slots.clone();
                tokio::spawn(async move { s.acquire(1).await })
            })
            .collect();
        while slots.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        // The server says it serves 4 at once: the 3 waiting go in now.
        slots.set_max(4);
        let mut permits = Vec::new();
        for w in waiting {
            permits.push(w.await.unwrap().expect("a turn"));
        }
        assert_eq!(slots.busy().0, 4);
        drop(first);
        drop(permits);
        assert_eq!(slots.busy().0, 0);
        // Back to 1: a turn at a time again.
        slots.set_max(1);
        let _a = slots.acquire(1).await.unwrap();
        let s = slots.clone();
        let second = tokio::spawn(async move { s.acquire(1).await });
        while slots.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(slots.busy().0, 1);
        drop(_a);
        second.await.unwrap().expect("the next turn");
    }

    #[tokio::test]
    async fn turns_go_by_priority_then_age_and_the_oldest_low_is_dropped() {
        let slots = LlmSlots::new(1, 3);
        let first = slots.acquire(1).await.expect("free slot");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Waiters: low a, low b, high c, then low d overflows the line of 3.
        for (name, rank) in [("a", 0u8), ("b", 0), ("c", 3), ("d", 0)] {
            let s = slots.clone();
            let o = order.clone();
            tasks.push(tokio::spawn(async move {
                match s.acquire(rank).await {
                    Ok(p) => {
                        o.lock().unwrap().push(name.to_string());
                        drop(p);
                    }
                    Err(d) => o
                        .lock()
                        .unwrap()
                        .push(format!("{name} dropped ({})", d.waiting)),
                }
            }));
            // Let each reach the line before the next, so their ages differ.
            while slots.waiting() + order.lock().unwrap().len() < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(*order.lock().unwrap(), vec!["a dropped (4)".to_string()]);
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec!["a dropped (4)", "c", "b", "d"]);
        assert_eq!(slots.busy(), (0, 1), "never more than one at the LLM");
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_does_not_keep_the_turn() {
        let slots = LlmSlots::new(1, 8);
        let first = slots.acquire(1).await.unwrap();
        let s = slots.clone();
        let gave_up = tokio::spawn(async move { s.acquire(1).await.map(|_| ()) });
        while slots.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        gave_up.abort();
        let _ = gave_up.await;
        drop(first);
        // The turn is free again, not lost with the aborted waiter.
        let again = tokio::time::timeout(std::time::Duration::from_secs(5), slots.acquire(0)).await;
        assert!(again.is_ok_and(|r| r.is_ok()));
    }
}
