//! Data sets: the bundled digits, synthetic sets, and user CSV files.
//!
//! A [`Table`] holds rows of `f32` features and their labels independent of
//! any network; [`Table::to_train_set`] turns it into a network's
//! [`TrainSet`], zero-padding inputs up to the network's compiled width.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use tinytrain::rng::{shuffle, unit_f32};
use tinytrain::{Rng, Target};

use crate::nets::LossKind;
use crate::parallel::TrainSet;

/// The bundled 8×8 digits (UCI via scikit-learn, CC BY 4.0; see `data/README.md`).
const DIGITS_CSV: &str = include_str!("../../data/digits.csv");

/// What a data set asks of a network's output.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    /// Class indices `0..names.len()`.
    Classes {
        /// One per row.
        y: Vec<u16>,
        /// The original label of each class index.
        names: Vec<String>,
    },
    /// One regression value per row.
    Values(Vec<f32>),
}

/// Rows of features with their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Features per row.
    pub width: usize,
    /// Row-major features, `rows × width`.
    pub x: Vec<f32>,
    /// Labels.
    pub labels: Labels,
}

impl Table {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.x.len() / self.width.max(1)
    }

    /// Number of classes (0 for regression).
    pub fn classes(&self) -> usize {
        match &self.labels {
            Labels::Classes { names, .. } => names.len(),
            Labels::Values(_) => 0,
        }
    }

    /// The table as targets for a network with `I` inputs, `O` outputs and
    /// loss `loss`. Inputs narrower than `I` are zero-padded on the right.
    pub fn to_train_set<const I: usize, const O: usize>(
        &self,
        loss: LossKind,
    ) -> Result<TrainSet<I, O>, String> {
        if self.width > I {
            return Err(format!(
                "the data has {} input columns but the network reads {I}",
                self.width
            ));
        }
        let x = self
            .x
            .chunks_exact(self.width.max(1))
            .map(|row| {
                let mut v = [0.0f32; I];
                v[..row.len()].copy_from_slice(row);
                v
            })
            .collect();
        let t = match (&self.labels, loss) {
            (Labels::Classes { y, names }, LossKind::SoftmaxCe) => {
                if names.len() > O {
                    return Err(format!(
                        "the data has {} classes but the network has {O} outputs",
                        names.len()
                    ));
                }
                y.iter().map(|&c| Target::Class(usize::from(c))).collect()
            }
            (Labels::Classes { y, names }, LossKind::Bce | LossKind::Mse) if O == 1 => {
                if names.len() > 2 {
                    return Err(format!(
                        "the data has {} classes but the network has one output (two classes)",
                        names.len()
                    ));
                }
                y.iter()
                    .map(|&c| {
                        let mut v = [0.0; O];
                        v[0] = f32::from(c);
                        Target::Values(v)
                    })
                    .collect()
            }
            (Labels::Values(y), LossKind::Mse | LossKind::Bce) if O == 1 => y
                .iter()
                .map(|&t| {
                    let mut v = [0.0; O];
                    v[0] = t;
                    Target::Values(v)
                })
                .collect(),
            (Labels::Values(_), _) => {
                return Err("the data is a regression task but the network is a classifier".into())
            }
            (Labels::Classes { .. }, _) => {
                return Err(format!(
                    "the data is a classification task but the network has {O} outputs and loss {}",
                    loss.name()
                ))
            }
        };
        Ok(TrainSet { x, t })
    }
}

/// Training and held-out rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// A short name for reports.
    pub name: String,
    /// Rows to train on.
    pub train: Table,
    /// Held-out rows.
    pub test: Table,
    /// The CSV column each input was read from, in order (none for the
    /// built-in data sets).
    pub inputs: Vec<String>,
}

/// A problem with a CSV file, located to its line and column (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CsvError {
    /// The file could not be read.
    Io {
        /// The file.
        file: String,
        /// The system's message.
        message: String,
    },
    /// A cell is not a number.
    NotANumber {
        /// The file.
        file: String,
        /// Line (header = 1).
        line: usize,
        /// Column (first = 1).
        column: usize,
        /// The cell.
        text: String,
    },
    /// A cell is NaN or infinite.
    NonFinite {
        /// The file.
        file: String,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// The cell.
        text: String,
    },
    /// A row has the wrong number of cells.
    ColumnCount {
        /// The file.
        file: String,
        /// Line.
        line: usize,
        /// Cells in the header.
        expected: usize,
        /// Cells in this row.
        found: usize,
    },
    /// The target column is not in the header.
    UnknownColumn {
        /// The file.
        file: String,
        /// The requested name.
        name: String,
        /// The header.
        columns: Vec<String>,
    },
    /// Anything else about the file's content.
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvError::Io { file, message } => write!(f, "cannot read {file}: {message}"),
            CsvError::NotANumber {
                file,
                line,
                column,
                text,
            } if text.is_empty() => write!(
                f,
                "{file}: line {line}, column {column} is empty (a missing value: fill it in or drop the row)"
            ),
            CsvError::NotANumber {
                file,
                line,
                column,
                text,
            } => {
                write!(
                    f,
                    "{file}: line {line}, column {column}: {text:?} is not a number"
                )?;
                if marks_missing(text) {
                    write!(f, " (a missing value? fill it in or drop the row)")?;
                }
                Ok(())
            }
            CsvError::NonFinite {
                file,
                line,
                column,
                text,
            } => write!(
                f,
                "{file}: line {line}, column {column}: {text:?} is not a finite number"
            ),
            CsvError::ColumnCount {
                file,
                line,
                expected,
                found,
            } => write!(
                f,
                "{file}: line {line}: expected {expected} columns, found {found}"
            ),
            CsvError::UnknownColumn {
                file,
                name,
                columns,
            } => write!(
                f,
                "{file}: no column named {name:?} (columns: {})",
                columns.join(", ")
            ),
            CsvError::Invalid { file, message } => write!(f, "{file}: {message}"),
        }
    }
}

