//! Streaming on-device learning from a sensor: an LIS3DH-style accelerometer
//! driver (written against `embedded_hal::i2c::I2c`) reads windows of motion
//! while a cue asks for one of four gestures; each window becomes six
//! features and one per-sample SGD step, and is then forgotten. In QEMU the
//! bus is a simulated sensor worn by a simulated wearer who follows the cue;
//! on a board it is the HAL's I2C (see `nrf52840-dk`).
//!
//! The LED blinks once per block of training windows and stays on at the end
//! when the gestures were learnt. Passes when at least 95 % of 200 fresh
//! windows, never trained on, are recognised.
#![no_std]
#![no_main]

use core::cell::Cell;

use cortex_m_rt::entry;
use embedded_hal::digital::OutputPin;
use tinytrain::{init_seeded, Init, Model, Sgd, SgdConfig, SoftmaxCrossEntropy, Trainer};
use tinytrain_fw::accel::{self, Lis3dh};
use tinytrain_fw::gesture::{Confusion, Gesture, GestureStream, Net};
use tinytrain_qemu::sim::{SimLed, SimLis3dh, WearerCue};
use tinytrain_qemu::{finish, stack, OrFail, MACHINE};

const BLOCKS: u32 = 30;
const BLOCK: usize = 50;
const TEST_WINDOWS: u32 = 200;
const MIN_ACCURACY: f32 = 0.95;

#[entry]
fn main() -> ! {
    defmt::info!(
        "sensor: gesture learning from an I2C accelerometer on {=str}",
        MACHINE
    );
    let wearer = Cell::new(Gesture::Rest);
    let bus = SimLis3dh::new(&wearer, 0x5eed);
    let mut led = SimLed::default();
    let accel = match Lis3dh::new(bus, accel::ADDRESS) {
        Ok(a) => a,
        Err(e) => {
            defmt::error!("accelerometer: {}", e);
            finish("sensor found", false)
        }
    };
    defmt::info!(
        "accelerometer at {=u8:#04x}: WHO_AM_I ok, 100 Hz, +-2 g",
        accel::ADDRESS
    );
    let mut stream = GestureStream::new(accel, WearerCue(&wearer), 7);

    let mut net = Net::ZERO;
    let mut scratch = Net::SCRATCH;
    init_seeded(&mut net, Init::PyTorchDefault, 3);
    {
        let sgd = Sgd::new(SgdConfig::new(0.2)).or_fail("hyper-parameters");
        let mut trainer = Trainer::per_sample(&mut net, &mut scratch, SoftmaxCrossEntropy, sgd)
            .or_fail("trainer");
        for block in 0..BLOCKS {
            led.set_high().or_fail("LED");
            let s = match trainer.stream(&mut stream, 1, BLOCK) {
                Ok(s) => s,
                Err(e) => {
                    if let Some(cause) = stream.error() {
                        defmt::error!("sensor: {}", cause);
                    }
                    defmt::error!("training: {}", e);
                    finish("sensor stream", false)
                }
            };
            led.set_low().or_fail("LED");
            if block % 5 == 4 {
                defmt::info!(
                    "{=u32} windows learnt; last {=u32}: loss {=f32}, accuracy before each update {=f32}",
                    (block + 1) * BLOCK as u32,
                    s.samples,
                    s.loss(),
                    s.accuracy()
                );
            }
        }
    }

    // Fresh windows, never trained on.
    let confusion = match Confusion::of(&net, &mut scratch, &mut stream, TEST_WINDOWS) {
        Ok(c) => c,
        Err(e) => {
            defmt::error!("stream ended: {}", e);
            finish("sensor stream", false)
        }
    };
    confusion.log();
    let accuracy = confusion.accuracy();
    defmt::info!(
        "sensor accuracy {=f32} ({=u32}/{=u32}) on windows never trained on; peak stack {=usize} B",
        accuracy,
        confusion.correct(),
        TEST_WINDOWS,
        stack::high_water()
    );
    let ok = accuracy >= MIN_ACCURACY;
    if ok {
        led.set_high().or_fail("LED");
    }
    defmt::info!(
        "LED switched {=u32} times while learning, now {=str}",
        led.switches(),
        if led.is_on() { "on" } else { "off" }
    );
    finish(
        "sensor gestures learnt (accuracy >= 0.95)",
        ok && led.is_on(),
    )
}
