//! `tinytrain-sim`: train, evaluate, benchmark and export tinytrain networks
//! on a workstation.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use tinytrain::{evaluate, init_seeded, Loss, Model, Network, Rng, Sgd, SgdConfig};
use tinytrain_sim::data::{self, Holdout, Labels, Split, Task};
use tinytrain_sim::exchange::Recorded;
use tinytrain_sim::nets::{self, LossKind, NetInfo};
use tinytrain_sim::parallel::MAX_THREADS;
use tinytrain_sim::plot::{self, Curves};
use tinytrain_sim::report::{self, confusion, number};
use tinytrain_sim::scale::Standardizer;
use tinytrain_sim::{bench, exchange, with_net, Order, Pacing, ParallelTrainer, TrainSet};

/// `println!` that ends the program quietly when stdout is closed (as in
/// `tinytrain-sim ... | head`) instead of panicking.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

const NETS_HELP: &str = "\
Networks are Rust types whose layer widths are const generics, so they are fixed when this \
program is compiled: --net chooses among the compiled-in ones below and cannot create new \
shapes. CSV files are trained with the csv* networks: inputs are zero-padded up to the \
compiled width (8, 32 or 128 columns, the narrowest that fits is chosen), classifiers have 10 \
outputs (up to 10 classes). Run `tinytrain-sim nets` for the list with parameter counts.";

/// Train, evaluate, benchmark and export tinytrain networks on a workstation.
///
/// The networks are the same const-generic types that run on a
/// microcontroller; training is data-parallel over threads and gives
/// bit-identical weights for every thread count.
#[derive(Debug, Parser)]
#[command(name = "tinytrain-sim", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Train a network (default: W2, 64-32-10 on the bundled digits) and print
    /// per-epoch loss and accuracy on training and held-out data.
    Train(TrainArgs),
    /// Evaluate a saved model: loss, accuracy and confusion matrix.
    Eval(EvalArgs),
    /// Write a saved model as Rust source, safetensors or a weight blob.
    Export(ExportArgs),
    /// Run a saved model on the rows of a CSV file and write its predictions
    /// as CSV: the class and its probabilities, or the value.
    Predict(PredictArgs),
    /// Train W1, W2 and W3 at several thread counts; print samples/s,
    /// speedup against 1 thread of the same run, efficiency and % of peak.
    Bench(BenchArgs),
    /// List the compiled-in networks, with the RAM each needs on a device.
    Nets,
}

/// Built-in data sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Dataset {
    /// The 4 XOR points (W1); held-out = the same points.
    Xor,
    /// y = sin(x) on [-pi, pi], regression (MSE).
    Sine,
    /// Two interleaved spirals, binary (BCE).
    Spiral,
    /// Two half moons, binary (BCE).
    Moons,
    /// Bundled 8x8 digits, 1437 train / 360 test, 10 classes (W2).
    Digits,
    /// W3's synthetic 60,000 x 784 uniform inputs with random labels (throughput only).
    MnistShape,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TaskArg {
    /// Classification if the target is text or holds at most 10 distinct integers.
    Auto,
    /// Real-valued target (MSE).
    Regression,
    /// Each distinct target value is a class (softmax cross-entropy):
    /// integers 0 to 9 are their own output, other labels are numbered in
    /// sorted order (a .safetensors model records them).
    Classification,
}

#[derive(Debug, Args)]
struct DataArgs {
    /// Built-in data set [default: the network's own, else digits].
    #[arg(long, value_enum, conflicts_with = "csv")]
    data: Option<Dataset>,
    /// A CSV file instead: a header line, then numbers only (a classifier's
    /// target may be text), comma-separated (a cell may be in double
    /// quotes, and then hold commas). A column named `split` (0 = train,
    /// 1 = test) selects held-out rows.
    #[arg(long, value_name = "FILE", requires = "target")]
    csv: Option<PathBuf>,
    /// The CSV column to predict.
    #[arg(long, value_name = "COLUMN")]
    target: Option<String>,
    /// How to read the CSV target [default: auto].
    #[arg(long, value_enum)]
    task: Option<TaskArg>,
    /// Without a `split` column, hold out this fraction of the CSV rows: at
    /// least 0, below 1. They are drawn at random, with a seed of their own
    /// (the same rows of a file in train, eval and every --seed) [default: 0.2].
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    test_fraction: Option<f64>,
    /// Hold out the last rows of the file instead (for data in time order).
    #[arg(long)]
    holdout_last: bool,
    /// Compiled-in network (see `tinytrain-sim nets`) [default: chosen by the data].
    #[arg(long, value_name = "NAME")]
    net: Option<String>,
}

#[derive(Debug, Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Passes over the training data [default: per data set, e.g. 30 for digits].
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<u32>,
    /// Mini-batch size; each epoch uses floor(n / batch) full batches
    /// [default: per data set, at most the training rows].
    #[arg(long, allow_negative_numbers = true)]
    batch: Option<usize>,
    /// SGD learning rate, in (0, 10] [default: per data set].
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f32>,
    /// SGD momentum, in [0, 1) [default: per data set].
    #[arg(long, allow_negative_numbers = true)]
    momentum: Option<f32>,
    /// L2 weight decay, in [0, 1].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    weight_decay: f32,
    /// Clip the mean gradient to this global L2 norm.
    #[arg(long, value_name = "NORM", allow_negative_numbers = true)]
    clip: Option<f32>,
    /// Seed for initialisation, shuffling and synthetic data.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    seed: u64,
    /// Worker threads, 1 to 1024; the weights are bit-identical for every
    /// count. Steps with little work (batch × parameters under 16,384 per
    /// thread, e.g. xor) use fewer threads [default: all cores].
    #[arg(long, allow_negative_numbers = true)]
    threads: Option<usize>,
    /// Train on the samples in stored order (no shuffle) [default for xor].
    #[arg(long)]
    no_shuffle: bool,
    /// Start from a saved model (weight blob, or `.safetensors`) instead of random weights.
    #[arg(long, value_name = "FILE")]
    load: Option<PathBuf>,
    /// Save the trained model: `.safetensors` for PyTorch, anything else is the
    /// core's weight blob. Written to FILE.tmp, then renamed. A run that fails,
    /// or that Ctrl-C or SIGTERM stops (after its epoch), leaves FILE alone and
    /// saves the weights it has to FILE's name with `.partial` before the
    /// extension.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Draw loss/accuracy curves to FILE.svg or FILE.png (by extension; PNG
    /// labels use a built-in font, so no system fonts are needed). Written to
    /// FILE.tmp, then renamed.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    plot: Option<PathBuf>,
    /// Time the parts of each step and print, per thread, the mean time per
    /// step in forward/backward passes, gradient sums and updates, waiting,
    /// and copying the other threads' new weights.
    #[arg(long)]
    profile: bool,
    /// Run every step on all the threads. By default the trainer times its
    /// steps and runs them on one thread while that is faster (on a machine
    /// whose cores hand data to each other slowly); the weights are the same.
    #[arg(long)]
    fixed_team: bool,
    /// Train on standardised data: each input column, and a regression
    /// target (through a linear output), shifted and scaled to mean 0 and
    /// standard deviation 1 over the training rows. The scaling is folded
    /// into the first and last layers before saving, so the saved model
    /// takes raw values; losses are reported in the target's own units.
    #[arg(long)]
    standardize: bool,
}

