//! Gesture learning on a real board: an nRF52840-DK with an LIS3DH
//! breakout on TWIM0 (SCL P0.27, SDA P0.26, SA0 low) and LED1 (P0.13,
//! active low) as the status light.
//!
//! The same driver and stream as the QEMU `sensor` program
//! (`tinytrain_fw::accel`, `tinytrain_fw::gesture`), here over the HAL's
//! `Twim`, which implements `embedded_hal::i2c::I2c`. Before each window LED1
//! blinks the number of the gesture to make (1 rest, 2 tilt, 3 shake,
//! 4 circle); the wearer makes it for the 0.32 s window that follows. After
//! training, LED1 stays on when 95 % of 200 fresh windows are recognised.
//!
//! Build: `cargo build --release -p tinytrain-nrf52840-dk` (from `firmware/`).
//! Run: `cargo run --release` from this directory, with a probe attached.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use defmt_rtt as _;
use embedded_hal::digital::OutputPin;
use nrf52840_hal::gpio::{p0, Level, Output, Pin, PushPull};
use nrf52840_hal::{pac, twim, Twim};
use tinytrain::{init_seeded, Init, Model, Sgd, SgdConfig, SoftmaxCrossEntropy, Trainer};
use tinytrain_fw::accel::{self, Lis3dh};
use tinytrain_fw::gesture::{Confusion, Cue, Gesture, GestureStream, Net};

/// The core clock after reset (HFINT): 64 MHz.
const CORE_HZ: u32 = 64_000_000;
const BLOCKS: u32 = 30;
const BLOCK: usize = 50;
const TEST_WINDOWS: u32 = 200;
const MIN_ACCURACY: f32 = 0.95;

/// LED1: low is lit.
struct Led(Pin<Output<PushPull>>);

impl Led {
    fn set(&mut self, on: bool) {
        // Setting a GPIO level cannot fail on this HAL (the error type is Infallible).
        let _ = if on {
            self.0.set_low()
        } else {
            self.0.set_high()
        };
    }
}

/// Shows the gesture number as blinks on LED1, then a pause to start it.
struct BlinkCue(Led);

impl Cue for BlinkCue {
    fn show(&mut self, gesture: Gesture) {
        for _ in 0..=gesture.class() {
            self.0.set(true);
            cortex_m::asm::delay(CORE_HZ / 8);
            self.0.set(false);
            cortex_m::asm::delay(CORE_HZ / 8);
        }
        cortex_m::asm::delay(CORE_HZ / 4);
    }
}

fn fail(what: &str) -> ! {
    defmt::error!("FAIL: {=str}", what);
    exit(false)
}

fn exit(ok: bool) -> ! {
    // probe-rs run ends with this status; without a debugger, stop here.
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(false)
}

#[entry]
fn main() -> ! {
    let Some(p) = pac::Peripherals::take() else {
        fail("peripherals")
    };
    let port0 = p0::Parts::new(p.P0);
    let led = Led(port0.p0_13.into_push_pull_output(Level::High).degrade());
    let pins = twim::Pins {
        scl: port0.p0_27.into_floating_input().degrade(),
        sda: port0.p0_26.into_floating_input().degrade(),
    };
    let bus = Twim::new(p.TWIM0, pins, twim::Frequency::K400);
    let accel = match Lis3dh::new(bus, accel::ADDRESS) {
        Ok(a) => a,
        Err(e) => {
            defmt::error!("accelerometer: {}", e);
            fail("accelerometer found")
        }
    };
    defmt::info!("LIS3DH found; follow LED1: 1 blink rest, 2 tilt, 3 shake, 4 circle");
    let mut stream = GestureStream::new(accel, BlinkCue(led), 7);

    let mut net = Net::ZERO;
    let mut scratch = Net::SCRATCH;
    init_seeded(&mut net, Init::PyTorchDefault, 3);
    {
        let Ok(sgd) = Sgd::new(SgdConfig::new(0.2)) else {
            fail("hyper-parameters")
        };
        let Ok(mut trainer) = Trainer::per_sample(&mut net, &mut scratch, SoftmaxCrossEntropy, sgd)
        else {
            fail("trainer")
        };
        for block in 0..BLOCKS {
            match trainer.stream(&mut stream, 1, BLOCK) {
                Ok(s) => defmt::info!(
                    "block {=u32}: loss {=f32}, accuracy {=f32}",
                    block,
                    s.loss(),
                    s.accuracy()
                ),
                Err(e) => {
                    if let Some(cause) = stream.error() {
                        defmt::error!("sensor: {}", cause);
                    }
                    defmt::error!("training: {}", e);
                    fail("training")
                }
            }
        }
    }

    let confusion = match Confusion::of(&net, &mut scratch, &mut stream, TEST_WINDOWS) {
        Ok(c) => c,
        Err(e) => {
            defmt::error!("stream ended: {}", e);
            fail("sensor stream")
        }
    };
    confusion.log();
    let accuracy = confusion.accuracy();
    let (_, BlinkCue(mut led)) = stream.release();
    let ok = accuracy >= MIN_ACCURACY;
    led.set(ok);
    defmt::info!(
        "accuracy {=f32} ({=u32}/{=u32})",
        accuracy,
        confusion.correct(),
        TEST_WINDOWS
    );
    if !ok {
        fail("gestures learnt (accuracy >= 0.95)");
    }
    defmt::info!("PASS: gestures learnt (accuracy >= 0.95)");
    exit(true)
}