impl std::error::Error for CsvError {}

/// Whether a cell holds one of the words that spreadsheets and data tools
/// write for a missing value (`NA`, `N/A`, `null`, `None`, `?`, …).
fn marks_missing(text: &str) -> bool {
    ["na", "n/a", "null", "none", "nil", "missing", "?"]
        .iter()
        .any(|m| text.eq_ignore_ascii_case(m))
}

/// How to read the target column of a CSV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Task {
    /// Classification when a target is text, or when every target is an
    /// integer and there are at most 10 distinct values; regression otherwise.
    #[default]
    Auto,
    /// A real-valued target.
    Regression,
    /// Class labels (see [`parse_csv`] for how they become class indices).
    Classification,
}

/// Which rows of a CSV file without a `split` column are held out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Holdout {
    /// This fraction of the rows, drawn at random with a fixed seed
    /// ([`HOLDOUT_SEED`]): the same rows of the same file in every command,
    /// and in a file sorted by class each class has its share.
    Random(f64),
    /// This fraction of the rows at the end of the file: for data in time
    /// order, whose held-out rows should come after the training rows.
    Last(f64),
}

impl Holdout {
    /// The fraction of the rows held out.
    pub fn fraction(self) -> f64 {
        match self {
            Holdout::Random(f) | Holdout::Last(f) => f,
        }
    }

    /// Whether each of `rows` rows is held out.
    fn rows(self, rows: usize) -> Vec<bool> {
        let test = ((rows as f64) * self.fraction()).round() as usize;
        match self {
            Holdout::Last(_) => (0..rows).map(|r| r >= rows - test).collect(),
            Holdout::Random(_) => {
                let mut order: Vec<usize> = (0..rows).collect();
                shuffle(&mut order, &mut Rng::seed(HOLDOUT_SEED));
                let mut held = vec![false; rows];
                for &r in &order[..test] {
                    held[r] = true;
                }
                held
            }
        }
    }
}

/// The seed of [`Holdout::Random`]'s choice of rows.
pub const HOLDOUT_SEED: u64 = 0x0005_9117;

/// Integer labels from 0 up to below this are their own class index (the
/// compiled-in classifiers have at most 10 outputs).
pub const CLASSES_BY_VALUE: usize = 10;

/// How many distinct values `values` holds, if all are whole numbers:
/// `--task auto` classifies such a target when there are at most
/// [`CLASSES_BY_VALUE`].
pub fn distinct_whole_numbers(values: &[f32]) -> Option<usize> {
    if values.iter().any(|v| v.fract() != 0.0) {
        return None;
    }
    let mut distinct = values.to_vec();
    distinct.sort_by(f32::total_cmp);
    distinct.dedup();
    Some(distinct.len())
}

/// Whether class names are those of labels that are their own index
/// (`"0"`, `"1"`, …): a model needs no record of them.
pub fn names_are_indices(names: &[String]) -> bool {
    names.iter().enumerate().all(|(k, n)| *n == k.to_string())
}

/// Whether label `text` is class name `name`: the same text, or the same number.
fn same_label(text: &str, name: &str) -> bool {
    text == name
        || matches!(
            (text.parse::<f32>(), name.parse::<f32>()),
            (Ok(a), Ok(b)) if a == b
        )
}

/// Class indices and names of the target cells of a classification.
///
/// - With the `known` classes of a model, each label is the index of its
///   name there (as text or as a number); a label not there is an error.
/// - Otherwise integer labels all in `0..CLASSES_BY_VALUE` are their own
///   index (so the mapping does not depend on which classes a file holds),
/// - other numbers are numbered in ascending order,
/// - and text labels in the order of their bytes.
fn class_indices(
    cells: &[(usize, String)],
    column: usize,
    known: Option<&[String]>,
) -> Result<(Vec<u16>, Vec<String>), String> {
    if let Some(names) = known {
        let y = cells
            .iter()
            .map(|(line, text)| {
                names
                    .iter()
                    .position(|n| same_label(text, n))
                    .and_then(|k| u16::try_from(k).ok())
                    .ok_or_else(|| {
                        format!(
                            "line {line}, column {column}: {text:?} is not one of the model's classes ({})",
                            names.join(", ")
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        return Ok((y, names.to_vec()));
    }
    let numbers: Option<Vec<f32>> = cells.iter().map(|(_, t)| t.parse().ok()).collect();
    let (index, names): (Vec<usize>, Vec<String>) = match numbers {
        Some(v)
            if v.iter()
                .all(|x| x.fract() == 0.0 && (0.0..CLASSES_BY_VALUE as f32).contains(x)) =>
        {
            let index: Vec<usize> = v.iter().map(|&x| x as usize).collect();
            let top = index.iter().copied().max().unwrap_or(0);
            (index, (0..=top).map(|k| k.to_string()).collect())
        }
        Some(v) => {
            let mut distinct = v.clone();
            distinct.sort_by(f32::total_cmp);
            distinct.dedup();
            let index = v
                .iter()
                .map(|x| distinct.partition_point(|d| d < x))
                .collect();
            (index, distinct.iter().map(f32::to_string).collect())
        }
        None => {
            let mut distinct: Vec<&str> = cells.iter().map(|(_, t)| t.as_str()).collect();
            distinct.sort_unstable();
            distinct.dedup();
            let index = cells
                .iter()
                .map(|(_, t)| distinct.partition_point(|d| *d < t.as_str()))
                .collect();
            (index, distinct.iter().map(|d| d.to_string()).collect())
        }
    };
    if names.len() > usize::from(u16::MAX) {
        return Err(format!("{} distinct classes is too many", names.len()));
    }
    Ok((index.iter().map(|&k| k as u16).collect(), names))
}

/// The cells of one CSV line, without the spaces around them. A cell may
/// be in double quotes (as R's `write.csv` and spreadsheets quote text),
/// and may then hold commas and `""` for a quote; it cannot span lines.
/// An error names the column (1-based) of a cell whose quotes do not close
/// or are followed by more text.
fn split_cells(line: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut cells = Vec::new();
    let mut rest = line;
    loop {
        let column = cells.len() + 1;
        let trimmed = rest.trim_start();
        let (cell, after) = if let Some(quoted) = trimmed.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) if quoted[i + 1..].starts_with('"') => {
                        text.push('"');
                        chars.next();
                    }
                    Some((i, '"')) => break i + 1,
                    Some((_, c)) => text.push(c),
                    None => {
                        return Err(format!(
                            "column {column}: the quote that opens the cell is not closed \
                             (a cell cannot span lines)"
                        ))
                    }
                }
            };
            let after = quoted[end..].trim_start();
            if !(after.is_empty() || after.starts_with(',')) {
                return Err(format!(
                    "column {column}: text after the closing quote of the cell"
                ));
            }
            (Cow::Owned(text.trim().to_string()), after)
        } else {
            let end = trimmed.find(',').unwrap_or(trimmed.len());
            (Cow::Borrowed(trimmed[..end].trim()), &trimmed[end..])
        };
        cells.push(cell);
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok(cells),
        }
    }
}

