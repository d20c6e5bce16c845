//! The core and the store behind one lock, shared by the REST API and the
//! launcher. Every mutation is applied to the core, its changes written to
//! the store in one transaction, and only then answered or acted on; if the
//! write fails the core is rebuilt from the store, so memory never runs
//! ahead of the disk.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::{mpsc, Notify};

use crate::core::{Changes, Core, Effect, Millis};
use crate::lateness::Lateness;
use crate::store::{Store, StoreError};

/// A store commit slower than this is logged (fsync stalls show up as
/// late launches).
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Writes `changes` (an fsync). On a multi-threaded runtime the worker
/// hands its other tasks to another thread first: inside `paddock master`
/// and `paddock dev` the master and agent share the runtime, and a stalled
/// fsync must not stall them.
fn apply_off_runtime(store: &Store, changes: &Changes) -> Result<(), StoreError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if changes.is_empty() {
        return Ok(());
    }
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| store.apply(changes))
        }
        _ => store.apply(changes),
    }
}

/// The wall clock, in the core's unit. Only the edges read it.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

pub struct State {
    pub core: Core,
    pub store: Store,
}

pub struct Service {
    state: Mutex<State>,
    /// Woken after every change, so the timer re-arms for the next due time.
    pub wake: Notify,
    effects: mpsc::UnboundedSender<Effect>,
    /// What `/leader` reports.
    pub leader: String,
    /// Due -> ACCEPT answered, per launched run.
    pub lateness: Mutex<Lateness>,
}

impl Service {
    /// Loads the store into a core. Effects (kills) go to the returned
    /// receiver after they have been persisted.
    pub fn open(
        store: Store,
        leader: String,
    ) -> Result<(Service, mpsc::UnboundedReceiver<Effect>), StoreError> {
        let loaded = store.load()?;
        let core = Core::restore(loaded.jobs, loaded.runs);
        let (tx, rx) = mpsc::unbounded_channel();
        Ok((
            Service {
                state: Mutex::new(State { core, store }),
                wake: Notify::new(),
                effects: tx,
                leader,
                lateness: Mutex::new(Lateness::default()),
            },
            rx,
        ))
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn lateness(&self) -> MutexGuard<'_, Lateness> {
        self.lateness.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the core, persists what it changed, then sends the
    /// effects and wakes the timer. On a storage error the change is undone
    /// (the core is reloaded from the store) and the error returned.
    pub fn mutate<T>(&self, f: impl FnOnce(&mut Core) -> T) -> Result<T, StoreError> {
        let mut st = self.lock();
        let out = f(&mut st.core);
        self.commit(&mut st)?;
        Ok(out)
    }

    /// Persists the core's pending changes (see [`Service::mutate`]).
    pub fn commit(&self, st: &mut State) -> Result<(), StoreError> {
        let changes = st.core.take_changes();
        let t0 = std::time::Instant::now();
        let applied = apply_off_runtime(&st.store, &changes);
        let took = t0.elapsed();
        if took > SLOW_COMMIT {
            tracing::info!(
                ms = took.as_millis() as u64,
                jobs = changes.put_jobs.len(),
                runs = changes.put_runs.len(),
                "chronos: slow store commit"
            );
        }
        if let Err(e) = applied {
            tracing::error!(error = %e, "cannot persist scheduler state; undoing the change");
            let _ = st.core.take_effects();
            match st.store.load() {
                Ok(l) => st.core = Core::restore(l.jobs, l.runs),
                Err(e2) => tracing::error!(error = %e2, "cannot reload scheduler state"),
            }
            return Err(e);
        }
        let effects = st.core.take_effects();
        // Wake the timer only when something changed; waking it for nothing
        // would make its loop spin.
        if !changes.is_empty() || !effects.is_empty() {
            self.wake.notify_one();
        }
        for e in effects {
            let _ = self.effects.send(e);
        }
        Ok(())
    }
}
