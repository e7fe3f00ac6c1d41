//! A replay buffer: samples of a [`Stream`] kept in RAM, to be drawn as
//! shuffled mini-batches.
//!
//! Samples that arrive one at a time often come in runs: a wearer asked for
//! one gesture makes it for several seconds, a machine stays in one state
//! for minutes. Per-sample updates ([`Trainer::stream`](crate::Trainer::stream))
//! then follow each run in turn, and the last runs pull the network towards
//! their own classes. A [`Replay`] keeps `N` of the samples and is a
//! [`Dataset`], so [`Trainer::epoch`](crate::Trainer::epoch) trains on random
//! mini-batches of them, each a mix of several runs: the textbook's
//! stochastic gradient descent, on a device with no data set in flash. Its
//! memory, [`Replay::BYTES`], is fixed by the types.
//!
//! Which `N` it keeps is chosen when it is made:
//! - [`Replay::latest`]: the latest `N` (a ring; each new sample replaces
//!   the oldest), for data that drifts and where recent is what matters.
//!   A class absent from the last `N` samples is absent from training.
//! - [`Replay::reservoir`]: a uniform random sample of everything pushed so
//!   far (reservoir sampling: the k-th sample, counting from 1, is kept with
//!   probability `N / k` in place of a random one), so a class seen early
//!   keeps its share however long ago its run was.
//!
//! How it stores each target is its fourth parameter, a [`Label`]: the
//! whole [`Target`] by default (a class or a vector of `O` values), or for
//! a classifier just the class index as a `u8` or `u16`, which on a
//! Cortex-M takes 1 or 2 bytes of RAM per sample instead of `4·O + 4`.

use heapless::Vec;

use crate::rng::below;
use crate::train::{Dataset, Stream};
use crate::{Error, Rng, Target};

/// How a [`Replay`] stores a sample's target, and gives it back.
///
/// [`Target<O>`] stores any target as it is. `u8` and `u16` store a class
/// index alone (up to 256 or 65,536 classes: a wider `O` does not compile)
/// and refuse a vector target with [`Error::NotAClass`].
///
/// ```
/// use tinytrain::{Error, Replay, Target};
///
/// // 96 windows of 6 features for 4 gestures, each gesture stored as a byte.
/// type Windows = Replay<6, 4, 96, u8>;
/// assert!(Windows::BYTES < Replay::<6, 4, 96>::BYTES * 2 / 3);
/// let mut replay = Windows::reservoir(5);
/// replay.push(&[0.5; 6], Target::Class(3))?;
/// assert_eq!(replay.targets().next(), Some(Target::Class(3)));
/// assert_eq!(replay.labels(), &[3]);
/// assert_eq!(replay.push(&[0.5; 6], Target::Values([0.0, 1.0, 0.0, 0.0])), Err(Error::NotAClass));
/// # Ok::<(), Error>(())
/// ```
pub trait Label<const O: usize>: Copy {
    /// Checked when a buffer is made: fails to compile when the label
    /// cannot hold every class below `O`.
    const FITS: () = ();

    /// The label of a target, or why it cannot be stored.
    fn pack(target: Target<O>) -> Result<Self, Error>;

    /// The target back: equal to the one packed.
    fn unpack(self) -> Target<O>;
}

impl<const O: usize> Label<O> for Target<O> {
    fn pack(target: Target<O>) -> Result<Self, Error> {
        Ok(target)
    }

    fn unpack(self) -> Target<O> {
        self
    }
}

macro_rules! class_label {
    ($int:ty, $classes:literal) => {
        /// A class index, for up to
        #[doc = concat!(stringify!($classes), " classes.")]
        impl<const O: usize> Label<O> for $int {
            const FITS: () = assert!(
                O <= $classes,
                concat!(
                    "a ",
                    stringify!($int),
                    " label holds at most ",
                    stringify!($classes),
                    " classes"
                )
            );

            fn pack(target: Target<O>) -> Result<Self, Error> {
                match target {
                    Target::Class(class) => <$int>::try_from(class)
                        .map_err(|_| Error::ClassOutOfRange { class, classes: O }),
                    Target::Values(_) => Err(Error::NotAClass),
                }
            }

            fn unpack(self) -> Target<O> {
                Target::Class(usize::from(self))
            }
        }
    };
}

