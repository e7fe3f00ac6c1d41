//! Phase signalling between the training thread and its persistent workers.
//!
//! A training step is one short phase (a W2 batch is tens of microseconds
//! of work), so a park/unpark per phase would eat the gain of a second core.
//! A phase is cut into chunks, in two parts whose chunks are claimed in
//! order (a step's samples, then its rows); in each part every thread has
//! its own share in a claim word of its own (generation, first and end of
//! what is left), takes chunks from its front and, once its share is done,
//! helps the others from the back of theirs. The leader publishes the job in one
//! more word, claims chunks too and then waits only for chunks that another
//! thread has claimed and not finished: a worker that the OS has descheduled
//! (the machine may be shared) never holds up a phase it has not joined.
//! Workers spin briefly on the word and only then sleep on a condition
//! variable; the leader wakes sleepers only when there are any. A phase may
//! be published for only the first threads of the team (the leader alone,
//! when the threads cost more than they give: see `parallel`'s pacing);
//! the others then let it pass, and, once asleep, are not woken for it.
//! Which thread runs which chunk does not change any result (see `parallel`).

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
    /// A training step: forward and backward passes for chunks of the
    /// batch's samples (part 0), then gradient rows (and, when the rule is
    /// known, their update) for chunks of the weights (part 1).
    Step,
    /// The update of chunks of the weights (part 1), once the rule is known.
    Update,
    /// Leave the worker loop.
    Exit,
}

impl Job {
    fn code(self) -> u64 {
        match self {
            Job::Step => 0,
            Job::Update => 1,
            Job::Exit => 3,
        }
    }

    fn from_code(c: u64) -> Self {
        match c {
            0 => Job::Step,
            1 => Job::Update,
            _ => Job::Exit,
        }
    }
}

/// Most chunks a part of a phase may have.
pub(crate) const MAX_CHUNKS: usize = 30;

/// Parts of a phase: every chunk of part 0 is claimed before any of part 1.
pub(crate) const PARTS: usize = 2;

/// Most threads a phase may be published for (the team field's width).
const MAX_TEAM: usize = (1 << 30) - 1;

/// The job word: generation (32 bits) | job (2 bits) | team (30 bits: the
/// threads, the leader first, that take part in the phase).
fn pack(generation: u64, job: Job, team: usize) -> u64 {
    (generation << 32) | (job.code() << 30) | team.min(MAX_TEAM) as u64
}

fn team(state: u64) -> usize {
    (state & MAX_TEAM as u64) as usize
}

/// Whether thread `me` takes part in the phase of `state` (every thread
/// takes part in leaving).
fn joins(state: u64, me: usize) -> bool {
    me < team(state) || job(state) == Job::Exit
}

fn generation(state: u64) -> u64 {
    state >> 32
}

fn job(state: u64) -> Job {
    Job::from_code((state >> 30) & 0b11)
}

/// A thread's claim word: generation (32 bits) | first unclaimed chunk of
/// its share (16 bits) | end of the unclaimed part (16 bits). The owner
/// claims from the front, a helper from the back.
fn pack_share(generation: u64, lo: usize, hi: usize) -> u64 {
    (generation << 32) | ((lo as u64) << 16) | hi as u64
}

fn share_bounds(word: u64) -> (usize, usize) {
    (((word >> 16) & 0xffff) as usize, (word & 0xffff) as usize)
}

