//! Stand-ins for hardware QEMU does not have: an LIS3DH-style accelerometer
//! behind an `embedded_hal::i2c::I2c` bus, moved by a simulated wearer who
//! follows the cued gesture, and an LED behind `OutputPin`.

use core::cell::Cell;
use core::convert::Infallible;
use core::f32::consts::PI;

use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_hal::i2c::{self, ErrorKind, NoAcknowledgeSource, Operation, SevenBitAddress};
use tinytrain::rng::{below, uniform};
use tinytrain::Rng;
use tinytrain_fw::accel::{self, reg};
use tinytrain_fw::gesture::{Cue, Gesture};

/// Output data rate of the simulated sensor (Hz).
pub const RATE_HZ: f32 = 100.0;

/// Telling the simulated wearer which gesture to make: they make it from the
/// next sample on, with fresh random style (amplitude, speed, angle, phase).
#[derive(Clone, Copy, Debug)]
pub struct WearerCue<'a>(pub &'a Cell<Gesture>);

impl Cue for WearerCue<'_> {
    fn show(&mut self, gesture: Gesture) {
        self.0.set(gesture);
    }
}

/// A bus error of the simulated device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimError(ErrorKind);

impl i2c::Error for SimError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

/// How the wearer is moving right now.
#[derive(Clone, Copy, Debug)]
struct Motion {
    gesture: Gesture,
    /// Gravity direction (g), per axis.
    gravity: [f32; 3],
    /// Oscillation amplitude (g), frequency (Hz) and phase.
    amp: f32,
    freq: f32,
    phase: f32,
    /// Shake axis (0 = X, 1 = Y).
    axis: usize,
    noise: f32,
}

/// An LIS3DH as seen from the bus: registers, an address pointer with
/// auto-increment, and a new X/Y/Z sample every time the outputs are read.
#[derive(Debug)]
pub struct SimLis3dh<'a> {
    wearer: &'a Cell<Gesture>,
    rng: Rng,
    regs: [u8; 0x40],
    pointer: u8,
    motion: Motion,
    /// Samples since the current gesture began.
    t: u32,
}

impl<'a> SimLis3dh<'a> {
    /// A powered-down sensor on a wearer who does what `wearer` says.
    pub fn new(wearer: &'a Cell<Gesture>, seed: u64) -> Self {
        let mut regs = [0u8; 0x40];
        regs[usize::from(reg::WHO_AM_I)] = accel::WHO_AM_I_VALUE;
        regs[usize::from(reg::CTRL_REG1)] = 0x07;
        SimLis3dh {
            wearer,
            rng: Rng::seed(seed),
            regs,
            pointer: 0,
            motion: Motion {
                gesture: Gesture::Rest,
                gravity: [0.0, 0.0, 1.0],
                amp: 0.0,
                freq: 0.0,
                phase: 0.0,
                axis: 0,
                noise: 0.0,
            },
            t: u32::MAX,
        }
    }

    fn new_motion(&mut self, gesture: Gesture) -> Motion {
        let r = &mut self.rng;
        let mut m = Motion {
            gesture,
            gravity: [uniform(r, 0.1), uniform(r, 0.1), 1.0],
            amp: 0.0,
            freq: 0.0,
            phase: PI * uniform(r, 1.0),
            axis: below(r, 2) as usize,
            noise: 0.015,
        };
        match gesture {
            Gesture::Rest => {}
            Gesture::Tilt => {
                let angle = (50.0 + uniform(r, 20.0)) * (PI / 180.0);
                let (s, c) = (libm::sinf(angle), libm::cosf(angle));
                let sign = if below(r, 2) == 0 { 1.0 } else { -1.0 };
                m.gravity = [0.0, 0.0, c];
                m.gravity[m.axis] = sign * s;
            }
            Gesture::Shake => {
                m.amp = 1.2 + uniform(r, 0.4);
                m.freq = 4.5 + uniform(r, 1.5);
                m.noise = 0.04;
            }
            Gesture::Circle => {
                m.amp = 0.45 + uniform(r, 0.15);
                m.freq = 1.5 + uniform(r, 0.5);
                m.noise = 0.03;
            }
        }
        m
    }