#[derive(Debug, Args)]
struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The model to evaluate (weight blob or `.safetensors`).
    #[arg(long, value_name = "FILE")]
    load: PathBuf,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The model to export (weight blob or `.safetensors`).
    #[arg(long, value_name = "FILE")]
    load: PathBuf,
    /// Its network, if the file does not say (see `tinytrain-sim nets`).
    #[arg(long, value_name = "NAME")]
    net: Option<String>,
    /// Write Rust source defining a `static` for firmware to `include!`.
    #[arg(long, value_name = "FILE")]
    rust: Option<PathBuf>,
    /// Name of the static in the Rust source: any Rust identifier that is
    /// not a keyword (in any case: the source allows a lower-case one).
    #[arg(long, default_value = "MODEL", value_name = "IDENT")]
    name: String,
    /// Write PyTorch-compatible safetensors (`nn.Sequential` naming: 0.weight, 0.bias, 2.weight, ...).
    #[arg(long, value_name = "FILE")]
    safetensors: Option<PathBuf>,
    /// Write the core's weight blob.
    #[arg(long, value_name = "FILE")]
    blob: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PredictArgs {
    /// The model (weight blob or `.safetensors`).
    #[arg(long, value_name = "FILE")]
    load: PathBuf,
    /// Its network, if the file does not say (see `tinytrain-sim nets`).
    #[arg(long, value_name = "NAME")]
    net: Option<String>,
    /// The rows to predict: a header line, then numbers. The inputs are the
    /// columns the model records (a .safetensors model trained on a CSV
    /// file), by name; else every column but one named `split` and the
    /// --target column.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// A column that is not an input (the known answer, say): it is copied
    /// beside the predictions.
    #[arg(long, value_name = "COLUMN")]
    target: Option<String>,
    /// Write the predictions to FILE (through FILE.tmp) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Thread counts from 1 to 1024, comma-separated, each run once; 1 is
    /// always run first as the baseline [default: 1, 2, ... up to the number
    /// of cores].
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        allow_negative_numbers = true
    )]
    threads: Option<Vec<usize>>,
    /// A smoke run of seconds instead of the full workloads (200 W1 epochs,
    /// 2 W2 epochs, 256 W3 samples, one round); its figures are not benchmarks.
    #[arg(long)]
    quick: bool,
    /// Rounds (every thread count once per round); figures are medians [default: 3, quick 1].
    #[arg(long, allow_negative_numbers = true)]
    rounds: Option<usize>,
    /// FP32 peak of one core in GFLOP/s, instead of measuring it with an FMA loop.
    #[arg(long, value_name = "GFLOPS", allow_negative_numbers = true)]
    peak_gflops: Option<f64>,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also draw the speedups as a chart: FILE.svg, or FILE.png (by extension).
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    svg: Option<PathBuf>,
    /// Run every step on all the threads, without the timing that runs steps
    /// on one thread while that is faster: the speedups of the threads alone.
    #[arg(long)]
    fixed_team: bool,
}

/// The fraction of a CSV file's rows held out when it has no `split`
/// column and `--test-fraction` is not given.
const DEFAULT_TEST_FRACTION: f64 = 0.2;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Per-data-set defaults: epochs, batch, lr, momentum, shuffle.
struct Defaults {
    epochs: u32,
    batch: usize,
    lr: f32,
    momentum: f32,
    shuffle: bool,
}

fn defaults(data: Option<Dataset>) -> Defaults {
    let d = |epochs, batch, lr, momentum| Defaults {
        epochs,
        batch,
        lr,
        momentum,
        shuffle: true,
    };
    match data {
        Some(Dataset::Xor) => Defaults {
            shuffle: false,
            ..d(3000, 4, 0.5, 0.0)
        },
        Some(Dataset::Sine) => d(300, 16, 0.05, 0.9),
        Some(Dataset::Spiral) => d(300, 16, 0.05, 0.9),
        Some(Dataset::Moons) => d(100, 16, 0.05, 0.9),
        Some(Dataset::Digits) => d(30, 32, 0.05, 0.0),
        Some(Dataset::MnistShape) => d(1, 64, 0.01, 0.0),
        None => d(50, 32, 0.01, 0.9),
    }
}

fn default_data_of(net: &str) -> Option<Dataset> {
    match net {
        "xor" | "xor-tanh" => Some(Dataset::Xor),
        "sine" => Some(Dataset::Sine),
        "binary" => Some(Dataset::Spiral),
        "digits" | "digits-small" | "digits-large" => Some(Dataset::Digits),
        "mnist" => Some(Dataset::MnistShape),
        _ => None,
    }
}

fn default_net_of(data: Dataset) -> &'static str {
    match data {
        Dataset::Xor => "xor",
        Dataset::Sine => "sine",
        Dataset::Spiral | Dataset::Moons => "binary",
        Dataset::Digits => "digits",
        Dataset::MnistShape => "mnist",
    }
}

fn net_info(name: &str) -> Result<&'static NetInfo> {
    nets::find(name).ok_or_else(|| {
        let names: Vec<&str> = nets::NETS.iter().map(|n| n.name).collect();
        anyhow!(
            "unknown network {name:?} (compiled-in: {})",
            names.join(", ")
        )
    })
}

fn builtin(data: Dataset, seed: u64) -> Split {
    match data {
        Dataset::Xor => data::xor(),
        Dataset::Sine => data::sine(seed),
        Dataset::Spiral => data::spiral(seed),
        Dataset::Moons => data::moons(seed),
        Dataset::Digits => data::digits(),
        Dataset::MnistShape => data::mnist_shape(60_000, seed),
    }
}

