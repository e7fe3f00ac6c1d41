//! The crate's one error type.

use core::fmt;

/// What went wrong, for everything that comes from outside the type system:
/// hyper-parameters, data, weight blobs.
///
/// Shapes never appear here: they are checked by the compiler.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// A hyper-parameter is out of range or not finite; names the parameter
    /// and the rule it broke, e.g. `"lr must be finite and in (0, 100]"`.
    InvalidParam(&'static str),
    /// A non-finite number (NaN or ±∞) was met; names where: `"input"`,
    /// `"target"`, `"loss"`, `"gradient"`, `"update"`, `"weights"`. The model
    /// was left exactly as it was.
    NonFinite(&'static str),
    /// A class index is not below the number of outputs.
    ClassOutOfRange {
        /// The class index given.
        class: usize,
        /// The number of classes (network outputs).
        classes: usize,
    },
    /// A buffer or data set has the wrong size.
    WrongLength {
        /// The length needed.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A weight blob ends before its header or payload does.
    Truncated {
        /// Bytes the blob needs.
        expected: usize,
        /// Bytes given.
        found: usize,
    },
    /// The bytes do not start with the weight-blob magic `TTNB`.
    BadMagic,
    /// The weight blob has a format version this build cannot read.
    UnsupportedVersion {
        /// The version found in the blob.
        found: u16,
    },
    /// The weight blob was written by a network of another shape or activations.
    ShapeMismatch {
        /// Shape hash of the network being loaded into.
        expected: u32,
        /// Shape hash recorded in the blob.
        found: u32,
    },
    /// The weight blob's CRC-32 does not match its contents (it is corrupted).
    ChecksumMismatch {
        /// CRC-32 computed over the blob.
        computed: u32,
        /// CRC-32 stored in the blob.
        stored: u32,
    },
    /// A data set or batch has no samples.
    Empty,
    /// A source of samples failed (a sensor, a bus, a file); names it.
    Source(&'static str),
    /// A target vector was given where only a class index can be stored
    /// (a [`Replay`](crate::Replay) with `u8` or `u16` labels).
    NotAClass,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::InvalidParam(what) => write!(f, "invalid hyper-parameter: {what}"),
            Error::NonFinite(what) => {
                write!(f, "non-finite value (NaN or infinity) in {what}; model left unchanged")
            }
            Error::ClassOutOfRange { class, classes } => {
                write!(f, "class index {class} out of range for {classes} outputs")
            }
            Error::WrongLength { expected, found } => {
                write!(f, "wrong length: expected {expected}, found {found}")
            }
            Error::Truncated { expected, found } => {
                write!(f, "weight blob truncated: needs {expected} bytes, has {found}")
            }
            Error::BadMagic => write!(f, "not a tinytrain weight blob (bad magic)"),
            Error::UnsupportedVersion { found } => {
                write!(f, "unsupported weight blob version {found}")
            }
            Error::ShapeMismatch { expected, found } => write!(
                f,
                "weight blob is for a different network (shape hash {found:#010x}, expected {expected:#010x})"
            ),
            Error::ChecksumMismatch { computed, stored } => write!(
                f,
                "weight blob corrupted: CRC-32 {computed:#010x} does not match stored {stored:#010x}"
            ),
            Error::Empty => write!(f, "no samples"),
            Error::Source(what) => write!(f, "data source failed: {what}"),
            Error::NotAClass => write!(
                f,
                "a target vector where only a class index can be stored (class labels)"
            ),
        }
    }
}

impl core::error::Error for Error {}