class_label!(u8, 256);
class_label!(u16, 65536);

/// `N` samples of `I` inputs and a target for `O` outputs, out of those
/// pushed: the latest, or a uniform random sample (see the [module](self)).
/// Targets are stored as `L` (see [`Label`]): whole by default, or as a
/// `u8`/`u16` class index (`Replay<6, 4, 96, u8>`).
///
/// A sample is checked as it comes in (finite inputs and targets, a class
/// below `O`), so a bad reading is refused at once and never reaches an
/// epoch. The constructors are `const`, for a `static` on a device; `N` must
/// be at least 1 (checked when it is compiled).
///
/// ```
/// use tinytrain::{mlp, Dense, Gradients, Identity, Model, Network, Relu, Replay, Rng,
///     Sgd, SgdConfig, SoftmaxCrossEntropy, Target, Trainer};
///
/// type Net = mlp![Dense<2, 8, Relu>, Dense<8, 2, Identity>];
/// let (mut net, mut scratch, mut grads) = (Net::ZERO, Net::SCRATCH, Gradients::<Net>::ZERO);
/// tinytrain::init_seeded(&mut net, tinytrain::Init::PyTorchDefault, 1);
/// let mut replay = Replay::<2, 2, 64>::reservoir(7);
/// let (mut order, mut rng) = ([0u16; 64], Rng::seed(1));
/// let sgd = Sgd::new(SgdConfig::new(0.1))?;
/// let mut trainer = Trainer::new(&mut net, &mut scratch, &mut grads, SoftmaxCrossEntropy, sgd)?;
/// for k in 0..400 {
///     // Runs of 40 samples of one class, as a sensor would deliver them.
///     let class = (k / 40) % 2;
///     let x = if class == 0 { [-1.0, 0.5] } else { [1.0, -0.5] };
///     replay.push(&x, Target::Class(class))?;
///     if k % 8 == 7 {
///         trainer.epoch(&mut replay, &mut order, 8, &mut rng)?;
///     }
/// }
/// assert_eq!((replay.len(), replay.seen()), (64, 400));
/// assert_eq!(net.predict(&[1.0, -0.5], &mut scratch), 1);
/// # Ok::<(), tinytrain::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Replay<const I: usize, const O: usize, const N: usize, L: Label<O> = Target<O>> {
    /// The inputs held; `labels[k]` is the target of `inputs[k]` (apart, so
    /// a one-byte label is not padded to the inputs' alignment).
    inputs: Vec<[f32; I], N>,
    labels: Vec<L, N>,
    /// Samples pushed so far, kept or not.
    seen: u64,
    /// `None`: keep the latest; `Some`: keep a uniform sample, drawn with it.
    reservoir: Option<Rng>,
}

impl<const I: usize, const O: usize, const N: usize, L: Label<O>> Replay<I, O, N, L> {
    /// Bytes of RAM a replay buffer takes: `N` inputs and labels, the counts
    /// and, for a reservoir, its random generator.
    pub const BYTES: usize = core::mem::size_of::<Self>();

    const AT_LEAST_ONE: () = assert!(N > 0, "a Replay must hold at least one sample");

    /// An empty buffer that keeps the latest `N` samples.
    pub const fn latest() -> Self {
        Self::empty(None)
    }

    /// An empty buffer that keeps a uniform random sample of `N` of the
    /// samples pushed, drawn with a generator seeded with `seed`.
    pub const fn reservoir(seed: u64) -> Self {
        Self::empty(Some(Rng::seed(seed)))
    }