/// Resolves the data set and the network from the command line; `fixed_net`
/// is a network already known (from a saved model, by [`saved_net`]).
/// `classes`: the class labels a saved model records, which number a CSV
/// file's labels.
fn resolve(
    d: &DataArgs,
    fixed_net: Option<&str>,
    seed: u64,
    classes: Option<&[String]>,
) -> Result<(Split, &'static NetInfo, Option<Dataset>)> {
    // (`saved_net` has already checked `--net` against a saved model.)
    let net_name = d.net.as_deref().or(fixed_net);
    if let Some(path) = &d.csv {
        let task = match d.task.unwrap_or(TaskArg::Auto) {
            TaskArg::Auto => Task::Auto,
            TaskArg::Regression => Task::Regression,
            TaskArg::Classification => Task::Classification,
        };
        let target = d.target.as_deref().unwrap_or_default();
        let fraction = d.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION);
        if !(0.0..1.0).contains(&fraction) {
            bail!("--test-fraction must be at least 0 and below 1, got {fraction}");
        }
        let holdout = if d.holdout_last {
            Holdout::Last(fraction)
        } else {
            Holdout::Random(fraction)
        };
        let split = data::load_csv(path, target, task, holdout, classes)?;
        if task == Task::Auto {
            note_integer_regression(&split, target);
        }
        let classify = matches!(split.train.labels, Labels::Classes { .. });
        let name = match net_name {
            Some(n) => n,
            None => nets::for_csv(split.train.width, classify).ok_or_else(|| {
                anyhow!(
                    "{}: {} input columns; the widest compiled-in CSV network reads 128",
                    path.display(),
                    split.train.width
                )
            })?,
        };
        let info = net_info(name)?;
        if d.net.is_some() {
            note_padding(&split, info);
        }
        return Ok((split, info, None));
    }
    // Options that only a CSV file uses would be ignored: say so instead.
    let csv_only = [
        ("--target", d.target.is_some()),
        ("--task", d.task.is_some()),
        ("--test-fraction", d.test_fraction.is_some()),
        ("--holdout-last", d.holdout_last),
    ];
    if let Some((option, _)) = csv_only.iter().find(|(_, given)| *given) {
        bail!(
            "{option} applies to a CSV file (--csv FILE); the built-in data sets have their own targets and held-out rows"
        );
    }
    let data = match (d.data, net_name) {
        (Some(data), _) => data,
        (None, Some(n)) => default_data_of(n).ok_or_else(|| {
            anyhow!("network {n} has no built-in data set: give --csv FILE --target COLUMN")
        })?,
        (None, None) => Dataset::Digits,
    };
    let info = net_info(net_name.unwrap_or(default_net_of(data)))?;
    let split = builtin(data, seed);
    if d.net.is_some() {
        note_padding(&split, info);
    }
    Ok((split, info, Some(data)))
}

/// Says that a network given with `--net` reads more inputs than the data
/// has: the rest are zeros (fewer is an error, when the data is fitted).
fn note_padding(split: &Split, info: &NetInfo) {
    let (has, reads) = (split.train.width, info.io.0);
    if has < reads {
        let inputs = if has == 1 { "input" } else { "inputs" };
        let rest = match reads - has {
            1 => "the other is zero".to_string(),
            n => format!("the other {n} are zeros"),
        };
        eprintln!(
            "note: network {} reads {reads} inputs and {} has {has} {inputs}: {rest}",
            info.name, split.name
        );
    }
}

/// Says why `--task auto` read a target of whole numbers as a regression:
/// more distinct values than a classifier has outputs.
fn note_integer_regression(split: &Split, target: &str) {
    let (Labels::Values(a), Labels::Values(b)) = (&split.train.labels, &split.test.labels) else {
        return;
    };
    let values: Vec<f32> = a.iter().chain(b).copied().collect();
    if let Some(n) = data::distinct_whole_numbers(&values) {
        eprintln!(
            "note: {target} holds {n} distinct whole numbers, more than the {} classes a \
             classifier has: read as a regression",
            data::CLASSES_BY_VALUE
        );
    }
}

/// Which network a saved model belongs to, given `--net` as `net`.
///
/// A file that names its network (safetensors metadata, or a blob header's
/// shape hash) is for that one, and a different `--net` is an error. A file
/// from PyTorch names none: it is for the network whose layer shapes fit,
/// or for `--net` — which must be given when several fit (`xor` and
/// `xor-tanh` have the same shapes and other activations). `None`: a model
/// this build cannot tell (then `--net` says which); a file that is not a
/// model at all is an error saying why.
fn saved_net(path: &Path, bytes: &[u8], net: Option<&str>) -> Result<Option<&'static str>> {
    let at = |e: String| anyhow!("{}: {e}", path.display());
    let named = if exchange::reads_as_safetensors(path, bytes) {
        match exchange::safetensors_net_name(bytes).map_err(at)? {
            Some(name) => Some(nets::find(&name).ok_or_else(|| {
                at(format!(
                    "saved from network {name}, which this build does not have (see `tinytrain-sim nets`)"
                ))
            })?),
            None => {
                let fits: Vec<&'static str> = nets::NETS
                    .iter()
                    .map(|n| n.name)
                    .filter(|name| {
                        with_net!(*name, |N, L, I, O| {
                            let mut net = tinytrain::host::boxed::<N>();
                            exchange::load_safetensors(&mut *net, bytes).is_ok()
                        })
                        .unwrap_or(false)
                    })
                    .collect();
                return match (net, fits.as_slice()) {
                    (Some(n), _) => Ok(Some(net_info(n)?.name)),
                    (None, [one]) => Ok(Some(one)),
                    (None, []) => Ok(None),
                    (None, several) => Err(at(format!(
                        "its layer shapes fit networks {}, which differ in their activations: give --net NAME",
                        several.join(", ")
                    ))),
                };
            }
        }
    } else {
        blob_net(bytes).map_err(at)?
    };
    match (named, net) {
        (Some(n), Some(given)) if n.name != given => bail!(
            "--net {given} does not match the saved model's network {}",
            n.name
        ),
        (Some(n), _) => Ok(Some(n.name)),
        (None, given) => given.map(|g| net_info(g).map(|i| i.name)).transpose(),
    }
}

/// The network a weight blob's header names, if this build has it.
fn blob_net(bytes: &[u8]) -> std::result::Result<Option<&'static NetInfo>, String> {
    let header = tinytrain::blob::HEADER_LEN + 4;
    if bytes.len() < header {
        let e = tinytrain::Error::Truncated {
            expected: header,
            found: bytes.len(),
        };
        return Err(e.to_string());
    }
    if bytes[0..4] != tinytrain::blob::MAGIC {
        return Err(tinytrain::Error::BadMagic.to_string());
    }
    let hash = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    Ok(nets::by_hash(hash))
}

