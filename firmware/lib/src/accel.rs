//! A driver for an LIS3DH-style 3-axis accelerometer, written only against
//! `embedded_hal::i2c::I2c`: the nRF52840's TWIM and the QEMU programs'
//! simulated sensor both plug in unchanged.
//!
//! Register map (ST LIS3DH): `WHO_AM_I` reads 0x33; `CTRL_REG1` sets the data
//! rate and axes; `CTRL_REG4` selects high-resolution ±2 g (12 bits, 1 mg per
//! digit, left-justified in a little-endian `i16`); `STATUS_REG` bit 3 says a
//! new X/Y/Z set is ready; the six output bytes start at `OUT_X_L`, read in
//! one transfer by setting bit 7 of the register address (auto-increment).

use embedded_hal::i2c::{ErrorKind, I2c};

/// 7-bit address with SA0 tied low.
pub const ADDRESS: u8 = 0x18;
/// What `WHO_AM_I` holds.
pub const WHO_AM_I_VALUE: u8 = 0x33;
/// Set in a register address to read or write successive registers.
pub const AUTO_INCREMENT: u8 = 0x80;

/// Register addresses.
pub mod reg {
    /// Device identification (0x33).
    pub const WHO_AM_I: u8 = 0x0F;
    /// Data rate, power mode, axis enables.
    pub const CTRL_REG1: u8 = 0x20;
    /// Block update, full scale, high resolution.
    pub const CTRL_REG4: u8 = 0x23;
    /// Data status; bit 3 = new X, Y and Z.
    pub const STATUS_REG: u8 = 0x27;
    /// First of six output bytes: X low, X high, Y low, Y high, Z low, Z high.
    pub const OUT_X_L: u8 = 0x28;
}

/// 100 Hz, normal power, X, Y and Z enabled.
pub const CTRL_REG1_100HZ_XYZ: u8 = 0x57;
/// Block data update, ±2 g, high resolution.
pub const CTRL_REG4_BDU_2G_HR: u8 = 0x88;
/// `STATUS_REG` bit: a new X/Y/Z set is ready.
pub const ZYXDA: u8 = 0x08;

/// What went wrong talking to the sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error<E> {
    /// The bus transfer failed.
    Bus(E),
    /// Something answered, but `WHO_AM_I` held this instead of 0x33.
    WrongDevice(u8),
}

impl<E: embedded_hal::i2c::Error> defmt::Format for Error<E> {
    fn format(&self, f: defmt::Formatter) {
        match self {
            Error::Bus(e) => {
                let kind = match e.kind() {
                    ErrorKind::Bus => "bus error",
                    ErrorKind::ArbitrationLoss => "arbitration lost",
                    ErrorKind::NoAcknowledge(_) => "no acknowledge",
                    ErrorKind::Overrun => "overrun",
                    _ => "other",
                };
                defmt::write!(f, "I2C {=str}", kind)
            }
            Error::WrongDevice(id) => defmt::write!(f, "WHO_AM_I = {=u8:#04x}, not 0x33", id),
        }
    }
}

/// The accelerometer on an I²C bus.
#[derive(Debug)]
pub struct Lis3dh<I2C> {
    i2c: I2C,
    address: u8,
}

impl<I2C: I2c> Lis3dh<I2C> {
    /// Checks the device identity and starts it at 100 Hz, ±2 g, high resolution.
    pub fn new(mut i2c: I2C, address: u8) -> Result<Self, Error<I2C::Error>> {
        let mut id = [0u8];
        i2c.write_read(address, &[reg::WHO_AM_I], &mut id)
            .map_err(Error::Bus)?;
        if id[0] != WHO_AM_I_VALUE {
            return Err(Error::WrongDevice(id[0]));
        }
        let mut dev = Lis3dh { i2c, address };
        dev.write(reg::CTRL_REG1, CTRL_REG1_100HZ_XYZ)?;
        dev.write(reg::CTRL_REG4, CTRL_REG4_BDU_2G_HR)?;
        Ok(dev)
    }

    fn write(&mut self, register: u8, value: u8) -> Result<(), Error<I2C::Error>> {
        self.i2c
            .write(self.address, &[register, value])
            .map_err(Error::Bus)
    }

    /// True when a new X/Y/Z set is ready.
    pub fn data_ready(&mut self) -> Result<bool, Error<I2C::Error>> {
        let mut s = [0u8];
        self.i2c
            .write_read(self.address, &[reg::STATUS_REG], &mut s)
            .map_err(Error::Bus)?;
        Ok(s[0] & ZYXDA != 0)
    }

    /// The latest X, Y, Z acceleration in milli-g.
    pub fn read_mg(&mut self) -> Result<[i16; 3], Error<I2C::Error>> {
        let mut raw = [0u8; 6];
        self.i2c
            .write_read(self.address, &[reg::OUT_X_L | AUTO_INCREMENT], &mut raw)
            .map_err(Error::Bus)?;
        // 12-bit left-justified: an arithmetic shift keeps the sign; 1 mg per digit at ±2 g.
        let axis = |k: usize| i16::from_le_bytes([raw[2 * k], raw[2 * k + 1]]) >> 4;
        Ok([axis(0), axis(1), axis(2)])
    }

    /// Waits for the next sample and returns it.
    pub fn next_mg(&mut self) -> Result<[i16; 3], Error<I2C::Error>> {
        while !self.data_ready()? {}
        self.read_mg()
    }

    /// Gives the bus back.
    pub fn release(self) -> I2C {
        self.i2c
    }
}
