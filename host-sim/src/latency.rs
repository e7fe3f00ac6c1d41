//! The time two threads take to hand a cache line to each other and back.
//!
//! Every phase of a threaded step hands cache lines between cores (the
//! signal words, the samples' deltas, the new weights), so this round trip
//! sets what sharing a small step costs. On a virtual machine it may change
//! while a program runs, when the host moves its virtual CPUs; `bench`
//! measures it in every round, next to the speedups it explains.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

/// One counter on a line of its own (two lines: adjacent-line prefetch).
#[repr(align(128))]
struct Own(AtomicU64);

/// Spins until `word` holds `value`, yielding now and then (so that on a
/// single CPU the other thread gets to run).
fn await_value(word: &AtomicU64, value: u64) {
    let mut spins = 0u32;
    while word.load(Ordering::Acquire) != value {
        spins += 1;
        if spins.is_multiple_of(4096) {
            thread::yield_now();
        } else {
            spin_loop();
        }
    }
}

/// Median over `rounds` of the mean round trip, in nanoseconds, of
/// `trips` hand-overs of a counter from this thread to a second one and
/// back (each thread spins until it sees the other's last value). The OS
/// picks the cores; on a busy machine a round may include a time slice of
/// waiting, hence the median.
pub fn round_trip_ns(trips: u64, rounds: usize) -> f64 {
    let trips = trips.max(1);
    let (ping, pong) = (Own(AtomicU64::new(0)), Own(AtomicU64::new(0)));
    let mut means: Vec<f64> = thread::scope(|s| {
        let (ping, pong) = (&ping, &pong);
        s.spawn(move || {
            for i in 1..=trips * rounds as u64 {
                await_value(&ping.0, i);
                pong.0.store(i, Ordering::Release);
            }
        });
        (0..rounds as u64)
            .map(|r| {
                let start = Instant::now();
                for i in r * trips + 1..=(r + 1) * trips {
                    ping.0.store(i, Ordering::Release);
                    await_value(&pong.0, i);
                }
                start.elapsed().as_secs_f64() * 1e9 / trips as f64
            })
            .collect()
    });
    means.sort_by(f64::total_cmp);
    means.get(means.len() / 2).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_trip_takes_some_time_and_less_than_a_time_slice() {
        let ns = round_trip_ns(2_000, 3);
        // A hand-over needs at least a cache miss each way; a median round
        // of 2000 trips above 100 µs each would mean the threads never ran
        // together.
        assert!(ns > 1.0 && ns < 100_000.0, "{ns} ns");
    }
}