/// What a saved model records (only a safetensors file can).
fn stored(path: &Path, bytes: &[u8]) -> Result<Recorded> {
    if !exchange::reads_as_safetensors(path, bytes) {
        return Ok(Recorded::default());
    }
    exchange::safetensors_recorded(bytes).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// What a model trained on `split` records: its class labels (see
/// [`classes_to_record`]) and its CSV input columns.
fn to_record(split: &Split) -> Recorded {
    Recorded {
        classes: classes_to_record(split).map(<[String]>::to_vec),
        inputs: (!split.inputs.is_empty()).then(|| split.inputs.clone()),
    }
}

/// That a CSV file has the input columns a loaded model records, in its
/// order (it reads them by position).
fn check_inputs(model: &Path, recorded: &Recorded, split: &Split) -> Result<()> {
    match &recorded.inputs {
        Some(names) if !split.inputs.is_empty() && *names != split.inputs => bail!(
            "{}'s input columns ({}) are not those {} was trained on ({})",
            split.name,
            split.inputs.join(", "),
            model.display(),
            names.join(", ")
        ),
        _ => {
            warn_unrecorded_inputs(model, recorded, &split.name, &split.inputs);
            Ok(())
        }
    }
}

/// Says so when a model records no input columns (a weight blob, a file
/// from PyTorch) and a CSV file's columns are taken as its inputs by
/// position, unchecked.
fn warn_unrecorded_inputs(model: &Path, recorded: &Recorded, file: &str, columns: &[String]) {
    if recorded.inputs.is_none() && !columns.is_empty() {
        eprintln!(
            "warning: {} records no input columns, so {file}'s input columns ({}) are read by \
             position, unchecked (a model saved as .safetensors from a CSV file records them)",
            model.display(),
            columns.join(", ")
        );
    }
}

/// The class labels a model trained on `split` records: none when every
/// label is its own output index.
fn classes_to_record(split: &Split) -> Option<&[String]> {
    match &split.train.labels {
        Labels::Classes { names, .. } if !data::names_are_indices(names) => Some(names),
        _ => None,
    }
}

/// Inputs or regression targets above this in size get a warning that SGD
/// may diverge on them unless they are standardised.
const LARGE_VALUE: f32 = 100.0;

/// Warns when `split`'s training inputs or regression targets reach
/// [`LARGE_VALUE`], and says what to do about it.
fn warn_large_values(split: &Split) {
    let t = &split.train;
    let targets: &[f32] = match &t.labels {
        Labels::Values(y) => y,
        Labels::Classes { .. } => &[],
    };
    let big = |v: &[f32]| v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let (x, y) = (big(&t.x), big(targets));
    if x.max(y) >= LARGE_VALUE {
        let what = if x >= y { "inputs" } else { "targets" };
        eprintln!(
            "warning: {}'s {what} reach {}: on values that large SGD tends to diverge; \
             --standardize scales the columns for training (the saved model still takes raw values)",
            split.name,
            number(x.max(y))
        );
    }
}

/// Output index and label of each class, for a user to read.
fn class_list(names: &[String]) -> String {
    let list: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    list.join(", ")
}

/// Says so when a loaded model records no class labels and the CSV's labels
/// were numbered from the file alone.
fn warn_unrecorded_classes(model: &Path, recorded: bool, split: &Split) {
    if let (false, Some(names)) = (recorded, classes_to_record(split)) {
        eprintln!(
            "warning: {} records no class labels, so those of {} are numbered in sorted order \
             (by output: {}); that is the training's numbering only if its file held the same classes \
             (a model saved as .safetensors records them)",
            model.display(),
            split.name,
            class_list(names)
        );
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))
}

fn load_model<N: Model>(net: &mut N, path: &Path, bytes: &[u8], info: &NetInfo) -> Result<()> {
    if exchange::reads_as_safetensors(path, bytes) {
        exchange::load_safetensors(net, bytes)
            .map_err(|e| anyhow!("{}: {e} (network {})", path.display(), info.name))
    } else {
        tinytrain::blob::load(net, bytes).map_err(|e| match e {
            tinytrain::Error::ShapeMismatch { found, .. } => {
                let other =
                    nets::by_hash(found).map_or(String::new(), |n| format!(" ({})", n.name));
                anyhow!(
                    "{}: the weight blob is for a different network{other}, not {} ({})",
                    path.display(),
                    info.name,
                    info.shape
                )
            }
            e => anyhow!("{}: {e}", path.display()),
        })
    }
}

/// Ctrl-C presses (or SIGTERM, SIGHUP) since training started: the first
/// stops the run after its epoch, whose weights are kept; a second ends the
/// process at once.
static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

/// A run that Ctrl-C (or SIGTERM, SIGHUP) stopped: exit status 130, as a
/// shell reports a process that SIGINT ended.
#[derive(Debug)]
struct Interrupted(String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// Turns Ctrl-C, SIGTERM and SIGHUP into [`INTERRUPTS`] (this binary
/// trains once per process, and a handler can be set only once).
fn catch_interrupts() {
    let set = ctrlc::set_handler(|| {
        if INTERRUPTS.fetch_add(1, Ordering::SeqCst) == 0 {
            eprintln!("interrupt: stopping after this epoch (a second Ctrl-C stops at once)");
        } else {
            std::process::exit(130);
        }
    });
    if let Err(e) = set {
        eprintln!("warning: Ctrl-C will end training without keeping its weights: {e}");
    }
}

/// Saves the weights of a run that did not finish beside its `--save` file
/// ([`partial_path`]), which it leaves alone; says what became of them
/// (`which`: which weights they are).
fn keep_partial<N: Model + Clone>(
    net: &N,
    save: Option<&Path>,
    how: &Saving,
    which: &str,
) -> String {
    let Some(path) = save else {
        return "nothing saved".to_string();
    };
    let side = partial_path(path);
    match save_model(net, &side, how) {
        Ok(_) => format!(
            "the weights {which} are saved to {} ({} is left alone)",
            side.display(),
            path.display()
        ),
        Err(e) => format!("nothing saved ({e:#})"),
    }
}

/// Where a run that did not finish keeps its weights: `m.bin` → `m.partial.bin`
/// (the extension, which chooses the format, stays last).
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_stem().unwrap_or_default().to_owned();
    name.push(".partial");
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
}

/// That `path` can be written at the end of the run ([`exchange::check_writable`]).
fn writable(path: &Path) -> Result<()> {
    exchange::check_writable(path).with_context(|| format!("cannot write {}", path.display()))
}

/// What a trained model is saved with.
struct Saving<'a> {
    info: &'a NetInfo,
    /// Class labels and input columns to record (see [`to_record`]).
    recorded: Recorded,
    /// The scaling the network was trained under, folded in before saving.
    scaler: Option<&'a Standardizer>,
}

