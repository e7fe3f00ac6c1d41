//! Whether a step runs on the whole thread team or on the leader alone.
//!
//! A step is cut into the same chunks either way and gives the same bits
//! (see `parallel`); only its time differs. Threads pay for every cache
//! line they hand each other, and on some machines that price changes while
//! a program runs: on a virtual machine the host may move the two virtual
//! CPUs between cores that share a cache and cores that do not. On the
//! machine the README's figures come from, the round trip of one line
//! between the two CPUs (which `bench` reports, [`crate::latency`]) switched
//! between about 100 ns and 400–570 ns from one second to the next, and a
//! W2 step (about 10 µs on two threads) then took longer on two threads than
//! on one.
//!
//! The [`Pacer`] therefore times the steps in windows and runs on the
//! faster way; now and then it runs a window the other way (a probe), and
//! switches when the probe was faster. A probe that lost is tried again
//! after 200 times what it cost, so that probes take about 0.5 % of the
//! time whether they are cheap (W2: a few steps of 10 µs) or dear (W3,
//! whose one-thread steps take 240 µs longer than its two-thread ones).

use std::time::Duration;

/// How a [`ParallelTrainer`](crate::ParallelTrainer) chooses between its
/// thread team and its leader alone, step by step. The weights are the same
/// either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pacing {
    /// Time both ways and run the faster one (the default).
    #[default]
    Adaptive,
    /// Always the whole team.
    Team,
    /// `n` steps on the team, then `n` alone, and so on (at least 1): every
    /// kind of hand-over between the two, for tests.
    Alternate(u32),
}

/// Steps after a change of way that no window counts: they include waking
/// sleeping workers and bringing their copies of the network up to date.
const SETTLE_STEPS: u32 = 2;
/// A window ends once it has this many steps…
const WINDOW_STEPS: usize = 4;
/// …and this much time.
const WINDOW_TIME: Duration = Duration::from_micros(100);
/// Time run one way before the first probe of the other, after every
/// switch, and at least between two probes.
const FIRST_INTERVAL: Duration = Duration::from_millis(2);
/// The longest time between probes.
const LAST_INTERVAL: Duration = Duration::from_millis(250);
/// After a probe that lost, the time until the next is this many times
/// what the probe cost (its time beyond that of as many steps the current
/// way): probes then take about 0.5 % of the time, whatever they cost.
const COST_RATIO: u32 = 200;
/// A probe wins when its median step is below this fraction of the current
/// way's (so that noise does not flip the choice back and forth).
const MARGIN: f64 = 0.97;

/// The pacing state of one trainer (kept across its `train` calls).
#[derive(Clone, Debug)]
pub(crate) struct Pacer {
    pacing: Pacing,
    /// Whether the next step runs on the leader alone.
    solo: bool,
    /// Step times of the window in progress, and their sum.
    window: Vec<Duration>,
    window_time: Duration,
    /// Median step of the last full window the current way.
    current: Option<Duration>,
    /// Time run the current way since the last probe.
    since_probe: Duration,
    /// Time to run the current way before the next probe.
    interval: Duration,
    /// Whether the window in progress is a probe.
    probing: bool,
    /// Time and steps of the probe in progress, settling included.
    probe_time: Duration,
    probe_steps: u32,
    /// Steps still to pass before the window in progress starts.
    settle: u32,
    /// Steps recorded, and how many of them ran on the leader alone.
    steps: u64,
    solo_steps: u64,
}

impl Pacer {
    pub(crate) fn new(pacing: Pacing) -> Self {
        Pacer {
            pacing,
            solo: false,
            window: Vec::with_capacity(64),
            window_time: Duration::ZERO,
            current: None,
            since_probe: Duration::ZERO,
            interval: FIRST_INTERVAL,
            probing: false,
            probe_time: Duration::ZERO,
            probe_steps: 0,
            settle: 0,
            steps: 0,
            solo_steps: 0,
        }
    }

    /// Whether the next step should run on the leader alone.
    pub(crate) fn solo(&self) -> bool {
        self.solo
    }