/// A data line's number (1-based) and cells.
type Row<'a> = (usize, Vec<Cow<'a, str>>);

/// A CSV text's header, then its data lines cut into cells, one by one.
struct CsvText<'a> {
    file: &'a str,
    header: Vec<String>,
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
}

impl<'a> CsvText<'a> {
    /// Reads the header (the first line that is not blank; a byte-order
    /// mark, as spreadsheets write, is not part of the first name).
    fn open(file: &'a str, text: &'a str) -> Result<Self, CsvError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut csv = CsvText {
            file,
            header: Vec::new(),
            lines: text.lines().enumerate(),
        };
        csv.header = loop {
            match csv.lines.next() {
                Some((_, l)) if l.trim().is_empty() => continue,
                Some((k, l)) => {
                    break split_cells(l)
                        .map_err(|e| csv.invalid(format!("line {}, {e}", k + 1)))?
                        .into_iter()
                        .map(Cow::into_owned)
                        .collect()
                }
                None => return Err(csv.invalid("the file is empty".into())),
            }
        };
        if csv.header.len() == 1 && csv.header[0].contains(';') {
            return Err(csv.invalid(format!(
                "the header {:?} has no commas: columns must be separated by commas, not semicolons",
                csv.header[0]
            )));
        }
        // Columns are told apart by name (the target, a model's recorded
        // inputs), so no two may share one.
        for (b, name) in csv.header.iter().enumerate() {
            if let Some(a) = csv.header[..b].iter().position(|n| n == name) {
                return Err(csv.invalid(format!(
                    "columns {} and {} are both named {name:?}",
                    a + 1,
                    b + 1
                )));
            }
        }
        Ok(csv)
    }

    fn invalid(&self, message: String) -> CsvError {
        CsvError::Invalid {
            file: self.file.to_string(),
            message,
        }
    }

    /// The column named `name`, if any (names are unique: [`CsvText::open`]).
    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|c| c == name)
    }

    /// The next line that is not blank: its number (1-based) and cells, as
    /// many as the header has.
    fn next_row(&mut self) -> Option<Result<Row<'a>, CsvError>> {
        let (k, line) = self.lines.find(|(_, l)| !l.trim().is_empty())?;
        let line_no = k + 1;
        Some(
            split_cells(line)
                .map_err(|e| self.invalid(format!("line {line_no}, {e}")))
                .and_then(|cells| {
                    if cells.len() == self.header.len() {
                        Ok((line_no, cells))
                    } else {
                        Err(CsvError::ColumnCount {
                            file: self.file.to_string(),
                            line: line_no,
                            expected: self.header.len(),
                            found: cells.len(),
                        })
                    }
                }),
        )
    }

    /// Cell `text` of line `line`, column `column` (0-based) as a finite number.
    fn number(&self, line: usize, column: usize, text: &str) -> Result<f32, CsvError> {
        let v: f32 = text.parse().map_err(|_| CsvError::NotANumber {
            file: self.file.to_string(),
            line,
            column: column + 1,
            text: text.to_string(),
        })?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(CsvError::NonFinite {
                file: self.file.to_string(),
                line,
                column: column + 1,
                text: text.to_string(),
            })
        }
    }
}

/// Inputs to run a model on: every column of a CSV file but `split` and
/// the target, if one is named.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// Input columns per row.
    pub width: usize,
    /// The input columns' names, in order.
    pub names: Vec<String>,
    /// Row-major inputs, `rows × width`.
    pub x: Vec<f32>,
    /// The target column as written, if one was named.
    pub target: Option<Column>,
}

/// A column of a CSV file, its cells as text.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The header's name for it.
    pub name: String,
    /// Its cells, row by row.
    pub cells: Vec<String>,
}

impl Inputs {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.x.len() / self.width.max(1)
    }
}