    const fn empty(reservoir: Option<Rng>) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::AT_LEAST_ONE;
        #[allow(clippy::let_unit_value)]
        let () = L::FITS;
        Replay {
            inputs: Vec::new(),
            labels: Vec::new(),
            seen: 0,
            reservoir,
        }
    }

    /// Samples held: the number pushed, up to `N`.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// True before the first sample.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// True once `N` samples are held.
    pub fn is_full(&self) -> bool {
        self.inputs.is_full()
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Samples pushed so far, kept or not.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The inputs held, in storage order (not the order they came in: an
    /// epoch shuffles them anyway).
    pub fn inputs(&self) -> &[[f32; I]] {
        &self.inputs
    }

    /// The labels held, in the order of [`inputs`](Self::inputs).
    pub fn labels(&self) -> &[L] {
        &self.labels
    }

    /// The targets held, in the order of [`inputs`](Self::inputs), e.g. to
    /// count the classes.
    pub fn targets(&self) -> impl ExactSizeIterator<Item = Target<O>> + '_ {
        self.labels.iter().map(|l| l.unpack())
    }

    /// Offers a sample; returns whether it was kept (always, until the
    /// buffer is full and for [`latest`](Self::latest)). A non-finite input
    /// or target value is `Error::NonFinite`, a class of `O` or more
    /// `Error::ClassOutOfRange`, a vector target for a class label
    /// `Error::NotAClass`; the buffer is then unchanged and the sample not
    /// counted.
    pub fn push(&mut self, x: &[f32; I], target: Target<O>) -> Result<bool, Error> {
        if !x.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFinite("replay input"));
        }
        match target {
            Target::Class(class) if class >= O => {
                return Err(Error::ClassOutOfRange { class, classes: O })
            }
            Target::Values(v) if !v.iter().all(|v| v.is_finite()) => {
                return Err(Error::NonFinite("replay target"))
            }
            _ => {}
        }
        let label = L::pack(target)?;
        let k = self.seen;
        self.seen += 1;
        if self.inputs.len() < N {
            // There is room in both, so neither can fail.
            let _ = self.inputs.push(*x);
            let _ = self.labels.push(label);
            return Ok(true);
        }
        let slot = match &mut self.reservoir {
            // The oldest: sample k − N, which sat in slot (k − N) mod N.
            None => (k % N as u64) as usize,
            // Sample k + 1 (counting from 1) is kept with probability
            // N / (k + 1), in a random slot (past 2^32 samples, a little
            // more often than that).
            Some(rng) => {
                let j = below(rng, u32::try_from(k + 1).unwrap_or(u32::MAX)) as usize;
                if j >= N {
                    return Ok(false);
                }
                j
            }
        };
        if let (Some(old_x), Some(old_label)) =
            (self.inputs.get_mut(slot), self.labels.get_mut(slot))
        {
            *old_x = *x;
            *old_label = label;
        }
        Ok(true)
    }

    /// Pushes up to `n` samples from `stream`; returns how many were read,
    /// fewer when the stream ends. A stream error or a refused sample ends
    /// the fill with that error; the samples pushed before it stay.
    pub fn fill<S: Stream<I, O>>(&mut self, stream: &mut S, n: usize) -> Result<usize, Error> {
        let mut x = [0.0f32; I];
        for done in 0..n {
            match stream.next_sample(&mut x) {
                None => return Ok(done),
                Some(t) => {
                    self.push(&x, t?)?;
                }
            }
        }
        Ok(n)
    }
}

/// A summary for device logs: `reservoir: 96 of 96 held, 1500 seen` (the
/// samples themselves are left out).
#[cfg(feature = "defmt")]
impl<const I: usize, const O: usize, const N: usize, L: Label<O>> defmt::Format
    for Replay<I, O, N, L>
{
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "{=str}: {=usize} of {=usize} held, {=u64} seen",
            if self.reservoir.is_some() {
                "reservoir"
            } else {
                "latest"
            },
            self.inputs.len(),
            N,
            self.seen
        )
    }
}

