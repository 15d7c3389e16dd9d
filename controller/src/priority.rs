//! Progress before starts: reconciles of running Workflows (which can start the steps their
//! finished Jobs made ready) go before the first reconciles of new Workflows.
//!
//! kube's Controller serves its queue in arrival order, so when 1,000 Workflows are created at
//! once, the reconcile that would start the next step of a running one waits behind every
//! first reconcile queued before it (4 s for the worst pair in the 1,000-workflow run). So the
//! Controller runs with no limit of its own and every reconcile first takes a slot of this
//! gate, which has `--concurrency` slots and hands a freed one to a waiting progress reconcile
//! before any waiting start. Within a class, the order is the arrival order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use kwf_api::Workflow;
use tokio::sync::oneshot;

/// What a reconcile is for, as far as its turn goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A Workflow the controller has reconciled before (it has a phase): finished Jobs may let
    /// its next steps start.
    Progress,
    /// A Workflow never reconciled yet (no status phase): its first steps.
    Start,
}

/// The class of a reconcile of `wf`.
pub fn class_of(wf: &Workflow) -> Class {
    match wf.status.as_ref().and_then(|status| status.phase) {
        Some(_) => Class::Progress,
        None => Class::Start,
    }
}

/// The slots and who waits for them; pure bookkeeping, no clock and no I/O.
#[derive(Debug)]
struct Slots<W> {
    /// Free slots; None: unlimited.
    free: Option<usize>,
    progress: VecDeque<W>,
    start: VecDeque<W>,
}

impl<W> Slots<W> {
    fn new(slots: Option<usize>) -> Self {
        Self {
            free: slots,
            progress: VecDeque::new(),
            start: VecDeque::new(),
        }
    }

    /// A reconcile of `class` asks for a slot: true when it has one now, else it queues `waiter`.
    fn ask(&mut self, class: Class, waiter: W) -> bool {
        match &mut self.free {
            None => return true,
            Some(free) if *free > 0 && self.progress.is_empty() && self.start.is_empty() => {
                *free -= 1;
                return true;
            }
            Some(_) => {}
        }
        match class {
            Class::Progress => self.progress.push_back(waiter),
            Class::Start => self.start.push_back(waiter),
        }
        false
    }

    /// A slot was freed: the waiter to hand it to (progress first), or None when nobody waits
    /// (the slot is then free).
    fn next(&mut self) -> Option<W> {
        let next = self.progress.pop_front().or_else(|| self.start.pop_front());
        if next.is_none()
            && let Some(free) = &mut self.free
        {
            *free += 1;
        }
        next
    }
}

/// The gate every reconcile passes; cheap to clone (shared).
#[derive(Clone)]
pub struct Gate {
    slots: Arc<Mutex<Slots<oneshot::Sender<()>>>>,
}

/// A taken slot; freeing it (on drop) hands it on.
pub struct Permit {
    gate: Option<Gate>,
}

impl Gate {
    /// A gate of `slots` slots (0: unlimited).
    pub fn new(slots: usize) -> Self {
        Self {
            slots: Arc::new(Mutex::new(Slots::new((slots > 0).then_some(slots)))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots<oneshot::Sender<()>>> {
        // Plain queues: a panic elsewhere cannot leave them inconsistent.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot; reconciles of [`Class::Progress`] are served first.
    pub async fn acquire(&self, class: Class) -> Permit {
        let (tx, rx) = oneshot::channel();
        if self.lock().ask(class, tx) {
            return Permit {
                gate: Some(self.clone()),
            };
        }
        let mut waiting = Waiting {
            rx: Some(rx),
            gate: self.clone(),
        };
        if let Some(rx) = waiting.rx.as_mut() {
            // The sender is only dropped after a send or with the gate itself.
            let _ = rx.await;
        }
        waiting.rx = None;
        Permit {
            gate: Some(self.clone()),
        }
    }

    /// Hands a freed slot to the first waiter still waiting.
    fn release(&self) {
        let mut slots = self.lock();
        while let Some(waiter) = slots.next() {
            if waiter.send(()).is_ok() {
                return;
            }
            // That waiter gave up (its reconcile was dropped): the next one.
        }
    }
}

/// A waiter's side: if it is dropped after it was handed a slot but before it took it, the
/// slot is handed on, not lost.
struct Waiting {
    rx: Option<oneshot::Receiver<()>>,
    gate: Gate,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kwf_api::fixtures::WorkflowFixture;
    use kwf_api::{WorkflowPhase, WorkflowStatus};

    use super::*;

    #[test]
    fn a_workflow_with_a_phase_is_progress_a_new_one_a_start() {
        let new = kwf_api::fixtures::b_after_a();
        assert_eq!(class_of(&new), Class::Start);
        let mut running = new.clone().with_uid("uid-1");
        running.status = Some(WorkflowStatus {
            phase: Some(WorkflowPhase::Started),
            ..Default::default()
        });
        assert_eq!(class_of(&running), Class::Progress);
        running.status = Some(WorkflowStatus::default());
        assert_eq!(class_of(&running), Class::Start, "no phase: never decided");
    }

    #[test]
    fn a_freed_slot_goes_to_progress_before_starts_each_in_arrival_order() {
        let mut slots = Slots::new(Some(1));
        assert!(
            slots.ask(Class::Start, "s0"),
            "a free slot is taken at once"
        );
        assert!(!slots.ask(Class::Start, "s1"));
        assert!(!slots.ask(Class::Start, "s2"));
        assert!(!slots.ask(Class::Progress, "p1"));
        assert!(!slots.ask(Class::Progress, "p2"));
        let order: Vec<_> = std::iter::from_fn(|| slots.next()).collect();
        assert_eq!(order, ["p1", "p2", "s1", "s2"]);
        assert_eq!(slots.free, Some(1), "nobody waits: the slot is free again");
    }

    #[test]
    fn nobody_overtakes_a_waiter_for_a_free_slot() {
        let mut slots = Slots::new(Some(1));
        assert!(slots.ask(Class::Start, "s0"));
        assert!(!slots.ask(Class::Start, "s1"));
        // The slot freed while s1 waits goes to s1, never to a newcomer.
        assert_eq!(slots.next(), Some("s1"));
        assert!(!slots.ask(Class::Progress, "p1"));
    }

    #[test]
    fn an_unlimited_gate_never_queues() {
        let mut slots = Slots::new(None);
        for i in 0..100 {
            assert!(slots.ask(Class::Start, i));
        }
        assert_eq!(slots.next(), None);
    }

    #[tokio::test]
    async fn a_waiting_progress_reconcile_runs_before_an_earlier_start() {
        let gate = Gate::new(1);
        let held = gate.acquire(Class::Start).await;
        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        let start = tokio::spawn({
            let (gate, order) = (gate.clone(), order_tx.clone());
            async move {
                let _permit = gate.acquire(Class::Start).await;
                order.send("start").unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let progress = tokio::spawn({
            let (gate, order) = (gate.clone(), order_tx.clone());
            async move {
                let _permit = gate.acquire(Class::Progress).await;
                order.send("progress").unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        start.await.unwrap();
        progress.await.unwrap();
        assert_eq!(order_rx.recv().await, Some("progress"));
        assert_eq!(order_rx.recv().await, Some("start"));
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_keep_the_slot() {
        let gate = Gate::new(1);
        let held = gate.acquire(Class::Start).await;
        let abandoned = tokio::spawn({
            let gate = gate.clone();
            async move {
                let _permit = gate.acquire(Class::Progress).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        abandoned.abort();
        let _ = abandoned.await;
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), gate.acquire(Class::Start))
            .await
            .expect("the slot came back");
    }
}