/// Parses a CSV file of inputs (as [`parse_csv`] reads them): the columns
/// named `by_name`, in that order, when a model records them; else every
/// column but one named `split` and the `target`. The target's cells, if
/// it is named, are kept as text (they may be labels) to show beside the
/// predictions.
pub fn parse_inputs(
    file: &str,
    text: &str,
    target: Option<&str>,
    by_name: Option<&[String]>,
) -> Result<Inputs, CsvError> {
    let mut csv = CsvText::open(file, text)?;
    let tcol = match target {
        Some(name) => Some(csv.column(name).ok_or_else(|| CsvError::UnknownColumn {
            file: file.to_string(),
            name: name.to_string(),
            columns: csv.header.clone(),
        })?),
        None => None,
    };
    let columns: Vec<usize> = match by_name {
        Some(names) => names
            .iter()
            .map(|n| {
                csv.column(n).ok_or_else(|| {
                    csv.invalid(format!(
                        "no column named {n:?}, which the model reads (its inputs: {})",
                        names.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        None => {
            let scol = csv.column("split").filter(|&c| Some(c) != tcol);
            (0..csv.header.len())
                .filter(|&c| Some(c) != tcol && Some(c) != scol)
                .collect()
        }
    };
    let width = columns.len();
    if width == 0 {
        return Err(csv.invalid("no input columns".into()));
    }
    let mut x = Vec::new();
    let mut labels = Vec::new();
    while let Some(row) = csv.next_row() {
        let (line_no, cells) = row?;
        for &c in &columns {
            x.push(csv.number(line_no, c, &cells[c])?);
        }
        if let Some(t) = tcol {
            labels.push(cells[t].to_string());
        }
    }
    if x.is_empty() {
        return Err(csv.invalid("no data rows".into()));
    }
    Ok(Inputs {
        width,
        names: columns.iter().map(|&c| csv.header[c].clone()).collect(),
        x,
        target: tcol.map(|c| Column {
            name: csv.header[c].clone(),
            cells: labels,
        }),
    })
}

/// Reads a CSV file's text.
fn read_csv(path: &Path) -> Result<(String, String), CsvError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CsvError::Io {
        file: file.clone(),
        message: e.to_string(),
    })?;
    let text = utf8_text(bytes).map_err(|message| CsvError::Invalid {
        file: file.clone(),
        message,
    })?;
    Ok((file, text))
}

/// A file's bytes as text, or an error naming the first line that is not
/// UTF-8 (a spreadsheet may save in a legacy code page).
fn utf8_text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
        format!("line {line} is not UTF-8 text (save the file as UTF-8)")
    })
}

/// Reads and parses a CSV file of inputs (see [`parse_inputs`]).
pub fn load_inputs(
    path: &Path,
    target: Option<&str>,
    by_name: Option<&[String]>,
) -> Result<Inputs, CsvError> {
    let (file, text) = read_csv(path)?;
    parse_inputs(&file, &text, target, by_name)
}

/// Parses CSV text (comma-separated, header line first, numbers only but
/// for a classification's target, which may be text; a cell may be in
/// double quotes, and then hold commas: see `split_cells`).
///
/// The column named `target` is the label; a column named `split` (if any,
/// and not the target) chooses held-out rows (0 = train, 1 = test);
/// otherwise `holdout` chooses them (its fraction at least 0, below 1). Columns are told apart by name, so the target and `split` must
/// each name one column.
///
/// A classification's labels become class indices by the `classes` of a
/// model when it records them (a label not among them is an error); else
/// integers all below [`CLASSES_BY_VALUE`] are their own index, other
/// numbers are numbered in ascending order, and text labels in the order
/// of their bytes.
pub fn parse_csv(
    file: &str,
    text: &str,
    target: &str,
    task: Task,
    holdout: Holdout,
    classes: Option<&[String]>,
) -> Result<Split, CsvError> {
    let test_fraction = holdout.fraction();
    let invalid = |message: String| CsvError::Invalid {
        file: file.to_string(),
        message,
    };
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(invalid(format!(
            "the fraction of rows to hold out must be at least 0 and below 1, got {test_fraction}"
        )));
    }
    let mut csv = CsvText::open(file, text)?;
    let tcol = csv.column(target).ok_or_else(|| CsvError::UnknownColumn {
        file: file.to_string(),
        name: target.to_string(),
        columns: csv.header.clone(),
    })?;
    let scol = csv.column("split").filter(|&c| c != tcol);
    let width = csv.header.len() - 1 - usize::from(scol.is_some());
    if width == 0 {
        return Err(invalid("no input columns besides the target".into()));
    }
    if classes.is_some() && task == Task::Regression {
        return Err(invalid(
            "the model is a classifier (it records its classes), not a regression".into(),
        ));
    }
    let mut x = Vec::new();
    // The target cells with their line numbers; numbers where they are.
    let mut cells_y: Vec<(usize, String)> = Vec::new();
    let mut y: Vec<f32> = Vec::new();
    let mut is_test = Vec::new();
    while let Some(row) = csv.next_row() {
        let (line_no, cells) = row?;
        for (c, text) in cells.iter().enumerate() {
            let text: &str = text;
            if c == tcol {
                cells_y.push((line_no, text.to_string()));
                if task == Task::Auto && classes.is_none() && marks_missing(text) {
                    return Err(invalid(format!(
                        "line {line_no}, column {}: the target {text:?} looks like a missing value: \
                         drop the row, or give --task classification if it is a class",
                        c + 1
                    )));
                }
                // A class label may be text, unless the task is regression;
                // an empty cell is a missing value (an error below).
                if task != Task::Regression && !text.is_empty() && text.parse::<f32>().is_err() {
                    continue;
                }
            }
            let v = csv.number(line_no, c, text)?;
            if c == tcol {
                y.push(v);
            } else if Some(c) == scol {
                if v != 0.0 && v != 1.0 {
                    return Err(invalid(format!(
                        "line {line_no}, column {}: split must be 0 (train) or 1 (test), found {text}",
                        c + 1
                    )));
                }
                is_test.push(v == 1.0);
            } else {
                x.push(v);
            }
        }
    }
    let rows = cells_y.len();
    if rows == 0 {
        return Err(invalid("no data rows".into()));
    }
    if scol.is_none() {
        is_test = holdout.rows(rows);
    }
    let text_labels = y.len() < rows;
    let classify = match task {
        Task::Auto if classes.is_none() && !text_labels => {
            distinct_whole_numbers(&y).is_some_and(|n| n <= CLASSES_BY_VALUE)
        }
        Task::Regression => false,
        Task::Auto | Task::Classification => true,
    };
    let classified = if classify {
        Some(class_indices(&cells_y, tcol + 1, classes).map_err(invalid)?)
    } else {
        None
    };
    let labels_for = |pick: &dyn Fn(usize) -> bool| -> Labels {
        match &classified {
            Some((index, names)) => Labels::Classes {
                y: (0..rows).filter(|&r| pick(r)).map(|r| index[r]).collect(),
                names: names.clone(),
            },
            None => Labels::Values((0..rows).filter(|&r| pick(r)).map(|r| y[r]).collect()),
        }
    };
    let rows_of = |test: bool| -> Vec<f32> {
        (0..rows)
            .filter(|&r| is_test[r] == test)
            .flat_map(|r| x[r * width..(r + 1) * width].iter().copied())
            .collect()
    };
    let train = Table {
        width,
        x: rows_of(false),
        labels: labels_for(&|r| !is_test[r]),
    };
    let test = Table {
        width,
        x: rows_of(true),
        labels: labels_for(&|r| is_test[r]),
    };
    if train.rows() == 0 {
        return Err(invalid("no training rows".into()));
    }
    let inputs = (0..csv.header.len())
        .filter(|&c| c != tcol && Some(c) != scol)
        .map(|c| csv.header[c].clone())
        .collect();
    Ok(Split {
        name: file.to_string(),
        train,
        test,
        inputs,
    })
}