    /// (Steps recorded that ran alone, all steps recorded.)
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.solo_steps, self.steps)
    }

    /// Records that a step ran (the way [`Pacer::solo`] said) in `time`,
    /// and decides how the next one runs.
    pub(crate) fn record(&mut self, time: Duration) {
        self.steps += 1;
        self.solo_steps += u64::from(self.solo);
        match self.pacing {
            Pacing::Team => return,
            Pacing::Alternate(n) => {
                self.solo = (self.steps / u64::from(n.max(1))) % 2 == 1;
                return;
            }
            Pacing::Adaptive => {}
        }
        if self.probing {
            self.probe_time += time;
            self.probe_steps += 1;
        }
        if self.settle > 0 {
            self.settle -= 1;
            return;
        }
        self.window.push(time);
        self.window_time += time;
        if self.window.len() < WINDOW_STEPS || self.window_time < WINDOW_TIME {
            return;
        }
        self.window.sort_unstable();
        let median = self.window[self.window.len() / 2];
        let spent = self.window_time;
        self.window.clear();
        self.window_time = Duration::ZERO;
        if !self.probing {
            self.current = Some(median);
            self.since_probe += spent;
            if self.since_probe >= self.interval {
                self.probing = true;
                self.probe_time = Duration::ZERO;
                self.probe_steps = 0;
                self.switch();
            }
            return;
        }
        self.probing = false;
        self.since_probe = Duration::ZERO;
        let current = self.current.unwrap_or(Duration::MAX);
        if median.as_secs_f64() < current.as_secs_f64() * MARGIN {
            // The probe's way is faster: keep it, and check back soon.
            self.current = Some(median);
            self.interval = FIRST_INTERVAL;
        } else {
            // Back to the current way, until the probe's cost is about
            // 0.5 % of the time run.
            let usual = current.saturating_mul(self.probe_steps);
            let cost = self.probe_time.saturating_sub(usual);
            self.interval = cost
                .saturating_mul(COST_RATIO)
                .clamp(FIRST_INTERVAL, LAST_INTERVAL);
            self.switch();
        }
    }

    /// Changes way; the next steps settle before a window counts them.
    fn switch(&mut self) {
        self.solo = !self.solo;
        self.settle = SETTLE_STEPS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `steps` steps whose time is `team` or `solo` µs by the way
    /// the pacer chose; returns the steps that ran alone.
    fn run(p: &mut Pacer, steps: u32, team: u64, solo: u64) -> u64 {
        let before = p.counts().0;
        for _ in 0..steps {
            let us = if p.solo() { solo } else { team };
            p.record(Duration::from_micros(us));
        }
        p.counts().0 - before
    }

    #[test]
    fn runs_alone_when_the_team_is_slower_and_back_when_it_is_faster() {
        let mut p = Pacer::new(Pacing::Adaptive);
        assert!(!p.solo(), "starts on the team");
        // Team 20 µs a step, alone 13: mostly alone after the first probe.
        let alone = run(&mut p, 20_000, 20, 13);
        assert!(alone > 19_000, "{alone} of 20000 alone");
        assert!(p.solo());
        // The team becomes faster (10 µs): it takes over at the next probe,
        // at most the longest interval later.
        let alone = run(&mut p, 100_000, 10, 13);
        let time_alone = Duration::from_micros(13 * alone);
        assert!(time_alone <= LAST_INTERVAL + WINDOW_TIME, "{alone} alone");
        assert!(!p.solo());
    }

    #[test]
    fn probes_of_a_far_slower_way_become_rare() {
        let mut p = Pacer::new(Pacing::Adaptive);
        // W3-like: 285 µs on the team, 524 alone; 10 s of steps.
        let steps = 35_000;
        let alone = run(&mut p, steps, 285, 524);
        // Probes of 6 steps (2 to settle, 4 timed) cost about 0.5 % of the
        // time: one every 250 ms (the longest interval).
        let cost = alone as f64 * (524.0 - 285.0);
        let total = f64::from(steps) * 285.0 + cost;
        assert!(cost / total < 0.008, "{alone} probe steps");
        assert!(alone >= 6 * 35, "it does probe: {alone}");
        assert_eq!(p.counts(), (alone, u64::from(steps)));
    }

    #[test]
    fn the_steps_that_wake_the_workers_do_not_count() {
        let mut p = Pacer::new(Pacing::Adaptive);
        // Alone 13 µs; the team 30 µs for a while, then 10 µs, except its
        // first two steps after running alone (workers waking up): 600 µs.
        let mut since = 0;
        let mut was_solo = false;
        let mut step = |p: &mut Pacer, team: u64| {
            since = if p.solo() == was_solo { since + 1 } else { 0 };
            was_solo = p.solo();
            let us = match (p.solo(), since) {
                (true, _) => 13,
                (false, 0..2) => 600,
                (false, _) => team,
            };
            p.record(Duration::from_micros(us));
        };
        for _ in 0..5_000 {
            step(&mut p, 30);
        }
        assert!(p.solo());
        for _ in 0..100_000 {
            step(&mut p, 10);
        }
        assert!(!p.solo(), "the team's probe won despite its first steps");
    }

    #[test]
    fn noise_within_the_margin_does_not_switch() {
        let mut p = Pacer::new(Pacing::Adaptive);
        // Alone 1 % slower: only probes run alone, never a longer stretch.
        let (mut stretch, mut longest) = (0, 0);
        for _ in 0..50_000 {
            let us = if p.solo() { 101 } else { 100 };
            stretch = if p.solo() { stretch + 1 } else { 0 };
            longest = longest.max(stretch);
            p.record(Duration::from_micros(us));
        }
        assert_eq!(longest, SETTLE_STEPS as usize + WINDOW_STEPS);
    }

    #[test]
    fn fixed_and_alternating_pacing() {
        let mut p = Pacer::new(Pacing::Team);
        assert_eq!(run(&mut p, 1000, 30, 1), 0);
        let mut p = Pacer::new(Pacing::Alternate(3));
        let mut ways = Vec::new();
        for _ in 0..12 {
            ways.push(p.solo());
            p.record(Duration::from_micros(5));
        }
        let f = false;
        let t = true;
        assert_eq!(ways, [f, f, f, t, t, t, f, f, f, t, t, t]);
    }
}
