//! Prompted gesture learning from an accelerometer, one window at a time.
//!
//! A [`Cue`] tells the wearer which gesture to make (a blink pattern on a
//! board, an instruction to the simulated wearer in QEMU); the stream then
//! reads [`WINDOW`] samples through the [`Lis3dh`] driver, keeps only running
//! sums, and hands six features with the cued gesture as the label to
//! training. No data set is ever held in RAM.

use embedded_hal::i2c::I2c;
use tinytrain::rng::below;
use tinytrain::{math, mlp, Dense, Identity, Network, Relu, Rng, Stream, Target};

use crate::accel::{self, Lis3dh};

/// Samples per window (0.32 s at 100 Hz).
pub const WINDOW: usize = 32;
/// Features per window: mean and standard deviation of X, Y and Z, in g.
pub const FEATURES: usize = 6;
/// Number of gestures.
pub const GESTURES: usize = 4;

/// The gesture classifier of the sample programs: six features, 12 ReLU
/// units, a logit per gesture (136 parameters).
pub type Net = mlp![Dense<FEATURES, 12, Relu>, Dense<12, GESTURES, Identity>];

/// What the wearer is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Gesture {
    /// Lie still, roughly flat.
    Rest,
    /// Hold the device tilted.
    Tilt,
    /// Shake it back and forth along one axis.
    Shake,
    /// Move it in a horizontal circle.
    Circle,
}

impl Gesture {
    /// Every gesture, by class index.
    pub const ALL: [Gesture; GESTURES] = [
        Gesture::Rest,
        Gesture::Tilt,
        Gesture::Shake,
        Gesture::Circle,
    ];

    /// The class index used as the training target.
    pub const fn class(self) -> usize {
        self as usize
    }
}

/// Shows the wearer the gesture to make next.
pub trait Cue {
    /// Called before each window is read.
    fn show(&mut self, gesture: Gesture);
}

/// Mean and standard deviation per axis of one window of milli-g samples, in g.
pub fn features(sum: [i32; 3], sum_sq: [u32; 3], n: u32, out: &mut [f32; FEATURES]) {
    let inv = 1.0 / n as f32;
    for k in 0..3 {
        let mean = sum[k] as f32 * inv;
        let var = (sum_sq[k] as f32 * inv - mean * mean).max(0.0);
        out[k] = mean * 1e-3;
        out[3 + k] = math::sqrt(var) * 1e-3;
    }
}

/// Labelled feature windows from an accelerometer, as a training [`Stream`].
#[derive(Debug)]
pub struct GestureStream<I2C: I2c, C> {
    accel: Lis3dh<I2C>,
    cue: C,
    rng: Rng,
    error: Option<accel::Error<I2C::Error>>,
    /// Windows per cued gesture (1: a fresh draw every window).
    run: u32,
    /// Windows of the current run still to come, and its gesture.
    left: u32,
    current: Gesture,
}

impl<I2C: I2c, C: Cue> GestureStream<I2C, C> {
    /// Cues gestures in an order drawn from `seed`.
    pub fn new(accel: Lis3dh<I2C>, cue: C, seed: u64) -> Self {
        GestureStream {
            accel,
            cue,
            rng: Rng::seed(seed),
            error: None,
            run: 1,
            left: 0,
            current: Gesture::Rest,
        }
    }

    /// Holds each cued gesture for `run` windows (at least 1) before the
    /// next draw, as a wearer asked to "shake it for eight seconds" does:
    /// the windows then come in runs of one class. From the next window on.
    pub fn set_run(&mut self, run: u32) {
        self.run = run.max(1);
        self.left = 0;
    }

    /// Cues a random gesture (or the current one, within a run: see
    /// [`set_run`](Self::set_run)), reads one window, writes its features
    /// into `x` and returns the gesture. Used for training and for evaluation.
    pub fn window(&mut self, x: &mut [f32; FEATURES]) -> Result<Gesture, accel::Error<I2C::Error>> {
        if self.left == 0 {
            self.current = Gesture::ALL[below(&mut self.rng, GESTURES as u32) as usize];
            self.left = self.run;
        }
        self.left -= 1;
        let g = self.current;
        self.cue.show(g);
        let (mut sum, mut sum_sq) = ([0i32; 3], [0u32; 3]);
        for _ in 0..WINDOW {
            let v = self.accel.next_mg()?;
            for k in 0..3 {
                let a = i32::from(v[k]);
                sum[k] += a;
                // |a| ≤ 2048 mg, so 32 squares stay below 2^28.
                sum_sq[k] += a.unsigned_abs() * a.unsigned_abs();
            }
        }
        features(sum, sum_sq, WINDOW as u32, x);
        Ok(g)
    }

    /// The driver's error behind the stream's `Error::Source`, if any.
    pub fn error(&self) -> Option<&accel::Error<I2C::Error>> {
        self.error.as_ref()
    }

    /// The driver and the cue back.
    pub fn release(self) -> (Lis3dh<I2C>, C) {
        (self.accel, self.cue)
    }
}

impl<I2C: I2c, C: Cue> Stream<FEATURES, GESTURES> for GestureStream<I2C, C> {
    fn next_sample(
        &mut self,
        x: &mut [f32; FEATURES],
    ) -> Option<Result<Target<GESTURES>, tinytrain::Error>> {
        // A bus failure is tinytrain's `Error::Source`; the driver's own
        // error is kept for the caller's log (see `error`).
        match self.window(x) {
            Ok(g) => Some(Ok(Target::Class(g.class()))),
            Err(e) => {
                self.error = Some(e);
                Some(Err(tinytrain::Error::Source("accelerometer on I2C")))
            }
        }
    }
}

/// Cued gestures (rows) against the network's predictions (columns) over
/// windows it never trained on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Confusion(pub [[u16; GESTURES]; GESTURES]);

impl Confusion {
    /// Reads `windows` fresh windows from `stream` and counts what `net`
    /// predicts for each.
    pub fn of<N, I2C, C>(
        net: &N,
        scratch: &mut N::Scratch,
        stream: &mut GestureStream<I2C, C>,
        windows: u32,
    ) -> Result<Self, accel::Error<I2C::Error>>
    where
        N: Network<FEATURES, GESTURES>,
        I2C: I2c,
        C: Cue,
    {
        let mut x = [0.0f32; FEATURES];
        let mut c = Confusion::default();
        for _ in 0..windows {
            let g = stream.window(&mut x)?;
            c.0[g.class()][net.predict(&x, scratch)] += 1;
        }
        Ok(c)
    }

    /// Windows recognised.
    pub fn correct(&self) -> u32 {
        (0..GESTURES).map(|g| u32::from(self.0[g][g])).sum()
    }

    /// Windows counted.
    pub fn total(&self) -> u32 {
        self.0.iter().flatten().map(|&n| u32::from(n)).sum()
    }

    /// The fraction recognised (0 when nothing was counted).
    pub fn accuracy(&self) -> f32 {
        self.correct() as f32 / self.total().max(1) as f32
    }

    /// Logs a line per gesture: how its windows were predicted.
    pub fn log(&self) {
        for g in Gesture::ALL {
            defmt::info!(
                "{=?}: predicted as rest/tilt/shake/circle {=[?]}",
                g,
                self.0[g.class()]
            );
        }
    }
}