/// Reads and parses a CSV file (see [`parse_csv`]).
pub fn load_csv(
    path: &Path,
    target: &str,
    task: Task,
    holdout: Holdout,
    classes: Option<&[String]>,
) -> Result<Split, CsvError> {
    let (file, text) = read_csv(path)?;
    parse_csv(&file, &text, target, task, holdout, classes)
}

/// The bundled digits: 64 pixels scaled to [0, 1], 10 classes, the
/// `split` column's 1437 training and 360 test rows (workload W2).
pub fn digits() -> Split {
    let mut s = parse_csv(
        "digits.csv",
        DIGITS_CSV,
        "label",
        Task::Classification,
        Holdout::Last(0.0),
        None,
    )
    .unwrap_or_else(|e| unreachable!("the bundled digits parse: {e}"));
    for t in [&mut s.train, &mut s.test] {
        for v in &mut t.x {
            *v /= 16.0;
        }
    }
    s.name = "digits".into();
    s.inputs.clear();
    s
}

fn binary_names() -> Vec<String> {
    vec!["0".into(), "1".into()]
}

/// The four XOR points (workload W1); the held-out set is the same four.
pub fn xor() -> Split {
    let table = Table {
        width: 2,
        x: vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        labels: Labels::Classes {
            y: vec![0, 1, 1, 0],
            names: binary_names(),
        },
    };
    Split {
        name: "xor".into(),
        train: table.clone(),
        test: table,
        inputs: Vec::new(),
    }
}

/// y = sin(x) on [−π, π]: 1000 random training points, 200 evenly spaced test points.
pub fn sine(seed: u64) -> Split {
    let mut rng = Rng::seed(seed);
    let pi = std::f32::consts::PI;
    let train_x: Vec<f32> = (0..1000)
        .map(|_| (2.0 * unit_f32(&mut rng) - 1.0) * pi)
        .collect();
    let test_x: Vec<f32> = (0..200)
        .map(|k| -pi + 2.0 * pi * (k as f32 + 0.5) / 200.0)
        .collect();
    let table = |x: Vec<f32>| Table {
        width: 1,
        labels: Labels::Values(x.iter().map(|v| v.sin()).collect()),
        x,
    };
    Split {
        name: "sine".into(),
        train: table(train_x),
        test: table(test_x),
        inputs: Vec::new(),
    }
}

/// Standard normal by Box–Muller.
fn normal(rng: &mut Rng) -> f32 {
    let u = unit_f32(rng).max(1e-7);
    let v = unit_f32(rng);
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
}

fn binary_split(name: &str, seed: u64, point: impl Fn(&mut Rng, u16) -> (f32, f32)) -> Split {
    let mut rng = Rng::seed(seed);
    let mut make = |n: usize| {
        let mut x = Vec::with_capacity(2 * n);
        let mut y = Vec::with_capacity(n);
        for k in 0..n {
            let c = (k % 2) as u16;
            let (a, b) = point(&mut rng, c);
            x.extend([a, b]);
            y.push(c);
        }
        Table {
            width: 2,
            x,
            labels: Labels::Classes {
                y,
                names: binary_names(),
            },
        }
    };
    let train = make(1000);
    let test = make(250);
    Split {
        name: name.into(),
        train,
        test,
        inputs: Vec::new(),
    }
}

/// Two interleaved spirals (one turn each) with Gaussian noise σ = 0.03,
/// inside [−1, 1]²: 1000 training and 250 test points.
pub fn spiral(seed: u64) -> Split {
    binary_split("spiral", seed, |rng, c| {
        let t = unit_f32(rng);
        let angle = t * 2.0 * std::f32::consts::PI + f32::from(c) * std::f32::consts::PI;
        let r = 0.1 + 0.85 * t;
        (
            r * angle.cos() + 0.03 * normal(rng),
            r * angle.sin() + 0.03 * normal(rng),
        )
    })
}