/// The samples held, in storage order.
impl<const I: usize, const O: usize, const N: usize, L: Label<O>> Dataset<I, O>
    for Replay<I, O, N, L>
{
    fn len(&self) -> usize {
        self.inputs.len()
    }

    fn sample<'a>(
        &'a mut self,
        index: usize,
        _: &'a mut [f32; I],
    ) -> Result<(&'a [f32; I], Target<O>), Error> {
        let out_of_range = Error::WrongLength {
            expected: index + 1,
            found: self.inputs.len(),
        };
        let x = self.inputs.get(index).ok_or(out_of_range)?;
        let label = self.labels.get(index).ok_or(out_of_range)?;
        Ok((x, label.unpack()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of `n` samples `[k, −k]` with class `k % 3`, then its end;
    /// sample `bad` (if any) has a NaN input.
    struct Count {
        k: usize,
        n: usize,
        bad: Option<usize>,
    }

    impl Count {
        fn new(n: usize, bad: Option<usize>) -> Self {
            Count { k: 0, n, bad }
        }
    }

    impl Stream<2, 3> for Count {
        fn next_sample(&mut self, x: &mut [f32; 2]) -> Option<Result<Target<3>, Error>> {
            if self.k == self.n {
                return None;
            }
            let v = if Some(self.k) == self.bad {
                f32::NAN
            } else {
                self.k as f32
            };
            *x = [v, -(self.k as f32)];
            self.k += 1;
            Some(Ok(Target::Class((self.k - 1) % 3)))
        }
    }

    /// What the buffer serves as a data set, by index, sorted.
    fn held<const N: usize, L: Label<3>>(r: &mut Replay<2, 3, N, L>) -> [Option<(f32, usize)>; 4] {
        let mut buf = [0.0; 2];
        let mut got: [Option<(f32, usize)>; 4] =
            core::array::from_fn(|i| r.sample(i, &mut buf).ok().map(|(x, t)| (x[0], t.class())));
        // Held ones first, by input; then the Nones.
        got.sort_by(|a, b| match (a, b) {
            (Some(a), Some(b)) => a.0.total_cmp(&b.0),
            _ => a.is_none().cmp(&b.is_none()),
        });
        got
    }

    #[test]
    fn latest_keeps_the_last_n_and_serves_them_as_a_dataset() {
        let mut r = Replay::<2, 3, 4>::latest();
        assert!(r.is_empty() && !r.is_full() && r.capacity() == 4);
        let mut s = Count::new(6, None);
        assert_eq!(r.fill(&mut s, 3), Ok(3));
        assert_eq!(Dataset::len(&r), 3);
        assert_eq!(
            held(&mut r),
            [Some((0.0, 0)), Some((1.0, 1)), Some((2.0, 2)), None]
        );
        // Two more than fit: samples 4 and 5 replace 0 and 1; the stream
        // then ends after 6 of the 10 asked for.
        assert_eq!(r.fill(&mut s, 10), Ok(3));
        assert!(r.is_full() && r.len() == 4 && r.seen() == 6);
        assert_eq!(
            held(&mut r),
            [
                Some((2.0, 2)),
                Some((3.0, 0)),
                Some((4.0, 1)),
                Some((5.0, 2))
            ]
        );
        assert_eq!((r.labels().len(), r.targets().len()), (4, 4));
        let mut buf = [0.0; 2];
        assert_eq!(
            r.sample(4, &mut buf).err(),
            Some(Error::WrongLength {
                expected: 5,
                found: 4
            })
        );
        // Ten more: always the latest four.
        let mut s = Count::new(10, None);
        assert_eq!(r.fill(&mut s, 10), Ok(10));
        assert_eq!(
            held(&mut r),
            [
                Some((6.0, 0)),
                Some((7.0, 1)),
                Some((8.0, 2)),
                Some((9.0, 0))
            ]
        );
    }

    #[test]
    fn bad_samples_are_refused_and_change_nothing() {
        for mut r in [Replay::<2, 3, 4>::latest(), Replay::reservoir(1)] {
            r.push(&[1.0, 2.0], Target::Class(0)).unwrap();
            let before = held(&mut r);
            assert_eq!(
                r.push(&[f32::INFINITY, 0.0], Target::Class(1)),
                Err(Error::NonFinite("replay input"))
            );
            assert_eq!(
                r.push(&[0.0, 0.0], Target::Class(3)),
                Err(Error::ClassOutOfRange {
                    class: 3,
                    classes: 3
                })
            );
            assert_eq!(
                r.push(&[0.0, 0.0], Target::Values([0.0, f32::NAN, 1.0])),
                Err(Error::NonFinite("replay target"))
            );
            assert_eq!((held(&mut r), r.seen()), (before, 1));
            // A bad sample in a stream ends the fill; the ones before it stay.
            let mut s = Count::new(5, Some(2));
            assert_eq!(r.fill(&mut s, 5), Err(Error::NonFinite("replay input")));
            assert_eq!((r.len(), r.seen()), (3, 3));
        }
    }

    #[test]
    fn a_reservoir_keeps_every_sample_with_the_same_chance() {
        // 2,000 buffers of 10 from 200 samples each: every sample should be
        // kept 2,000 · 10 / 200 = 100 times, the first as often as the last.
        const SAMPLES: usize = 200;
        let mut kept = [0u32; SAMPLES];
        let mut dropped = 0;
        for seed in 0..2000 {
            let mut r = Replay::<1, 1, 10>::reservoir(seed);
            for k in 0..SAMPLES {
                let first_ten = k < 10;
                let was_kept = r.push(&[k as f32], Target::Values([0.0])).unwrap();
                assert!(was_kept || !first_ten);
                dropped += u32::from(!was_kept);
            }
            assert!(r.is_full() && r.seen() == SAMPLES as u64);
            for x in r.inputs() {
                kept[x[0] as usize] += 1;
            }
        }
        assert_eq!(kept.iter().sum::<u32>(), 20_000);
        assert!(dropped > 0);
        // Per sample: binomial(2000, 0.05), sd 9.7; every one of the 200
        // within 4.5 sd. Per quarter of the stream: 5,000 ± 200.
        for (k, &n) in kept.iter().enumerate() {
            assert!((56..=144).contains(&n), "sample {k} kept {n} times");
        }
        for (q, quarter) in kept.chunks(SAMPLES / 4).enumerate() {
            let n: u32 = quarter.iter().sum();
            assert!((4800..=5200).contains(&n), "quarter {q}: {n}");
        }
    }

    #[test]
    fn class_labels_give_back_the_same_targets_and_refuse_vectors() {
        let stream = || Count::new(7, None);
        let mut whole = Replay::<2, 3, 4>::reservoir(9);
        let mut bytes = Replay::<2, 3, 4, u8>::reservoir(9);
        let mut pairs = Replay::<2, 3, 4, u16>::reservoir(9);
        assert_eq!(whole.fill(&mut stream(), 7), Ok(7));
        assert_eq!(bytes.fill(&mut stream(), 7), Ok(7));
        assert_eq!(pairs.fill(&mut stream(), 7), Ok(7));
        let mut buf = [0.0; 2];
        for i in 0..4 {
            let w = whole.sample(i, &mut buf).map(|(x, t)| (*x, t));
            assert_eq!(w, bytes.sample(i, &mut buf).map(|(x, t)| (*x, t)));
            assert_eq!(w, pairs.sample(i, &mut buf).map(|(x, t)| (*x, t)));
        }
        assert!(bytes.targets().eq(whole.targets()));
        assert_eq!(bytes.labels().len(), 4);
        let before = held(&mut bytes);
        assert_eq!(
            bytes.push(&[0.0, 0.0], Target::Values([0.0, 1.0, 0.0])),
            Err(Error::NotAClass)
        );
        assert_eq!(
            bytes.push(&[0.0, 0.0], Target::Class(3)),
            Err(Error::ClassOutOfRange {
                class: 3,
                classes: 3
            })
        );
        assert_eq!((held(&mut bytes), bytes.seen()), (before, 7));
        // Every class a label type holds comes back, the last one too.
        assert_eq!(<u8 as Label<256>>::pack(Target::Class(255)), Ok(255));
        assert_eq!(
            <u16 as Label<65_536>>::pack(Target::Class(65_535)),
            Ok(65_535)
        );
        assert_eq!(Label::<256>::unpack(255u8), Target::Class(255));
    }

    #[test]
    fn bytes_are_the_samples_and_little_more() {
        type R = Replay<6, 4, 100>;
        let per_sample = core::mem::size_of::<([f32; 6], Target<4>)>();
        assert!(R::BYTES >= 100 * per_sample);
        assert!(R::BYTES <= 100 * per_sample + 64);
        // With one-byte class labels: the inputs, a byte each and the counts.
        type C = Replay<6, 4, 100, u8>;
        const { assert!(C::BYTES >= 100 * (24 + 1) && C::BYTES <= 100 * (24 + 1) + 64) };
    }
}