fn save_model<N: Model + Clone>(net: &N, path: &Path, how: &Saving) -> Result<usize> {
    let folded = how.scaler.map(|s| {
        let mut copy = Box::new(net.clone());
        s.fold(&mut *copy);
        copy
    });
    let net = folded.as_deref().unwrap_or(net);
    let info = how.info;
    let bytes = if exchange::is_safetensors(path) {
        exchange::to_safetensors(net, info.name, &how.recorded).map_err(|e| anyhow!(e))?
    } else {
        tinytrain::host::to_blob(net)?
    };
    exchange::write_atomically(path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(bytes.len())
}

fn metrics(classify: bool, s: &tinytrain::EpochStats) -> String {
    if classify {
        format!("loss {:.4} acc {:5.1}%", s.loss(), 100.0 * s.accuracy())
    } else {
        // A regression's loss is the mean squared error.
        format!(
            "loss {} (rms error {})",
            number(s.loss()),
            number(s.loss().sqrt())
        )
    }
}

/// Held-out figures, or `none` when no rows are held out.
fn held_out(classify: bool, s: Option<&tinytrain::EpochStats>) -> String {
    s.map_or_else(
        || "none (no rows held out)".to_string(),
        |s| metrics(classify, s),
    )
}

/// Whether accuracy means anything for this network on this data.
fn classifies(info: &NetInfo, split: &Split) -> bool {
    info.loss.classifies() || split.train.classes() > 0
}

/// `loaded`: the bytes of `a.load`, read once by the caller.
fn train_net<N, L, const I: usize, const O: usize>(
    info: &NetInfo,
    a: &TrainArgs,
    loaded: Option<&[u8]>,
    split: &Split,
    data: Option<Dataset>,
) -> Result<()>
where
    N: Network<I, O> + Send + Sync + Clone,
    N::Scratch: Send + Sync,
    L: Loss<O> + Default + Sync,
{
    if let Some(p) = &a.plot {
        plot::validate_path(p).map_err(|e| anyhow!(e))?;
        if a.epochs == Some(0) {
            bail!("--plot needs at least one epoch to draw, got --epochs 0");
        }
    }
    // Found out now, not after the training whose results they would hold.
    for p in a.save.iter().chain(&a.plot) {
        writable(p)?;
    }
    let fit = |t: &data::Table, what: &str| {
        t.to_train_set::<I, O>(info.loss).map_err(|e| {
            anyhow!(
                "{} ({what}) does not fit network {}: {e}",
                split.name,
                info.name
            )
        })
    };
    // Standardised columns (the target too, for a regression through a
    // linear output), or a warning when they look too large to train on.
    let scaler = a.standardize.then(|| {
        let probe = tinytrain::host::boxed::<N>();
        let linear_out = (0..N::LAYERS)
            .rev()
            .find_map(|l| probe.layer(l).map(|v| v.activation))
            == Some("identity");
        Standardizer::fit(&split.train, info.loss == LossKind::Mse && linear_out)
    });
    let scaled;
    let split = match &scaler {
        Some(sc) => {
            let mut s = split.clone();
            sc.apply(&mut s.train);
            sc.apply(&mut s.test);
            scaled = s;
            &scaled
        }
        None => {
            warn_large_values(split);
            split
        }
    };
    // Losses in the raw target's units.
    let factor = scaler.as_ref().map_or(1.0, Standardizer::loss_factor);
    let raw_units = |s: tinytrain::EpochStats| tinytrain::EpochStats {
        loss_sum: s.loss_sum * factor,
        ..s
    };
    let mut train: TrainSet<I, O> = fit(&split.train, "training rows")?;
    let mut test: TrainSet<I, O> = fit(&split.test, "held-out rows")?;
    let def = defaults(data);
    let epochs = a.epochs.unwrap_or(def.epochs);
    // The default batch is at most the training rows (a small CSV file);
    // a --batch that is larger is an error below.
    let batch = a.batch.unwrap_or_else(|| {
        let fits = def.batch.min(train.len()).max(1);
        if fits < def.batch {
            eprintln!(
                "note: batch {fits}, all the training rows (the default, {}, is more)",
                def.batch
            );
        }
        fits
    });
    let threads = a.threads.unwrap_or_else(cores);
    if !(1..=MAX_THREADS).contains(&threads) {
        bail!("--threads must be between 1 and {MAX_THREADS}, got {threads}");
    }
    if threads > cores() {
        eprintln!(
            "warning: {threads} threads on {} available cores; they will share cores",
            cores()
        );
    }
    if batch == 0 || batch > train.len() {
        bail!(
            "--batch must be between 1 and the {} training samples, got {batch}",
            train.len()
        );
    }
    let cfg = SgdConfig {
        lr: a.lr.unwrap_or(def.lr),
        momentum: a.momentum.unwrap_or(def.momentum),
        weight_decay: a.weight_decay,
        clip_norm: a.clip,
        ..SgdConfig::new(0.0)
    };
    let sgd = Sgd::new(cfg)?;
    let mut net = tinytrain::host::boxed::<N>();
    match a.load.as_deref().zip(loaded) {
        Some((path, bytes)) => {
            load_model(&mut *net, path, bytes, info)?;
            if let Some(sc) = &scaler {
                sc.unfold(&mut *net);
            }
        }
        None => init_seeded(&mut *net, info.init, a.seed),
    }
    let shuffle = def.shuffle && !a.no_shuffle;
    let classify = classifies(info, split);
    let classes = classes_to_record(split);
    let saving = Saving {
        info,
        recorded: to_record(split),
        scaler: scaler.as_ref(),
    };
    catch_interrupts();
    say!(
        "training {} ({}, {} parameters, {}) on {}: {} training / {} held-out samples",
        info.name,
        info.shape,
        N::PARAMS,
        info.loss.name(),
        split.name,
        train.len(),
        test.len()
    );
    say!(
        "epochs {epochs}, batch {batch}, lr {}, momentum {}{}, {threads} thread(s){}{}",
        cfg.lr,
        cfg.momentum,
        cfg.clip_norm
            .map_or(String::new(), |c| format!(", clip {c}")),
        match tinytrain_sim::parallel::threads_for::<N>(threads, batch) {
            used if used < threads => format!(" (steps run on {used}: too little work to share)"),
            _ => String::new(),
        },
        if a.load.is_some() {
            ", continuing from the loaded model"
        } else {
            ""
        }
    );
    if let Some(names) = classes {
        say!("classes by output: {}", class_list(names));
    }
    if let Some(sc) = &scaler {
        say!("{}", sc.describe());
    }
    let per_epoch = train.len() / batch * batch;
    let total = per_epoch as u64 * u64::from(epochs);
    // A bar only for runs long enough to need one; indicatif hides it when
    // stderr is not a terminal.
    let bar = if total * N::PARAMS as u64 >= 2_000_000_000 {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} samples {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let every = (epochs / 20).max(1);
    let mut curves = Curves::default();
    let mut scratch = N::SCRATCH;
    let mut trainer = ParallelTrainer::new(net, L::default(), sgd, threads)?;
    trainer.set_profiling(a.profile);
    if a.fixed_team {
        trainer.set_pacing(Pacing::Team);
    }
    let mut rng = Rng::seed(a.seed ^ 0x5eed);
    let loss = L::default();
    let mut eval_time = Duration::ZERO;
    let mut last_test = None;
    let mut last_train = tinytrain::EpochStats::default();
    let mut eval_error = None;
    let start = Instant::now();
    let order = if shuffle {
        Order::Shuffled
    } else {
        Order::InOrder
    };
    let result = trainer.train(
        &train,
        batch,
        epochs,
        order,
        &mut rng,
        |n| bar.inc(n as u64),
        |end| {
            let t0 = Instant::now();
            let test_stats = match (!test.is_empty())
                .then(|| evaluate(end.net, &mut scratch, &mut test, &loss).map(raw_units))
                .transpose()
            {
                Ok(s) => s,
                Err(e) => {
                    eval_error = Some(e);
                    return ControlFlow::Break(());
                }
            };
            let stats = raw_units(end.stats);
            curves.epoch.push(end.epoch);
            curves.train_loss.push(stats.loss());
            if classify {
                curves.train_acc.push(stats.accuracy());
            }
            if let Some(t) = &test_stats {
                curves.test_loss.push(t.loss());
                if classify {
                    curves.test_acc.push(t.accuracy());
                }
            }
            let shown = end.epoch == 1 || end.epoch % every == 0 || end.epoch == epochs;
            if shown {
                let line = format!(
                    "epoch {:>5}/{epochs}  train {}  held-out {}",
                    end.epoch,
                    metrics(classify, &stats),
                    held_out(classify, test_stats.as_ref()),
                );
                bar.suspend(|| say!("{line}"));
            }
            last_test = test_stats;
            last_train = stats;
            eval_time += t0.elapsed();
            if INTERRUPTS.load(Ordering::SeqCst) > 0 {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        },
    );
    bar.finish_and_clear();
    let wall = start.elapsed();
    // The trainer holds the weights of the epoch just evaluated, or from
    // before the failing step (the core changes nothing on an error).
    let failure = match (eval_error, result) {
        (Some(e), _) => Some((format!("evaluation failed: {e}"), "of the last epoch")),
        (None, Err(e)) => Some((
            format!(
                "training failed at epoch {}: {e}",
                trainer.epochs_done() + 1
            ),
            "from before the failing step",
        )),
        (None, Ok(())) => None,
    };
    if let Some((failure, which)) = failure {
        let kept = keep_partial(trainer.net(), a.save.as_deref(), &saving, which);
        bail!("{failure}; {kept}");
    }
    if INTERRUPTS.load(Ordering::SeqCst) > 0 && trainer.epochs_done() < epochs {
        let kept = keep_partial(
            trainer.net(),
            a.save.as_deref(),
            &saving,
            "of the last epoch",
        );
        return Err(Interrupted(format!(
            "interrupted after epoch {} of {epochs}; {kept}",
            trainer.epochs_done()
        ))
        .into());
    }
    if trainer.epochs_done() == 0 {
        // No epoch ran (--epochs 0): the figures of the model as it stands.
        let mut eval = |set: &mut TrainSet<I, O>| {
            evaluate(trainer.net(), &mut scratch, set, &loss)
                .map(raw_units)
                .map_err(|e| anyhow!("evaluation failed: {e}; nothing saved"))
        };
        last_train = eval(&mut train)?;
        if !test.is_empty() {
            last_test = Some(eval(&mut test)?);
        }
    }
    let train_time = wall.saturating_sub(eval_time).as_secs_f64();
    let samples = per_epoch as f64 * f64::from(trainer.epochs_done());
    say!(
        "final: train {} | held-out {}",
        metrics(classify, &last_train),
        held_out(classify, last_test.as_ref())
    );
    let (alone, shared) = trainer.steps_alone();
    let alone = if alone > 0 {
        format!(
            " ({:.1} % of the steps on one, timed against the team: see --fixed-team)",
            100.0 * alone as f64 / shared as f64
        )
    } else {
        String::new()
    };
    if trainer.epochs_done() == 0 {
        say!("0 epochs: nothing trained; the final figures are those of the model as it was given");
    } else {
        say!(
            "{} epochs in {:.2} s wall ({:.2} s training): {} samples/s with {} thread(s){alone}",
            trainer.epochs_done(),
            wall.as_secs_f64(),
            train_time,
            bench::si(samples / train_time.max(1e-9)),
            threads
        );
    }
    if let Some(p) = trainer.profile() {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        say!(
            "profile: {} steps, {:.2} µs per step (the leader's view, publish to commit)",
            p.steps,
            us(p.step)
        );
        for (k, t) in p.threads.iter().enumerate() {
            say!(
                "  thread {k}: samples {:.2} µs, rows {:.2} µs, waiting for samples {:.2} µs, refresh {:.2} µs, early copies {:.2} µs per step",
                us(t.samples),
                us(t.rows),
                us(t.wait),
                us(t.refresh),
                us(t.early)
            );
        }
    }
    if let Some(path) = &a.save {
        let n = save_model(trainer.net(), path, &saving)?;
        say!(
            "saved {} ({n} bytes, network {})",
            path.display(),
            info.name
        );
        if classes.is_some() && !exchange::is_safetensors(path) {
            eprintln!(
                "note: a weight blob records no class labels; `eval` and `train --load` number a \
                 CSV's labels in sorted order, as here only if it holds the same classes \
                 (a .safetensors file records them)"
            );
        }
    }
    if let Some(path) = &a.plot {
        let title = format!("{} on {}", info.name, split.name);
        plot::write_curves(path, &curves, &title).map_err(|e| anyhow!(e))?;
        say!("plotted {}", path.display());
    }
    Ok(())
}

/// Predicted class of one output vector, as the loss's `correct` judges it.
fn predicted(out: &[f32], loss: LossKind) -> usize {
    match (out.len(), loss) {
        (1, LossKind::Bce) => usize::from(out[0] >= 0.0),
        (1, _) => usize::from(out[0] >= 0.5),
        _ => tinytrain::argmax(out),
    }
}

fn eval_net<N, L, const I: usize, const O: usize>(
    info: &NetInfo,
    path: &Path,
    bytes: &[u8],
    split: &Split,
) -> Result<()>
where
    N: Network<I, O>,
    L: Loss<O> + Default,
{
    let mut net = tinytrain::host::boxed::<N>();
    load_model(&mut *net, path, bytes, info)?;
    let loss = L::default();
    let mut scratch = N::SCRATCH;
    say!(
        "model {} ({}, {}) on {}",
        info.name,
        info.shape,
        path.display(),
        split.name
    );
    let classify = classifies(info, split);
    // The confusion matrix is of the held-out rows, or of all rows when
    // none are held out (a file given to `eval --test-fraction 0`).
    let mut matrix_of = None;
    for (what, table) in [("train", &split.train), ("held-out", &split.test)] {
        let mut set: TrainSet<I, O> = table
            .to_train_set(info.loss)
            .map_err(|e| anyhow!("{} does not fit network {}: {e}", split.name, info.name))?;
        if set.is_empty() {
            say!("{what:>8}: 0 samples (no rows held out)");
            continue;
        }
        let s = evaluate(&*net, &mut scratch, &mut set, &loss)?;
        say!(
            "{what:>8}: {} samples, {}",
            s.samples,
            metrics(classify, &s)
        );
        if classify {
            matrix_of = Some((what, table, set));
        }
    }
    if let Some((what, table, set)) = matrix_of {
        let names: Vec<String> = match &table.labels {
            Labels::Classes { names, .. } => names.clone(),
            Labels::Values(_) => vec!["0".into(), "1".into()],
        };
        let pairs: Vec<(usize, usize)> = set
            .x
            .iter()
            .zip(&set.t)
            .map(|(x, t)| {
                (
                    t.class(),
                    predicted(net.forward(x, &mut scratch), info.loss),
                )
            })
            .collect();
        let rows = if what == "train" {
            "all rows"
        } else {
            "held-out rows"
        };
        say!("confusion matrix of {rows} (rows: true class, columns: predicted):");
        for line in confusion(&names, &pairs) {
            say!("{line}");
        }
    }
    Ok(())
}

/// The network of a saved model (see [`saved_net`]).
fn model_net(path: &Path, bytes: &[u8], net: Option<&str>) -> Result<&'static NetInfo> {
    match saved_net(path, bytes, net)? {
        Some(n) => net_info(n),
        None => bail!(
            "{}: cannot tell which network it is for; give --net NAME",
            path.display()
        ),
    }
}

/// Loads the model and writes its predictions for `inputs` ([`report::predictions`]).
fn predict_net<N, const I: usize, const O: usize>(
    info: &NetInfo,
    path: &Path,
    bytes: &[u8],
    inputs: &data::Inputs,
    classes: Option<&[String]>,
) -> Result<String>
where
    N: Network<I, O>,
{
    if inputs.width > I {
        bail!(
            "the rows have {} input columns but network {} reads {I}",
            inputs.width,
            info.name
        );
    }
    let mut net = tinytrain::host::boxed::<N>();
    load_model(&mut *net, path, bytes, info)?;
    Ok(report::predictions(&*net, info.loss, inputs, classes))
}

fn export_net<N: Model>(info: &NetInfo, a: &ExportArgs, bytes: &[u8]) -> Result<()> {
    let mut net = tinytrain::host::boxed::<N>();
    load_model(&mut *net, &a.load, bytes, info)?;
    let recorded = stored(&a.load, bytes)?;
    let classes = &recorded.classes;
    if a.rust.is_none() && a.safetensors.is_none() && a.blob.is_none() {
        bail!("nothing to export: give --rust FILE, --safetensors FILE or --blob FILE");
    }
    if let Some(p) = &a.rust {
        exchange::check_rust_name(&a.name).map_err(|e| anyhow!("--name {:?} {e}", a.name))?;
        let src = exchange::to_rust(&*net, info, &a.name, &recorded);
        exchange::write_atomically(p, src.as_bytes())
            .with_context(|| format!("cannot write {}", p.display()))?;
        let mut also = String::new();
        for (names, suffix, what) in [
            (&recorded.inputs, "INPUTS", "input columns"),
            (classes, "CLASSES", "class labels"),
        ] {
            if let Some(n) = names {
                also += &format!("; {}_{suffix}: its {} {what}", a.name, n.len());
            }
        }
        say!(
            "wrote {} (static {}: {} parameters{also})",
            p.display(),
            a.name,
            N::PARAMS
        );
    }
    if let Some(p) = &a.safetensors {
        let b = exchange::to_safetensors(&*net, info.name, &recorded).map_err(|e| anyhow!(e))?;
        exchange::write_atomically(p, &b)
            .with_context(|| format!("cannot write {}", p.display()))?;
        say!("wrote {} ({} bytes)", p.display(), b.len());
    }
    if let Some(p) = &a.blob {
        let b = tinytrain::host::to_blob(&*net)?;
        exchange::write_atomically(p, &b)
            .with_context(|| format!("cannot write {}", p.display()))?;
        say!("wrote {} ({} bytes)", p.display(), b.len());
        if let Some(c) = &classes {
            eprintln!(
                "note: a weight blob records no class labels; those of {} are, by output: {}",
                a.load.display(),
                class_list(c)
            );
        }
    }
    Ok(())
}

/// The thread counts a bench runs: 1 first (the baseline), then each other
/// count of `given` once, in its order.
fn bench_threads(given: &[usize]) -> Result<Vec<usize>> {
    if let Some(t) = given.iter().find(|t| !(1..=MAX_THREADS).contains(*t)) {
        bail!("--threads: thread counts must be between 1 and {MAX_THREADS}, got {t}");
    }
    let mut seen = std::collections::HashSet::new();
    Ok(std::iter::once(1)
        .chain(given.iter().copied())
        .filter(|&t| seen.insert(t))
        .collect())
}

fn run_bench(a: &BenchArgs) -> Result<()> {
    let threads = match &a.threads {
        Some(given) => bench_threads(given)?,
        None => (1..=cores()).collect(),
    };
    if let Some(&t) = threads.iter().find(|&&t| t > cores()) {
        eprintln!(
            "warning: {t} threads on {} available cores; the threads will share cores",
            cores()
        );
    }
    if let Some(p) = a.peak_gflops {
        if !(p.is_finite() && p > 0.0) {
            bail!("--peak-gflops must be a positive number");
        }
    }
    if let Some(p) = &a.svg {
        plot::validate_path(p).map_err(|e| anyhow!(e))?;
    }
    for p in a.json.iter().chain(&a.svg) {
        writable(p)?;
    }
    let mut cfg = if a.quick {
        bench::BenchConfig::QUICK
    } else {
        bench::BenchConfig::FULL
    };
    if let Some(r) = a.rounds {
        if r == 0 {
            bail!("--rounds must be at least 1");
        }
        cfg.rounds = r;
    }
    let pacing = if a.fixed_team {
        Pacing::Team
    } else {
        Pacing::Adaptive
    };
    let report = bench::run(&threads, cfg, a.peak_gflops, pacing, |s| {
        eprintln!("bench: {s}")
    })
    .map_err(|e| anyhow!("bench: training failed: {e}"))?;
    say!("{}", bench::table(&report));
    if let Some(p) = &a.json {
        let json = serde_json::to_string_pretty(&report)?;
        exchange::write_atomically(p, json.as_bytes())
            .with_context(|| format!("cannot write {}", p.display()))?;
        say!("wrote {}", p.display());
    }
    if let Some(p) = &a.svg {
        plot::write_speedup(p, &report).map_err(|e| anyhow!(e))?;
        say!("wrote {}", p.display());
    }
    Ok(())
}

/// A network's RAM on a device (`Model`'s byte constants): inference with
/// the weights in flash (a scratch), per-sample training (weights and a
/// scratch) and mini-batch training without momentum (and a gradient store).
fn device_ram<N: Model>() -> [usize; 3] {
    [
        N::SCRATCH_BYTES,
        N::TRAIN_PER_SAMPLE_BYTES,
        N::TRAIN_BYTES - N::OPTIMIZER_BYTES,
    ]
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Nets => {
            say!(
                "{:<13} {:<34} {:>8}  {:<10}  {:>9} {:>9} {:>9}",
                "name",
                "shape",
                "params",
                "loss",
                "infer B",
                "sample B",
                "batch B"
            );
            for n in nets::NETS {
                let (params, bytes) = with_net!(n.name, |N, L, I, O| (
                    <N as Model>::PARAMS,
                    device_ram::<N>()
                ))
                .unwrap_or_default();
                say!(
                    "{:<13} {:<34} {:>8}  {:<10}  {:>9} {:>9} {:>9}",
                    n.name,
                    n.shape,
                    params,
                    n.loss.name(),
                    bytes[0],
                    bytes[1],
                    bytes[2]
                );
            }
            say!(
                "RAM a network needs on a device, in bytes (the core's Model constants; the same \
                 on a 32-bit MCU), stack and data left out: infer = a sample's activations, with \
                 the weights (4 B per parameter) in flash (export --rust); sample = per-sample \
                 SGD, weights and activations in RAM; batch = mini-batch SGD, plus a gradient \
                 store (momentum adds the weights' size again)"
            );
            Ok(())
        }
        Cmd::Train(a) => {
            let loaded = a.load.as_deref().map(read_file).transpose()?;
            let (fixed, recorded) = match a.load.as_deref().zip(loaded.as_deref()) {
                Some((p, bytes)) => (
                    saved_net(p, bytes, a.data.net.as_deref())?,
                    stored(p, bytes)?,
                ),
                None => (None, Recorded::default()),
            };
            let (split, info, data) = resolve(&a.data, fixed, a.seed, recorded.classes.as_deref())?;
            if let Some(p) = &a.load {
                check_inputs(p, &recorded, &split)?;
                warn_unrecorded_classes(p, recorded.classes.is_some(), &split);
            }
            with_net!(info.name, |N, L, I, O| train_net::<N, L, I, O>(
                info,
                &a,
                loaded.as_deref(),
                &split,
                data
            ))
            .unwrap_or_else(|| Err(anyhow!("unknown network {}", info.name)))
        }
        Cmd::Eval(a) => {
            let bytes = read_file(&a.load)?;
            let fixed = Some(model_net(&a.load, &bytes, a.data.net.as_deref())?.name);
            let recorded = stored(&a.load, &bytes)?;
            let (split, info, _) = resolve(&a.data, fixed, 1, recorded.classes.as_deref())?;
            check_inputs(&a.load, &recorded, &split)?;
            warn_unrecorded_classes(&a.load, recorded.classes.is_some(), &split);
            with_net!(info.name, |N, L, I, O| eval_net::<N, L, I, O>(
                info, &a.load, &bytes, &split
            ))
            .unwrap_or_else(|| Err(anyhow!("unknown network {}", info.name)))
        }
        Cmd::Export(a) => {
            let bytes = read_file(&a.load)?;
            let info = model_net(&a.load, &bytes, a.net.as_deref())?;
            with_net!(info.name, |N, L, I, O| export_net::<N>(info, &a, &bytes))
                .unwrap_or_else(|| Err(anyhow!("unknown network {}", info.name)))
        }
        Cmd::Predict(a) => {
            let bytes = read_file(&a.load)?;
            let info = model_net(&a.load, &bytes, a.net.as_deref())?;
            let recorded = stored(&a.load, &bytes)?;
            if let Some(p) = &a.out {
                writable(p)?;
            }
            let inputs =
                data::load_inputs(&a.csv, a.target.as_deref(), recorded.inputs.as_deref())?;
            let file = a.csv.display().to_string();
            warn_unrecorded_inputs(&a.load, &recorded, &file, &inputs.names);
            let text = with_net!(info.name, |N, L, I, O| predict_net::<N, I, O>(
                info,
                &a.load,
                &bytes,
                &inputs,
                recorded.classes.as_deref()
            ))
            .unwrap_or_else(|| Err(anyhow!("unknown network {}", info.name)))?;
            match &a.out {
                Some(p) => {
                    exchange::write_atomically(p, text.as_bytes())
                        .with_context(|| format!("cannot write {}", p.display()))?;
                    eprintln!("wrote {} predictions to {}", inputs.rows(), p.display());
                }
                None => say!("{}", text.trim_end()),
            }
            Ok(())
        }
        Cmd::Bench(a) => run_bench(&a),
    }
}

fn main() -> ExitCode {
    let help = format!(
        "{NETS_HELP}\n\nCompiled-in networks:\n{}",
        nets::help_list()
    );
    let mut cmd = Cli::command().after_help(help.clone());
    for sub in ["train", "eval", "export", "predict"] {
        cmd = cmd.mut_subcommand(sub, |c| c.after_help(help.clone()));
    }
    let cli = Cli::from_arg_matches(&cmd.get_matches()).unwrap_or_else(|e| e.exit());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.is::<Interrupted>() {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_runs_1_first_then_each_count_once_in_the_order_given() {
        let list = |given: &[usize]| bench_threads(given).unwrap();
        assert_eq!(list(&[]), [1]);
        assert_eq!(list(&[2]), [1, 2]);
        assert_eq!(list(&[4, 2, 1, 4, 2, 8]), [1, 4, 2, 8]);
        for bad in [0, MAX_THREADS + 1] {
            let e = bench_threads(&[2, bad]).unwrap_err().to_string();
            assert!(e.ends_with(&format!("got {bad}")), "{e}");
        }
    }
}
