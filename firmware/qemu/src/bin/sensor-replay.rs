//! Gesture learning from an accelerometer whose windows come in runs: the
//! wearer is asked for one gesture and makes it for 25 windows (8 s) before
//! the next, as one would ask a person. The same driver, stream and
//! simulated wearer as `sensor`, whose windows are each a fresh random
//! gesture.
//!
//! Trained on such runs one window at a time (`Trainer::stream`, as
//! `sensor` does), the network follows each run in turn and ends pulled
//! towards the last ones. So here the windows go into a replay buffer
//! (`tinytrain::Replay::reservoir`: 96 windows, a uniform random sample of
//! all those read so far, each gesture kept as a one-byte class label: 2.5
//! KB, where whole targets would take 4.3 KB) and after each run the network trains a
//! shuffled epoch of mini-batches of 8 over it, each batch a mix of many
//! runs. The program runs both on the same cued gestures and the same
//! learning rate, and reports both accuracies on 200 fresh windows (one
//! random gesture each, never trained on). A buffer of the latest 96
//! windows holds only the last three or four runs and forgets a gesture
//! missing from them: with `Replay::latest()` in place of the reservoir,
//! this program measures 0.80 (most shakes read as circles).
//!
//! Passes when the replay learner recognises at least 90 % of the fresh
//! windows and beats the per-sample one by 20 points; the LED, which blinks
//! once per run, then stays on.
#![no_std]
#![no_main]

use core::cell::Cell;

use cortex_m_rt::entry;
use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;
use tinytrain::{
    init_seeded, Gradients, Init, Model, Replay, Rng, Sgd, SgdConfig, SoftmaxCrossEntropy, Trainer,
};
use tinytrain_fw::accel::{self, Lis3dh};
use tinytrain_fw::gesture::{Confusion, Cue, Gesture, GestureStream, Net, FEATURES, GESTURES};
use tinytrain_qemu::sim::{SimLed, SimLis3dh, WearerCue};
use tinytrain_qemu::{finish, stack, OrFail, MACHINE};

/// Windows per cued gesture.
const RUN: u32 = 25;
/// Runs to learn from (1,500 windows, as many as `sensor` learns from).
const RUNS: u32 = 60;
/// Windows the replay buffer keeps.
const KEEP: usize = 96;
/// The replay buffer: each window's six features and its gesture as a byte.
type Windows = Replay<FEATURES, GESTURES, KEEP, u8>;
const BATCH: usize = 8;
const LR: f32 = 0.2;
/// Seed of the cued gestures, the same for both learners.
const CUES: u64 = 7;
const TEST_WINDOWS: u32 = 200;
const MIN_ACCURACY: f32 = 0.90;
const MIN_GAIN: f32 = 0.20;

/// Recognition of fresh windows, one random gesture each; logged.
fn test<I2C: I2c, C: Cue>(who: &str, net: &Net, stream: &mut GestureStream<I2C, C>) -> f32 {
    stream.set_run(1);
    let mut scratch = Net::SCRATCH;
    let confusion = Confusion::of(net, &mut scratch, stream, TEST_WINDOWS).or_fail("sensor stream");
    confusion.log();
    defmt::info!(
        "{=str}: accuracy {=f32} ({=u32}/{=u32}) on windows never trained on",
        who,
        confusion.accuracy(),
        confusion.correct(),
        TEST_WINDOWS
    );
    confusion.accuracy()
}

#[entry]
fn main() -> ! {
    defmt::info!(
        "sensor-replay: gestures in runs of {=u32} windows, on {=str}",
        RUN,
        MACHINE
    );
    let wearer = Cell::new(Gesture::Rest);
    let bus = SimLis3dh::new(&wearer, 0x5eed);
    let mut led = SimLed::default();
    let accel = Lis3dh::new(bus, accel::ADDRESS).or_fail("accelerometer");
    let sgd = Sgd::new(SgdConfig::new(LR)).or_fail("hyper-parameters");

    // One window at a time, as `sensor` trains.
    let mut stream = GestureStream::new(accel, WearerCue(&wearer), CUES);
    stream.set_run(RUN);
    let mut per_sample = Net::ZERO;
    init_seeded(&mut per_sample, Init::PyTorchDefault, 3);
    {
        let mut scratch = Net::SCRATCH;
        let mut trainer =
            Trainer::per_sample(&mut per_sample, &mut scratch, SoftmaxCrossEntropy, sgd)
                .or_fail("trainer");
        trainer
            .stream(&mut stream, 1, (RUNS * RUN) as usize)
            .or_fail("per-sample training");
    }
    let baseline = test("per sample", &per_sample, &mut stream);

    // The same cues again, through the replay buffer.
    let (accel, cue) = stream.release();
    let mut stream = GestureStream::new(accel, cue, CUES);
    stream.set_run(RUN);
    let mut net = Net::ZERO;
    init_seeded(&mut net, Init::PyTorchDefault, 3);
    let mut replay = Windows::reservoir(5);
    let (mut order, mut rng) = ([0u16; KEEP], Rng::seed(11));
    {
        let (mut scratch, mut grads) = (Net::SCRATCH, Gradients::<Net>::ZERO);
        let mut trainer =
            Trainer::new(&mut net, &mut scratch, &mut grads, SoftmaxCrossEntropy, sgd)
                .or_fail("trainer");
        for run in 0..RUNS {
            led.set_high().or_fail("LED");
            if let Err(e) = replay.fill(&mut stream, RUN as usize) {
                if let Some(cause) = stream.error() {
                    defmt::error!("sensor: {}", cause);
                }
                defmt::error!("replay: {}", e);
                finish("sensor stream", false)
            }
            let s = trainer
                .epoch(&mut replay, &mut order, BATCH, &mut rng)
                .or_fail("training");
            led.set_low().or_fail("LED");
            if run % 10 == 9 {
                let mut held = [0u16; GESTURES];
                for t in replay.targets() {
                    held[t.class()] += 1;
                }
                defmt::info!(
                    "{=u32} runs learnt; replay {}, rest/tilt/shake/circle {=[?]}: loss {=f32}, accuracy before each update {=f32}",
                    run + 1,
                    replay,
                    held,
                    s.loss(),
                    s.accuracy()
                );
            }
        }
    }
    let accuracy = test("replay", &net, &mut stream);
    defmt::info!(
        "sensor-replay accuracy {=f32}, per sample {=f32}; replay buffer {=usize} B, peak stack {=usize} B",
        accuracy,
        baseline,
        Windows::BYTES,
        stack::high_water()
    );
    let ok = accuracy >= MIN_ACCURACY && accuracy >= baseline + MIN_GAIN;
    if ok {
        led.set_high().or_fail("LED");
    }
    finish(
        "sensor-replay gestures learnt from runs (accuracy >= 0.90, 20 points above per-sample)",
        ok && led.is_on(),
    )
}
