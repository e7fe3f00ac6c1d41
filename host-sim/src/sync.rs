//! Phase signalling between the training thread and its persistent workers.
//!
//! One training step is two short phases (a W2 batch is tens of
//! microseconds of work), so a park/unpark per phase would eat the gain of a
//! second core. Each phase is cut into chunks that threads *claim* from one
//! atomic word holding the generation, the job and the next chunk index.
//! The leader claims chunks too and then waits only for chunks that another
//! thread has claimed and not finished: a worker that the OS has descheduled
//! (the machine may be shared) never holds up a phase it has not joined.
//! Workers spin briefly on the word and only then sleep on a condition
//! variable; the leader wakes sleepers only when there are any. Which thread
//! runs which chunk does not change any result (see `parallel`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread;

/// Spin iterations before a worker goes to sleep (a few tens of microseconds).
const SPIN_BEFORE_SLEEP: u32 = 20_000;
/// Spin iterations before the leader starts yielding its time slice.
const SPIN_BEFORE_YIELD: u32 = 2_000;

/// What the workers are asked to do in the current generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Job {
    /// Forward and backward passes for chunks of the batch's samples.
    Samples,
    /// Gradient rows (and, when the rule is known, their update) for chunks
    /// of the weights.
    Rows,
    /// The update of chunks of the weights, once the rule is known.
    Update,
    /// Leave the worker loop.
    Exit,
}

impl Job {
    fn code(self) -> u64 {
        match self {
            Job::Samples => 0,
            Job::Rows => 1,
            Job::Update => 2,
            Job::Exit => 3,
        }
    }

    fn from_code(c: u64) -> Self {
        match c {
            0 => Job::Samples,
            1 => Job::Rows,
            2 => Job::Update,
            _ => Job::Exit,
        }
    }
}

/// Most chunks a phase may have: one bit each in the claim word.
pub(crate) const MAX_CHUNKS: usize = 30;

/// The claim word: generation (32 bits) | job (2 bits) | one bit per chunk
/// claimed (30 bits).
fn pack(generation: u64, job: Job, claimed: u64) -> u64 {
    (generation << 32) | (job.code() << 30) | claimed
}

fn generation(state: u64) -> u64 {
    state >> 32
}

fn job(state: u64) -> Job {
    Job::from_code((state >> 30) & 0b11)
}

fn claimed(state: u64) -> u64 {
    state & ((1 << MAX_CHUNKS) - 1)
}

/// A value alone on its cache line (two lines: adjacent-line prefetch), so
/// that the claim word and the done counter do not bounce together.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Shared between the leader (the thread that calls `train`) and its workers.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    state: Line<AtomicU64>,
    /// Chunks finished in the current generation.
    done: Line<AtomicUsize>,
    sleepers: AtomicUsize,
    /// Set when a worker unwound, so the leader stops waiting for it.
    failed: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Signal {
    /// Leader: starts `job`; returns its generation for [`Signal::claim`].
    pub(crate) fn publish(&self, job: Job) -> u64 {
        self.done.store(0, Ordering::Relaxed);
        let g = (generation(self.state.load(Ordering::Relaxed)) + 1) & 0xffff_ffff;
        // SeqCst pairs with the worker's SeqCst `sleepers` increment: either
        // the worker sees the new generation or we see it asleep.
        self.state.store(pack(g, job, 0), Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
        g
    }

    /// Thread `me` of `threads`: claims a chunk of generation `g` (of
    /// `total` ≤ [`MAX_CHUNKS`]), or `None` when all are taken or the
    /// generation has moved on. Each thread prefers its own share of the
    /// chunks (the same one every step, so the chunk's buffers stay in its
    /// cache) and then helps with the others'.
    pub(crate) fn claim(&self, g: u64, total: usize, me: usize, threads: usize) -> Option<usize> {
        let total = total.min(MAX_CHUNKS);
        let first = total * me / threads.max(1);
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if generation(s) != g {
                return None;
            }
            let taken = claimed(s);
            let c = (0..total)
                .map(|k| (first + k) % total)
                .find(|&c| taken & (1 << c) == 0)?;
            match self.state.compare_exchange_weak(
                s,
                s | (1 << c),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(c),
                Err(now) => s = now,
            }
        }
    }

    /// Any thread: reports a claimed chunk done (publishing its writes).
    pub(crate) fn finish(&self) {
        self.done.fetch_add(1, Ordering::Release);
    }

    /// Leader: waits until all `total` chunks are done. Returns false if a
    /// worker died instead.
    pub(crate) fn wait_done(&self, total: usize) -> bool {
        let mut spins = 0u32;
        while self.done.load(Ordering::Acquire) < total {
            if self.failed.load(Ordering::Relaxed) {
                return false;
            }
            if spins < SPIN_BEFORE_YIELD {
                spins += 1;
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
        true
    }

    /// Worker: waits for a generation other than `seen`; returns it and its job.
    pub(crate) fn wait_job(&self, seen: u64) -> (u64, Job) {
        for _ in 0..SPIN_BEFORE_SLEEP {
            let s = self.state.load(Ordering::Acquire);
            if generation(s) != seen {
                return (generation(s), job(s));
            }
            std::hint::spin_loop();
        }
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let mut s = self.state.load(Ordering::SeqCst);
        while generation(s) == seen {
            guard = self
                .wake
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
            s = self.state.load(Ordering::SeqCst);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        (generation(s), job(s))
    }
}

/// Marks the signal failed if the worker owning it unwinds, so the leader
/// does not wait forever; the scope then re-raises the panic.
pub(crate) struct FailOnUnwind<'a>(pub(crate) &'a Signal);

impl Drop for FailOnUnwind<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.failed.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_runs_exactly_once() {
        let signal = Signal::default();
        let runs: Vec<AtomicUsize> = (0..7).map(|_| AtomicUsize::new(0)).collect();
        thread::scope(|s| {
            for me in 1..4 {
                let (signal, runs) = (&signal, &runs);
                s.spawn(move || {
                    let mut seen = 0;
                    loop {
                        let (g, job) = signal.wait_job(seen);
                        seen = g;
                        if job == Job::Exit {
                            break;
                        }
                        while let Some(c) = signal.claim(g, runs.len(), me, 4) {
                            runs[c].fetch_add(1, Ordering::Relaxed);
                            signal.finish();
                        }
                    }
                });
            }
            for round in 0..1000 {
                let g = signal.publish(if round % 2 == 0 {
                    Job::Samples
                } else {
                    Job::Rows
                });
                while let Some(c) = signal.claim(g, runs.len(), 0, 4) {
                    runs[c].fetch_add(1, Ordering::Relaxed);
                    signal.finish();
                }
                assert!(signal.wait_done(runs.len()));
                for r in &runs {
                    assert_eq!(r.load(Ordering::Relaxed), round + 1);
                }
            }
            signal.publish(Job::Exit);
        });
    }
}
