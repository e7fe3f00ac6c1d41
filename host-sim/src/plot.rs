//! SVG charts: training curves and the bench speedup chart.
//!
//! Only SVG is written: PNG needs a font rasteriser and system fonts, which
//! this program does not assume; asking for `.png` is refused with an error.

use std::path::Path;

use plotters::prelude::*;

use crate::bench::Report;

/// Loss and accuracy per epoch, on the training and held-out data.
#[derive(Clone, Debug, Default)]
pub struct Curves {
    /// Epoch numbers (1-based).
    pub epoch: Vec<u32>,
    /// Mean training loss (measured during the epoch).
    pub train_loss: Vec<f32>,
    /// Mean held-out loss after the epoch.
    pub test_loss: Vec<f32>,
    /// Training accuracy (classifiers only).
    pub train_acc: Vec<f32>,
    /// Held-out accuracy (classifiers only).
    pub test_acc: Vec<f32>,
}

fn check_svg(path: &Path) -> Result<(), String> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    {
        Some(e) if e == "svg" => Ok(()),
        Some(e) if e == "png" => Err(format!(
            "{}: PNG output is not supported (it needs system fonts); use a .svg file",
            path.display()
        )),
        _ => Err(format!(
            "{}: the plot file must end in .svg",
            path.display()
        )),
    }
}

/// Checks a plot path before a long run, so a typo fails at once.
pub fn validate_path(path: &Path) -> Result<(), String> {
    check_svg(path)
}

fn range(values: &[f32]) -> (f32, f32) {
    let lo = values.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    ((lo - pad).max(0.0), hi + pad)
}

/// Renders the curves as SVG text.
pub fn curves_svg(c: &Curves, title: &str) -> Result<String, String> {
    let mut svg = String::new();
    {
        let classifier = !c.train_acc.is_empty();
        let size = if classifier { (900, 380) } else { (520, 380) };
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = if classifier {
            root.split_evenly((1, 2))
        } else {
            vec![root.clone()]
        };
        let last = f64::from(c.epoch.last().copied().unwrap_or(1).max(2));
        let draw = |area: &DrawingArea<SVGBackend, _>,
                    what: &str,
                    train: &[f32],
                    test: &[f32]|
         -> Result<(), String> {
            let all: Vec<f32> = train.iter().chain(test).copied().collect();
            let (lo, hi) = range(&all);
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{title}: {what}"), ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(55)
                .build_cartesian_2d(1f64..last, f64::from(lo)..f64::from(hi))
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc(what)
                .draw()
                .map_err(|e| e.to_string())?;
            for (label, ys, color) in [("train", train, BLUE), ("held-out", test, RED)] {
                chart
                    .draw_series(LineSeries::new(
                        c.epoch
                            .iter()
                            .zip(ys)
                            .map(|(&e, &y)| (f64::from(e), f64::from(y))),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()
                .map_err(|e| e.to_string())
        };
        draw(&panels[0], "loss", &c.train_loss, &c.test_loss)?;
        if classifier {
            draw(&panels[1], "accuracy", &c.train_acc, &c.test_acc)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Renders the bench speedups per workload against the ideal line.
pub fn speedup_svg(r: &Report) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max_t = r.rows.iter().map(|x| x.threads).max().unwrap_or(1).max(2) as f64;
        let max_s = r.rows.iter().map(|x| x.speedup).fold(max_t, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "tinytrain-sim: training speedup vs 1 thread (same run)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0.5f64..max_t + 0.5, 0f64..max_s * 1.05)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("threads")
            .y_desc("speedup")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                [(1.0, 1.0), (max_t, max_t)],
                BLACK.mix(0.4),
            ))
            .map_err(|e| e.to_string())?
            .label("ideal")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
        for (k, w) in ["W1", "W2", "W3"].iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let pts: Vec<(f64, f64)> = r
                .rows
                .iter()
                .filter(|x| x.workload == *w)
                .map(|x| (x.threads as f64, x.speedup))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(*w)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Writes an SVG file (refusing other extensions) atomically.
pub fn write_svg(path: &Path, svg: &str) -> Result<(), String> {
    check_svg(path)?;
    crate::exchange::write_atomically(path, svg.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