/// Two interleaving half circles (scikit-learn's `make_moons`) with noise
/// σ = 0.1: 1000 training and 250 test points.
pub fn moons(seed: u64) -> Split {
    binary_split("moons", seed, |rng, c| {
        let a = unit_f32(rng) * std::f32::consts::PI;
        let (x, y) = if c == 0 {
            (a.cos(), a.sin())
        } else {
            (1.0 - a.cos(), 0.5 - a.sin())
        };
        (x + 0.1 * normal(rng), y + 0.1 * normal(rng))
    })
}

/// Workload W3's synthetic data: `n` samples of 784 inputs ~ U[0, 1) with
/// labels uniform in 0..9, and `n / 60` held-out samples (accuracy on it is
/// chance: the labels carry no signal; this set measures throughput).
pub fn mnist_shape(n: usize, seed: u64) -> Split {
    let mut rng = Rng::seed(seed);
    let mut make = |n: usize| {
        let x: Vec<f32> = (0..n * 784).map(|_| unit_f32(&mut rng)).collect();
        let y: Vec<u16> = (0..n)
            .map(|_| tinytrain::rng::below(&mut rng, 10) as u16)
            .collect();
        Table {
            width: 784,
            x,
            labels: Labels::Classes {
                y,
                names: (0..10).map(|d| d.to_string()).collect(),
            },
        }
    };
    let train = make(n);
    let test = make((n / 60).max(1));
    Split {
        name: "mnist-shape".into(),
        train,
        test,
        inputs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse_csv` holding out nothing, for a file whose model records nothing.
    fn parse(file: &str, text: &str, target: &str, task: Task) -> Result<Split, CsvError> {
        parse_csv(file, text, target, task, Holdout::Last(0.0), None)
    }

    #[test]
    fn digits_has_the_documented_split() {
        let d = digits();
        assert_eq!((d.train.rows(), d.test.rows()), (1437, 360));
        assert_eq!(d.train.width, 64);
        assert_eq!(d.train.classes(), 10);
        assert!(d.train.x.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let e = parse("f.csv", "a,b,y\n1,2,0\n1,x,1\n", "y", Task::Auto).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: line 3, column 2: \"x\" is not a number"
        );
        let e = parse("f.csv", "a,b,y\n1,2\n", "y", Task::Auto).unwrap_err();
        assert_eq!(e.to_string(), "f.csv: line 2: expected 3 columns, found 2");
        let e = parse("f.csv", "a,b,y\n1,NaN,0\n", "y", Task::Auto).unwrap_err();
        assert!(e.to_string().contains("line 2, column 2"), "{e}");
        let e = parse("f.csv", "a,b,y\n1,2,0\n", "z", Task::Auto).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: no column named \"z\" (columns: a, b, y)"
        );
    }

    #[test]
    fn missing_values_are_named_as_such() {
        let missing = "(a missing value: fill it in or drop the row)";
        for (text, task, error) in [
            // An empty input cell, and an empty target, whatever the task
            // (it used to become a class of its own).
            ("a,b,y\n1,,0\n", Task::Auto, format!("line 2, column 2 is empty {missing}")),
            ("a,y\n1,0\n2,\n", Task::Auto, format!("line 3, column 2 is empty {missing}")),
            ("a,y\n1,x\n2,\n", Task::Classification, format!("line 3, column 2 is empty {missing}")),
            ("a,y\n1,0.5\n2,\n", Task::Regression, format!("line 3, column 2 is empty {missing}")),
            // A word for a missing value among the inputs…
            (
                "a,y\nNA,1\n",
                Task::Auto,
                "line 2, column 1: \"NA\" is not a number (a missing value? fill it in or drop the row)".into(),
            ),
            // …or as the target: with labels found by themselves, it would
            // become a class.
            (
                "a,y\n1,0\n2,1\n3,n/a\n",
                Task::Auto,
                "line 4, column 2: the target \"n/a\" looks like a missing value: drop the row, or give --task classification if it is a class".into(),
            ),
        ] {
            let e = parse("f.csv", text, "y", task).unwrap_err();
            assert_eq!(e.to_string(), format!("f.csv: {error}"), "{text:?}");
        }
        // Asked for, it is a class.
        let s = parse("f.csv", "a,y\n1,0\n2,1\n3,NA\n", "y", Task::Classification).unwrap();
        assert_eq!(classes_of(&s).1, ["0", "1", "NA"]);
    }

    #[test]
    fn a_byte_order_mark_and_quotes_are_not_part_of_names_or_numbers() {
        let text = "\u{feff}\"a\", \"b\" ,y\r\n\"1\",2,\" 0 \"\r\n3,4,1\r\n";
        let s = parse("f.csv", text, "a", Task::Regression).unwrap();
        assert_eq!(s.train.width, 2);
        assert_eq!(s.train.x, [2.0, 0.0, 4.0, 1.0]);
        assert!(matches!(&s.train.labels, Labels::Values(v) if v == &[1.0, 3.0]));
        // A quote that does not close, or text after it, is an error.
        let e = parse("f.csv", "a,y\n\"1,0\n", "y", Task::Auto).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: line 2, column 1: the quote that opens the cell is not closed (a cell cannot span lines)"
        );
        let e = parse("f.csv", "a,y\n1,\"0\"x\n", "y", Task::Auto).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: line 2, column 2: text after the closing quote of the cell"
        );
        // A quote inside an unquoted cell stays, and is no number.
        let e = parse("f.csv", "a,y\n1\",0\n", "y", Task::Auto).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: line 2, column 1: \"1\\\"\" is not a number"
        );
        // Quoted cells may hold commas and doubled quotes.
        let text = "a,\"name, full\",y\n1,\"Smith, \"\"J\"\"\",2\n3,x,\"b, c\"\n";
        assert_eq!(
            split_cells("1,\"Smith, \"\"J\"\"\" , 2,").unwrap(),
            ["1", "Smith, \"J\"", "2", ""]
        );
        let s = parse("f.csv", text, "y", Task::Classification);
        let e = s.unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: line 2, column 2: \"Smith, \\\"J\\\"\" is not a number"
        );
        let text = "a,\"y, label\"\n1,\"b, c\"\n2,a\n";
        let s = parse("f.csv", text, "y, label", Task::Auto).unwrap();
        match &s.train.labels {
            Labels::Classes { y, names } => {
                assert_eq!(names, &["a", "b, c"]);
                assert_eq!(y, &[1, 0]);
            }
            Labels::Values(_) => panic!("expected classes"),
        }
        let e = parse("f.csv", "a;b;y\n1;2;0\n", "y", Task::Auto).unwrap_err();
        assert!(e.to_string().contains("not semicolons"), "{e}");
    }

    #[test]
    fn inputs_are_every_column_but_split_and_the_named_target() {
        let text = "a,species,split,b\n1,setosa,0,2\n\n3,\"b, c\",1,4\n";
        let i = parse_inputs("f", text, Some("species"), None).unwrap();
        assert_eq!((i.width, i.rows()), (2, 2));
        assert_eq!(i.x, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            i.target,
            Some(Column {
                name: "species".into(),
                cells: vec!["setosa".into(), "b, c".into()]
            })
        );
        let i = parse_inputs("f", "a,b\n1,2\n", None, None).unwrap();
        assert_eq!((i.width, i.x, i.target), (2, vec![1.0, 2.0], None));
        // A model's columns, by name and in its order; others are ignored.
        let names: Vec<String> = ["b", "a"].map(String::from).into();
        let i = parse_inputs("f", text, None, Some(&names)).unwrap();
        assert_eq!((i.width, i.x), (2, vec![2.0, 1.0, 4.0, 3.0]));
        let e = parse_inputs("f", "a,c\n1,2\n", None, Some(&names)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f: no column named \"b\", which the model reads (its inputs: b, a)"
        );
        let s = parse("f", text, "species", Task::Auto).unwrap();
        assert_eq!(s.inputs, ["a", "b"]);
        for (text, target, error) in [
            (
                "a,species\n1,x\n",
                None,
                "f: line 2, column 2: \"x\" is not a number",
            ),
            (
                "a,b\n1,inf\n",
                None,
                "f: line 2, column 2: \"inf\" is not a finite number",
            ),
            ("a,b\n1\n", None, "f: line 2: expected 2 columns, found 1"),
            ("a,b\n", None, "f: no data rows"),
            ("y\n1\n", Some("y"), "f: no input columns"),
            (
                "a,b\n1,2\n",
                Some("y"),
                "f: no column named \"y\" (columns: a, b)",
            ),
            (
                "a,a,b\n1,2,3\n",
                Some("a"),
                "f: columns 1 and 2 are both named \"a\"",
            ),
        ] {
            let e = parse_inputs("f", text, target, None).unwrap_err();
            assert_eq!(e.to_string(), error, "{text:?}");
        }
    }

    #[test]
    fn random_held_out_rows_are_the_same_for_a_file_and_give_a_sorted_file_every_class() {
        // 30 rows sorted by class: the last fifth would be class 2 alone.
        let mut text = String::from("a,y\n");
        for r in 0..30 {
            text += &format!("{r},{}\n", r / 10);
        }
        let held = |h| {
            let s = parse_csv("f", &text, "y", Task::Auto, h, None).unwrap();
            let (_, _, test) = classes_of(&s);
            let mut rows = s.test.x.clone();
            rows.sort_by(f32::total_cmp);
            (test, rows)
        };
        let (last, rows) = held(Holdout::Last(0.2));
        assert_eq!(last, [2; 6]);
        assert_eq!(rows, [24.0, 25.0, 26.0, 27.0, 28.0, 29.0]);
        let (random, rows) = held(Holdout::Random(0.2));
        assert_eq!(random.len(), 6);
        for c in 0..3 {
            assert!(
                random.contains(&c),
                "class {c} has no held-out row: {random:?}"
            );
        }
        assert_eq!(
            held(Holdout::Random(0.2)).1,
            rows,
            "the same rows every time"
        );
        // Training rows keep the file's order.
        let s = parse_csv("f", &text, "y", Task::Auto, Holdout::Random(0.2), None).unwrap();
        assert!(s.train.x.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s.train.rows() + s.test.rows(), 30);
    }

    #[test]
    fn held_out_fraction_and_column_names_are_checked() {
        let text = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n";
        for f in [-0.1, 1.0, 1.5, f64::NAN, f64::INFINITY] {
            let e = parse_csv("f.csv", text, "y", Task::Auto, Holdout::Last(f), None).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("f.csv: the fraction of rows to hold out must be at least 0 and below 1, got {f}")
            );
        }
        // 0 holds out nothing; 0.5 the last half; 0.9 all four rows.
        let rows = |f| {
            parse_csv("f.csv", text, "y", Task::Auto, Holdout::Last(f), None)
                .map(|s| (s.train.rows(), s.test.rows()))
        };
        assert_eq!(rows(0.0).unwrap(), (4, 0));
        assert_eq!(rows(0.5).unwrap(), (2, 2));
        assert_eq!(
            rows(0.9).unwrap_err().to_string(),
            "f.csv: no training rows"
        );
        // No two columns may share a name: the target, `split` and a
        // model's recorded inputs are found by name. (A file with two input
        // columns `a` used to train a model whose record of its inputs could
        // not be read back.)
        for (text, error) in [
            ("y,b,y\n1,2,0\n", "columns 1 and 3 are both named \"y\""),
            (
                "a,split,split,y\n1,0,0,3\n",
                "columns 2 and 3 are both named \"split\"",
            ),
            ("a,a,y\n1,2,0\n", "columns 1 and 2 are both named \"a\""),
        ] {
            let e = parse("f.csv", text, "y", Task::Auto).unwrap_err();
            assert_eq!(e.to_string(), format!("f.csv: {error}"), "{text:?}");
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_names_its_line() {
        assert_eq!(utf8_text(b"a,y\n1,0\n".to_vec()).unwrap(), "a,y\n1,0\n");
        // "café" in Latin-1 on line 3.
        let latin1 = b"a,y\n1,0\n2,caf\xe9\n".to_vec();
        assert_eq!(
            utf8_text(latin1).unwrap_err(),
            "line 3 is not UTF-8 text (save the file as UTF-8)"
        );
    }

    fn classes_of(s: &Split) -> (Vec<u16>, Vec<String>, Vec<u16>) {
        match (&s.train.labels, &s.test.labels) {
            (Labels::Classes { y, names }, Labels::Classes { y: t, .. }) => {
                (y.clone(), names.clone(), t.clone())
            }
            _ => panic!("expected classes"),
        }
    }

    #[test]
    fn small_integer_labels_are_their_own_class_whatever_the_file_holds() {
        let s = parse_csv(
            "f",
            "a,y\n1,7\n2,3\n3,7\n4,3\n5,5\n",
            "y",
            Task::Auto,
            Holdout::Last(0.2),
            None,
        )
        .unwrap();
        assert_eq!((s.train.rows(), s.test.rows()), (4, 1));
        let (y, names, test) = classes_of(&s);
        assert_eq!(y, [7, 3, 7, 3]);
        assert_eq!(test, [5]);
        assert_eq!(names, ["0", "1", "2", "3", "4", "5", "6", "7"]);
        let t = s.train.to_train_set::<4, 10>(LossKind::SoftmaxCe).unwrap();
        assert_eq!(t.x[1], [2.0, 0.0, 0.0, 0.0]);
        assert!(s.train.to_train_set::<4, 2>(LossKind::SoftmaxCe).is_err());
        // A file holding only some of the classes maps them the same way.
        let s = parse("f", "a,y\n1,5\n2,3\n", "y", Task::Auto).unwrap();
        assert_eq!(classes_of(&s).0, [5, 3]);
    }

    #[test]
    fn other_labels_are_numbered_in_sorted_order_and_text_labels_are_classes() {
        // Numbers that are not all small integers: ascending order.
        let text = "a,y\n1,30\n2,-1\n3,30\n4,12.5\n";
        let s = parse("f", text, "y", Task::Classification).unwrap();
        let (y, names, _) = classes_of(&s);
        assert_eq!(
            (y, names),
            (
                vec![2, 0, 2, 1],
                vec!["-1".into(), "12.5".into(), "30".into()]
            )
        );
        // Text: a classification, even under --task auto, in byte order.
        let iris = "a,b,species\n1,2,virginica\n3,4,\"setosa\"\n5,6,versicolor\n7,8,setosa\n";
        let s = parse_csv("f", iris, "species", Task::Auto, Holdout::Last(0.25), None).unwrap();
        let (y, names, test) = classes_of(&s);
        assert_eq!(names, ["setosa", "versicolor", "virginica"]);
        assert_eq!((y, test), (vec![2, 0, 1], vec![0]));
        assert!(!names_are_indices(&names));
        // Mixed text and numbers are all text.
        let s = parse("f", "a,y\n1,2\n2,x\n3,10\n", "y", Task::Auto).unwrap();
        assert_eq!(classes_of(&s).1, ["10", "2", "x"]);
        // Text is no regression target, and inputs must still be numbers.
        let e = parse("f", iris, "species", Task::Regression).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f: line 2, column 3: \"virginica\" is not a number"
        );
        let e = parse("f", "a,y\nx,1\n", "y", Task::Classification).unwrap_err();
        assert_eq!(e.to_string(), "f: line 2, column 1: \"x\" is not a number");
        // A NaN label is no class.
        let e = parse("f", "a,y\n1,NaN\n", "y", Task::Classification).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f: line 2, column 2: \"NaN\" is not a finite number"
        );
    }

    #[test]
    fn a_models_classes_decide_the_indices_and_refuse_other_labels() {
        let known: Vec<String> = ["setosa", "versicolor", "virginica"]
            .map(String::from)
            .into();
        let two = "a,species\n1,virginica\n2,versicolor\n";
        let s = parse_csv(
            "f",
            two,
            "species",
            Task::Auto,
            Holdout::Last(0.0),
            Some(&known),
        )
        .unwrap();
        let (y, names, _) = classes_of(&s);
        assert_eq!((y, names), (vec![2, 1], known.clone()));
        let e = parse_csv(
            "f",
            "a,species\n1,setosa\n2,rose\n",
            "species",
            Task::Auto,
            Holdout::Last(0.0),
            Some(&known),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "f: line 3, column 2: \"rose\" is not one of the model's classes (setosa, versicolor, virginica)"
        );
        let e = parse_csv(
            "f",
            two,
            "species",
            Task::Regression,
            Holdout::Last(0.0),
            Some(&known),
        )
        .unwrap_err();
        assert!(e.to_string().contains("is a classifier"), "{e}");
        // Numeric names match numerically: "30.0" is class "30".
        let known: Vec<String> = ["-1", "12.5", "30"].map(String::from).into();
        let s = parse_csv(
            "f",
            "a,y\n1,30.0\n",
            "y",
            Task::Auto,
            Holdout::Last(0.0),
            Some(&known),
        )
        .unwrap();
        assert_eq!(classes_of(&s).0, [2]);
        assert!(names_are_indices(&["0".into(), "1".into()]));
    }
}