    /// The next acceleration sample, in milli-g, as the sensor would clip it.
    fn sample_mg(&mut self) -> [i16; 3] {
        let g = self.wearer.get();
        if self.t == u32::MAX || g != self.motion.gesture {
            self.motion = self.new_motion(g);
            self.t = 0;
        }
        let m = self.motion;
        let w = 2.0 * PI * m.freq * (self.t as f32 / RATE_HZ) + m.phase;
        self.t = self.t.saturating_add(1);
        let mut a = m.gravity;
        match m.gesture {
            Gesture::Rest | Gesture::Tilt => {}
            Gesture::Shake => a[m.axis] += m.amp * libm::sinf(w),
            Gesture::Circle => {
                a[0] += m.amp * libm::cosf(w);
                a[1] += m.amp * libm::sinf(w);
            }
        }
        let mut out = [0i16; 3];
        for (o, v) in out.iter_mut().zip(a) {
            let mg = (v + uniform(&mut self.rng, m.noise)) * 1000.0;
            *o = mg.clamp(-2048.0, 2047.0) as i16;
        }
        out
    }

    fn write_reg(&mut self, value: u8) {
        let r = usize::from(self.pointer & 0x3f);
        // Only the control registers are writable.
        if (0x1e..=0x3f).contains(&r) && !(0x27..=0x2d).contains(&r) {
            self.regs[r] = value;
        }
        self.advance();
    }

    fn read_reg(&mut self) -> u8 {
        let r = self.pointer & 0x3f;
        if r == reg::OUT_X_L {
            // Reading the first output byte latches a new sample (block data update).
            let v = self.sample_mg();
            for (k, mg) in v.into_iter().enumerate() {
                // High resolution: 12 bits left-justified.
                let raw = (mg << 4).to_le_bytes();
                self.regs[usize::from(reg::OUT_X_L) + 2 * k] = raw[0];
                self.regs[usize::from(reg::OUT_X_L) + 2 * k + 1] = raw[1];
            }
        }
        let v = if r == reg::STATUS_REG {
            // Powered up (CTRL_REG1's data rate set): a sample is always ready.
            if self.regs[usize::from(reg::CTRL_REG1)] >> 4 != 0 {
                accel::ZYXDA
            } else {
                0
            }
        } else {
            self.regs[usize::from(r)]
        };
        self.advance();
        v
    }

    fn advance(&mut self) {
        if self.pointer & accel::AUTO_INCREMENT != 0 {
            self.pointer = accel::AUTO_INCREMENT | ((self.pointer + 1) & 0x3f);
        }
    }
}

impl i2c::ErrorType for SimLis3dh<'_> {
    type Error = SimError;
}

impl i2c::I2c<SevenBitAddress> for SimLis3dh<'_> {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), SimError> {
        if address != accel::ADDRESS {
            return Err(SimError(ErrorKind::NoAcknowledge(
                NoAcknowledgeSource::Address,
            )));
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    let Some((&sub, data)) = bytes.split_first() else {
                        continue;
                    };
                    self.pointer = sub;
                    for &b in data {
                        self.write_reg(b);
                    }
                }
                Operation::Read(buf) => {
                    for b in buf.iter_mut() {
                        *b = self.read_reg();
                    }
                }
            }
        }
        Ok(())
    }
}

/// An LED that remembers its state and counts how often it was switched.
#[derive(Debug, Default)]
pub struct SimLed {
    on: bool,
    switches: u32,
}

impl SimLed {
    /// Whether it is lit.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// How many times it changed state.
    pub fn switches(&self) -> u32 {
        self.switches
    }

    fn set(&mut self, on: bool) {
        self.switches += u32::from(on != self.on);
        self.on = on;
    }
}

impl PinErrorType for SimLed {
    type Error = Infallible;
}

impl OutputPin for SimLed {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.set(false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.set(true);
        Ok(())
    }
}
