//! What the command line prints and writes about a model: numbers, a
//! confusion matrix, predictions as CSV.

use tinytrain::Network;

use crate::data::Inputs;
use crate::nets::LossKind;

/// Five significant digits (targets may be in the thousands or errors far
/// below 1), in scientific notation outside 1e-4 to 1e5.
pub fn number(v: f32) -> String {
    if v == 0.0 || !v.is_finite() {
        format!("{v:.5}")
    } else if (1e-4..1e5).contains(&v.abs()) {
        let decimals = (4 - v.abs().log10().floor() as i32).clamp(0, 8) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.4e}")
    }
}

/// A confusion matrix as lines of text, from (true, predicted) class
/// pairs. Classes that no sample has and none is predicted as are left
/// out; predictions of outputs that are no class of `names` (a network with
/// more outputs than the data has classes) are counted under `other`.
pub fn confusion(names: &[String], pairs: &[(usize, usize)]) -> Vec<String> {
    let k = names.len();
    let mut m = vec![vec![0u32; k + 1]; k];
    for &(t, p) in pairs {
        if let Some(row) = m.get_mut(t) {
            row[p.min(k)] += 1;
        }
    }
    let shown: Vec<usize> = (0..k)
        .filter(|&c| m[c].iter().any(|&n| n > 0) || m.iter().any(|row| row[c] > 0))
        .collect();
    let other = m.iter().any(|row| row[k] > 0);
    let w = shown
        .iter()
        .map(|&c| names[c].chars().count())
        .chain(other.then_some(5))
        .max()
        .unwrap_or(1)
        .max(4);
    let mut head = format!("{:>w$}", "");
    for &c in &shown {
        head += &format!(" {:>w$}", names[c]);
    }
    if other {
        head += &format!(" {:>w$}", "other");
    }
    let mut lines = vec![head];
    for &r in &shown {
        let mut line = format!("{:>w$}", names[r]);
        for &c in shown.iter().chain(other.then_some(&k)) {
            line += &format!(" {:>w$}", m[r][c]);
        }
        lines.push(line);
    }
    lines
}

/// A CSV cell: in double quotes (inner ones doubled) when it holds a
/// comma, a quote or a line break, or has spaces at either end.
pub fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) || text.trim() != text {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The model's predictions for `inputs` as CSV text: the target column
/// first if one was named, then for a softmax classifier the predicted
/// class and each class's probability (`p_LABEL`), for a logit (BCE) the
/// class and the probability of class 1, else the output values. Labels
/// are those the model records, else the output indices.
///
/// Rows narrower than `I` are zero-padded, as in training; wider ones are
/// cut to `I` (the command line refuses them first).
pub fn predictions<N, const I: usize, const O: usize>(
    net: &N,
    loss: LossKind,
    inputs: &Inputs,
    classes: Option<&[String]>,
) -> String
where
    N: Network<I, O>,
{
    let mut scratch = N::SCRATCH;
    let names: Vec<String> = match (classes, loss) {
        (Some(c), _) => c.to_vec(),
        (None, LossKind::Bce) => vec!["0".into(), "1".into()],
        (None, _) => (0..O).map(|k| k.to_string()).collect(),
    };
    let label = |k: usize| names.get(k).cloned().unwrap_or_else(|| k.to_string());
    let mut head: Vec<String> = inputs.target.iter().map(|t| t.name.clone()).collect();
    match loss {
        LossKind::SoftmaxCe => {
            head.push("prediction".into());
            head.extend(names.iter().take(O).map(|n| format!("p_{n}")));
        }
        LossKind::Bce => head.extend(["prediction".into(), format!("p_{}", label(1))]),
        LossKind::Mse if O == 1 => head.push("prediction".into()),
        LossKind::Mse => head.extend((0..O).map(|k| format!("y{k}"))),
    }
    let mut text = head
        .iter()
        .map(|h| csv_cell(h))
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    for (r, row) in inputs.x.chunks_exact(inputs.width).enumerate() {
        let mut x = [0.0f32; I];
        let n = row.len().min(I);
        x[..n].copy_from_slice(&row[..n]);
        let y = net.forward(&x, &mut scratch);
        let mut cells: Vec<String> = inputs
            .target
            .iter()
            .map(|t| csv_cell(&t.cells[r]))
            .collect();
        match loss {
            LossKind::SoftmaxCe => {
                // Softmax in f64, from the largest logit.
                let top = y.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let e: Vec<f64> = y.iter().map(|&v| f64::from(v - top).exp()).collect();
                let sum: f64 = e.iter().sum();
                cells.push(csv_cell(&label(tinytrain::argmax(y))));
                cells.extend(e.iter().take(names.len()).map(|p| number((p / sum) as f32)));
            }
            LossKind::Bce => {
                let p = 1.0 / (1.0 + (-f64::from(y[0])).exp());
                cells.push(csv_cell(&label(usize::from(y[0] >= 0.0))));
                cells.push(number(p as f32));
            }
            LossKind::Mse => cells.extend(y.iter().map(|v| v.to_string())),
        }
        text += &cells.join(",");
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_matrix_leaves_out_empty_classes_and_counts_other_outputs() {
        let names: Vec<String> = ["0", "1", "2", "3"].map(String::from).into();
        // Class 0 neither occurs nor is predicted; output 7 is no class.
        let pairs = [(1, 1), (1, 2), (2, 2), (3, 7), (3, 3), (3, 3)];
        assert_eq!(
            confusion(&names, &pairs),
            [
                "          1     2     3 other",
                "    1     1     1     0     0",
                "    2     0     1     0     0",
                "    3     0     0     2     1",
            ]
        );
        // Without stray outputs there is no `other` column; a class only
        // predicted still has its row and column.
        let pairs = [(0, 0), (0, 2), (1, 1)];
        assert_eq!(
            confusion(&names[..3], &pairs),
            [
                "        0    1    2",
                "   0    1    0    1",
                "   1    0    1    0",
                "   2    0    0    0",
            ]
        );
    }

    #[test]
    fn numbers_keep_five_significant_digits() {
        let shown: Vec<String> = [0.0, 0.0031504, 1.0, 18310.697, 5.7341e8, 2.5e-6, f32::NAN]
            .map(number)
            .into();
        assert_eq!(
            shown,
            [
                "0.00000",
                "0.0031504",
                "1.0000",
                "18311",
                "5.7341e8",
                "2.5000e-6",
                "NaN"
            ]
        );
    }

    #[test]
    fn csv_cells_are_quoted_only_when_they_must_be() {
        let cells = ["setosa", "b, c", "say \"hi\"", " pad", "two\nlines", ""].map(csv_cell);
        assert_eq!(
            cells,
            [
                "setosa",
                "\"b, c\"",
                "\"say \"\"hi\"\"\"",
                "\" pad\"",
                "\"two\nlines\"",
                ""
            ]
        );
    }
}