/// A value alone on its cache line (two lines: adjacent-line prefetch), so
/// that the words that different threads write do not bounce together.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Shared between the leader (the thread that calls `train`) and its workers.
///
/// Each thread has its own claim word and its own count of finished
/// chunks, each on its own cache line: a thread that works through its own
/// share touches only lines that stay in its core's cache, and a line moves
/// between cores only when the leader starts a phase, when a thread reports
/// its chunks done (once per phase), or when a thread that ran out of work
/// takes a chunk from another's share.
#[derive(Debug)]
pub(crate) struct Signal {
    state: Line<AtomicU64>,
    /// Per part, per thread: its claim word ([`pack_share`]).
    shares: [Vec<Line<AtomicU64>>; PARTS],
    /// Per thread: chunks it has finished, over all generations.
    done: Vec<Line<AtomicUsize>>,
    /// Leader only: chunks published, over all generations (what `done`
    /// adds up to once the current phase is over).
    published: AtomicUsize,
    sleepers: AtomicUsize,
    /// Set when a worker unwound, so the leader stops waiting for it.
    failed: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Signal {
    /// A signal for a team of `threads` (the leader included).
    pub(crate) fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        Signal {
            state: Line::default(),
            shares: std::array::from_fn(|_| (0..threads).map(|_| Line::default()).collect()),
            done: (0..threads).map(|_| Line::default()).collect(),
            published: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Leader: starts `job` of `parts[0]` chunks, numbered from 0, then
    /// `parts[1]` more (each ≤ [`MAX_CHUNKS`]), for the first `team` threads
    /// (at least the leader, at most all); returns its generation for
    /// [`Signal::claim`]. In each part, thread `t` of the `n` in the team
    /// first gets `total·t/n .. total·(t+1)/n` of its chunks, the same every
    /// step, so that the chunks' buffers stay in its cache; a thread outside
    /// the team gets none.
    pub(crate) fn publish(&self, job: Job, parts: [usize; PARTS], team: usize) -> u64 {
        let g = (generation(self.state.load(Ordering::Relaxed)) + 1) & 0xffff_ffff;
        let team = team.clamp(1, self.done.len());
        let mut first = 0;
        for (words, total) in self.shares.iter().zip(parts) {
            let total = total.min(MAX_CHUNKS);
            for (t, word) in words.iter().enumerate() {
                let (lo, hi) = if t < team {
                    (first + total * t / team, first + total * (t + 1) / team)
                } else {
                    (first, first)
                };
                word.store(pack_share(g, lo, hi), Ordering::Relaxed);
            }
            first += total;
        }
        self.published.fetch_add(first, Ordering::Relaxed);
        // Release: a thread that sees the generation sees the claim words.
        // SeqCst pairs with the worker's SeqCst `sleepers` increment: either
        // the worker sees the new generation or we see it asleep.
        let state = pack(g, job, team);
        self.state.store(state, Ordering::SeqCst);
        // A sleeper outside the team sleeps on: waking it would cost the
        // leader a system call for nothing.
        if (team > 1 || job == Job::Exit) && self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
        g
    }

    /// Thread `me`: claims a chunk of generation `g`, or `None` when all are
    /// taken or the generation has moved on. In each part in turn, it takes
    /// its own share from the front, then helps the other threads from the
    /// back of theirs.
    pub(crate) fn claim(&self, g: u64, me: usize) -> Option<usize> {
        self.shares.iter().find_map(|words| {
            let n = words.len();
            (0..n).find_map(|k| take(&words[(me + k) % n], g, k == 0))
        })
    }

    /// Thread `me`: reports `chunks` claimed chunks done (publishing their
    /// writes).
    pub(crate) fn finish(&self, me: usize, chunks: usize) {
        if chunks > 0 {
            self.done[me].fetch_add(chunks, Ordering::Release);
        }
    }

    /// Leader: whether every chunk published so far is done.
    pub(crate) fn all_done(&self) -> bool {
        let target = self.published.load(Ordering::Relaxed);
        let done = self
            .done
            .iter()
            .fold(0usize, |a, d| a.wrapping_add(d.load(Ordering::Acquire)));
        done == target
    }

    /// Leader: waits until every chunk published so far is done. Returns
    /// false if a worker died instead.
    pub(crate) fn wait_done(&self) -> bool {
        self.wait_until(|| self.all_done())
    }

    /// Spins, then yields its time slice, until `ready()`; false if a thread
    /// failed first (its work will never be done).
    pub(crate) fn wait_until(&self, mut ready: impl FnMut() -> bool) -> bool {
        let mut spins = 0u32;
        loop {
            if ready() {
                return true;
            }
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
    }

    /// Worker `me`: waits for a generation other than `seen` that it takes
    /// part in (phases for a smaller team pass by); returns it and its job.
    pub(crate) fn wait_job(&self, seen: u64, me: usize) -> (u64, Job) {
        let wanted = |s: u64| generation(s) != seen && joins(s, me);
        for _ in 0..SPIN_BEFORE_SLEEP {
            let s = self.state.load(Ordering::Acquire);
            if wanted(s) {
                return (generation(s), job(s));
            }
            std::hint::spin_loop();
        }
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let mut s = self.state.load(Ordering::SeqCst);
        while !wanted(s) {
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

/// Claims the next chunk of a claim word of generation `g`: from the front
/// (its owner) or from the back (a helper).
fn take(word: &AtomicU64, g: u64, front: bool) -> Option<usize> {
    let mut s = word.load(Ordering::Acquire);
    loop {
        if generation(s) != g {
            return None;
        }
        let (lo, hi) = share_bounds(s);
        if lo >= hi {
            return None;
        }
        let (next, c) = if front {
            (pack_share(g, lo + 1, hi), lo)
        } else {
            (pack_share(g, lo, hi - 1), hi - 1)
        };
        match word.compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(c),
            Err(now) => s = now,
        }
    }
}

/// Leader: when dropped (at the end of training, or while a panic in the
/// leader's thread unwinds, say in a callback or a loss), tells the workers
/// to leave; an unwinding leader also marks the signal failed, so that no
/// worker keeps waiting for a samples chunk the leader will never finish.
/// The scope can then join the workers and re-raise the panic.
pub(crate) struct ExitOnDrop<'a>(pub(crate) &'a Signal);

impl Drop for ExitOnDrop<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.failed.store(true, Ordering::Relaxed);
        }
        self.0.publish(Job::Exit, [0, 0], usize::MAX);
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

/// The error when the system refuses to start a thread (no memory for its
/// stack, or a limit on threads).
pub(crate) const NO_THREAD: &str = "threads: the system could not start one more thread";

/// How thread `k` of a group (the leader's workers, or threads started
/// together) is started: [`system_threads`], or in tests one whose stack no
/// system can give, so that starting it fails for real.
pub(crate) type Spawner = fn(usize) -> thread::Builder;

/// Threads as the system makes them by default.
pub(crate) fn system_threads(_: usize) -> thread::Builder {
    thread::Builder::new()
}

/// Whether the threads waiting at a [`Gate`] go on (`Some(true)`), give up
/// (`Some(false)`), or wait (`None`).
struct Gate {
    open: Mutex<Option<bool>>,
    moved: Condvar,
}

impl Gate {
    fn wait(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(go) = *open {
                return go;
            }
            open = self
                .moved
                .wait(open)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn set(&self, go: bool) {
        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = Some(go);
        self.moved.notify_all();
    }
}

/// Runs `f` on `n` threads (started by `spawn`) released together once all
/// of them have started, and returns their results in order. If the system
/// will not start one of them, none runs `f`: the ones already started are
/// released to leave, and the error is [`NO_THREAD`]. A panic in `f` goes
/// on in the caller.
pub(crate) fn together<T: Send>(
    n: usize,
    spawn: Spawner,
    f: impl Fn() -> T + Sync,
) -> Result<Vec<T>, tinytrain::Error> {
    let gate = Gate {
        open: Mutex::new(None),
        moved: Condvar::new(),
    };
    thread::scope(|s| {
        let (gate, f) = (&gate, &f);
        let mut handles = Vec::with_capacity(n);
        for k in 0..n {
            match spawn(k).spawn_scoped(s, move || gate.wait().then(f)) {
                Ok(h) => handles.push(h),
                Err(_) => {
                    gate.set(false);
                    return Err(tinytrain::Error::InvalidParam(NO_THREAD));
                }
            }
        }
        gate.set(true);
        Ok(handles
            .into_iter()
            .filter_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect())
    })
}

/// A [`Spawner`] that cannot start thread 2 of a group (its stack is more
/// than any system has): a system out of memory or threads, for real.
#[cfg(test)]
pub(crate) fn third_fails(k: usize) -> thread::Builder {
    let b = thread::Builder::new();
    if k == 2 {
        b.stack_size(1 << 60)
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_started_together_run_once_each_or_not_at_all() {
        let runs = AtomicUsize::new(0);
        let count = || runs.fetch_add(1, Ordering::Relaxed);
        let mut got = together(5, system_threads, count).unwrap();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        // Two threads start, the third cannot: the two leave without running.
        let e = together(5, third_fails, count).unwrap_err();
        assert_eq!(e, tinytrain::Error::InvalidParam(NO_THREAD));
        assert_eq!(runs.load(Ordering::Relaxed), 5);
        assert!(together(0, system_threads, count).unwrap().is_empty());
    }

    #[test]
    fn every_chunk_runs_exactly_once_and_only_on_the_team() {
        let signal = Signal::new(4);
        let runs: Vec<AtomicUsize> = (0..7).map(|_| AtomicUsize::new(0)).collect();
        // The thread that ran each chunk last.
        let by: Vec<AtomicUsize> = (0..7).map(|_| AtomicUsize::new(0)).collect();
        thread::scope(|s| {
            for me in 1..4 {
                let (signal, runs, by) = (&signal, &runs, &by);
                s.spawn(move || {
                    let mut seen = 0;
                    loop {
                        let (g, job) = signal.wait_job(seen, me);
                        seen = g;
                        if job == Job::Exit {
                            break;
                        }
                        let mut mine = 0;
                        while let Some(c) = signal.claim(g, me) {
                            runs[c].fetch_add(1, Ordering::Relaxed);
                            by[c].store(me, Ordering::Relaxed);
                            mine += 1;
                        }
                        signal.finish(me, mine);
                    }
                });
            }
            for round in 0..3000 {
                let (job, parts) = if round % 2 == 0 {
                    (Job::Step, [3, runs.len() - 3])
                } else {
                    (Job::Update, [0, runs.len()])
                };
                // The whole team, the leader alone, half the team.
                let team = [4, 1, 2][round / 100 % 3];
                let g = signal.publish(job, parts, team);
                if round % 300 == 150 {
                    // Long enough for the workers outside the team to sleep:
                    // the next phases must wake them (or run without them).
                    thread::sleep(std::time::Duration::from_millis(5));
                }
                let mut mine = 0;
                while let Some(c) = signal.claim(g, 0) {
                    runs[c].fetch_add(1, Ordering::Relaxed);
                    by[c].store(0, Ordering::Relaxed);
                    mine += 1;
                }
                signal.finish(0, mine);
                assert!(signal.wait_done());
                for (c, (r, b)) in runs.iter().zip(&by).enumerate() {
                    assert_eq!(r.load(Ordering::Relaxed), round + 1, "chunk {c}");
                    assert!(b.load(Ordering::Relaxed) < team, "chunk {c}, team {team}");
                }
            }
            signal.publish(Job::Exit, [0, 0], usize::MAX);
        });
    }
}
