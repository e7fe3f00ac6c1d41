//! Charts: training curves and the bench speedup chart, as SVG or PNG.
//!
//! SVG text is left to the viewer's fonts. PNG is drawn with plotters' bitmap
//! backend without any plotters text (that would need a font rasteriser and
//! system fonts); every label is then drawn into the pixels with the
//! built-in 5×7 font in [`font`].

use std::path::Path;

use plotters::prelude::*;

use crate::bench::Report;

pub mod font;

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

/// The file formats charts are written in, chosen by the file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics (`.svg`).
    Svg,
    /// A bitmap (`.png`) with the built-in font.
    Png,
}

/// The chart format named by the extension of `path`.
pub fn format_of(path: &Path) -> Result<Format, String> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(format!(
            "{}: the plot file must end in .svg or .png",
            path.display()
        )),
    }
}

fn check_svg(path: &Path) -> Result<(), String> {
    match format_of(path)? {
        Format::Svg => Ok(()),
        Format::Png => Err(format!("{}: not an .svg file", path.display())),
    }
}

/// Checks a plot path before a long run, so a typo fails at once.
pub fn validate_path(path: &Path) -> Result<(), String> {
    format_of(path).map(|_| ())
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
            // No held-out line when no rows were held out.
            let series = [("train", train, BLUE), ("held-out", test, RED)];
            for (label, ys, color) in series.into_iter().filter(|(_, ys, _)| !ys.is_empty()) {
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

/// The workloads of the speedup chart, and the legend of each one's
/// independent-runs line (the machine's ceiling for it).
const WORKLOADS: [(&str, &str); 3] = [
    ("W1", "W1 separate runs"),
    ("W2", "W2 separate runs"),
    ("W3", "W3 separate runs"),
];

/// A workload's colour, lightened for its independent-runs line.
fn light((r, g, b): (u8, u8, u8)) -> RGBColor {
    let mix = |c: u8| ((u16::from(c) + 255) / 2) as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

/// Renders the bench speedups per workload against the ideal line, each
/// with the speedup of as many separate 1-thread runs at once (thin, light).
pub fn speedup_svg(r: &Report) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max_t = r.rows.iter().map(|x| x.threads).max().unwrap_or(1).max(2) as f64;
        let max_s = r
            .rows
            .iter()
            .map(|x| x.speedup.max(x.independent_speedup))
            .fold(max_t, f64::max);
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
        for (k, (w, alone)) in WORKLOADS.into_iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let rows = r.rows.iter().filter(|x| x.workload == w);
            let pts: Vec<(f64, f64)> = rows
                .clone()
                .map(|x| (x.threads as f64, x.speedup))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(w)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(|e| e.to_string())?;
            let ceiling = light(Palette99::pick(k).rgb());
            chart
                .draw_series(LineSeries::new(
                    rows.map(|x| (x.threads as f64, x.independent_speedup)),
                    ceiling.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?
                .label(alone)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ceiling));
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

/// Writes an SVG or PNG chart of the training curves, by the extension of
/// `path`, atomically.
pub fn write_curves(path: &Path, c: &Curves, title: &str) -> Result<(), String> {
    match format_of(path)? {
        Format::Svg => write_svg(path, &curves_svg(c, title)?),
        Format::Png => write_png(path, &curves_png(c, title)?),
    }
}

/// Writes an SVG or PNG chart of the bench speedups, by the extension of
/// `path`, atomically.
pub fn write_speedup(path: &Path, r: &Report) -> Result<(), String> {
    match format_of(path)? {
        Format::Svg => write_svg(path, &speedup_svg(r)?),
        Format::Png => write_png(path, &speedup_png(r)?),
    }
}

/// Writes a PNG file (refusing other extensions) atomically.
pub fn write_png(path: &Path, png: &[u8]) -> Result<(), String> {
    match format_of(path)? {
        Format::Png => crate::exchange::write_atomically(path, png)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        Format::Svg => Err(format!("{}: not a .png file", path.display())),
    }
}

// ---------------------------------------------------------------- PNG ----

/// Size in pixels of the PNG training curves: loss and accuracy side by side
/// for classifiers, loss alone otherwise.
pub fn curves_png_size(classifier: bool) -> (u32, u32) {
    if classifier {
        (1000, 440)
    } else {
        (560, 440)
    }
}

/// Size in pixels of the PNG bench speedup chart.
pub const SPEEDUP_PNG_SIZE: (u32, u32) = (760, 480);

/// Renders the curves as a PNG file's bytes.
pub fn curves_png(c: &Curves, title: &str) -> Result<Vec<u8>, String> {
    let size = curves_png_size(!c.train_acc.is_empty());
    let (rgb, _) = render(size, &curves_panels(c, title))?;
    encode_png(&rgb, size)
}

/// Renders the bench speedups as a PNG file's bytes.
pub fn speedup_png(r: &Report) -> Result<Vec<u8>, String> {
    let rows = r.rows.iter().map(|x| {
        (
            x.workload.as_str(),
            x.threads,
            x.speedup,
            x.independent_speedup,
        )
    });
    let (rgb, _) = render(SPEEDUP_PNG_SIZE, &[speedup_panel(rows)])?;
    encode_png(&rgb, SPEEDUP_PNG_SIZE)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Font scale of every PNG label: the 5×7 glyphs become 10×14 pixels.
const SCALE: i32 = 2;
const INK: [u8; 3] = [0, 0, 0];
const GRID: RGBColor = RGBColor(222, 222, 222);
/// Length of the tick marks outside the frame, and the gap around labels.
const TICK: i32 = 5;
const GAP: i32 = 6;

/// Where a panel's legend box goes inside its frame.
#[derive(Clone, Copy, Debug)]
enum Corner {
    UpperLeft,
    UpperRight,
    LowerRight,
}

/// One line of a panel (and its legend entry).
struct Series {
    label: &'static str,
    color: RGBColor,
    width: u32,
    points: Vec<(f64, f64)>,
    markers: bool,
}

/// One chart: a frame with a grid, tick labels, axis names, a title, series
/// and a legend.
struct Panel {
    title: String,
    x_name: &'static str,
    y_name: &'static str,
    x: (f64, f64),
    y: (f64, f64),
    /// Ticks on whole numbers only (epochs, threads).
    integer_x: bool,
    series: Vec<Series>,
    legend: Corner,
}

/// A text to draw with the built-in font once plotters is done.
#[derive(Clone, Debug)]
struct Label {
    text: String,
    x: i32,
    y: i32,
    scale: i32,
    /// `None`: rotated to read upwards, centred on `y`, tops at column `x`.
    align: Option<font::Align>,
}

fn curves_panels(c: &Curves, title: &str) -> Vec<Panel> {
    let last = f64::from(c.epoch.last().copied().unwrap_or(1).max(2));
    let panel = |what: &'static str, train: &[f32], test: &[f32], legend| {
        let all: Vec<f32> = train.iter().chain(test).copied().collect();
        let (lo, hi) = range(&all);
        let line = |label, ys: &[f32], color| Series {
            label,
            color,
            width: 2,
            points: c
                .epoch
                .iter()
                .zip(ys)
                .map(|(&e, &y)| (f64::from(e), f64::from(y)))
                .collect(),
            markers: false,
        };
        Panel {
            title: format!("{title}: {what}"),
            x_name: "epoch",
            y_name: what,
            x: (1.0, last),
            y: (f64::from(lo), f64::from(hi)),
            integer_x: true,
            // No held-out line when no rows were held out.
            series: [("train", train, BLUE), ("held-out", test, RED)]
                .into_iter()
                .filter(|(_, ys, _)| !ys.is_empty())
                .map(|(label, ys, color)| line(label, ys, color))
                .collect(),
            legend,
        }
    };
    let mut panels = vec![panel(
        "loss",
        &c.train_loss,
        &c.test_loss,
        Corner::UpperRight,
    )];
    if !c.train_acc.is_empty() {
        panels.push(panel(
            "accuracy",
            &c.train_acc,
            &c.test_acc,
            Corner::LowerRight,
        ));
    }
    panels
}

/// The speedup chart from (workload, threads, speedup, independent-runs
/// speedup) rows.
fn speedup_panel<'a>(rows: impl Iterator<Item = (&'a str, usize, f64, f64)> + Clone) -> Panel {
    let max_t = rows.clone().map(|x| x.1).max().unwrap_or(1).max(2) as f64;
    let max_s = rows.clone().map(|x| x.2.max(x.3)).fold(max_t, f64::max);
    let mut series = vec![Series {
        label: "ideal",
        color: RGBColor(140, 140, 140),
        width: 1,
        points: vec![(1.0, 1.0), (max_t, max_t)],
        markers: false,
    }];
    for (k, (w, alone)) in WORKLOADS.into_iter().enumerate() {
        let (r, g, b) = Palette99::pick(k).rgb();
        let mine = rows.clone().filter(|x| x.0 == w);
        series.push(Series {
            label: w,
            color: RGBColor(r, g, b),
            width: 2,
            points: mine.clone().map(|x| (x.1 as f64, x.2)).collect(),
            markers: true,
        });
        series.push(Series {
            label: alone,
            color: light((r, g, b)),
            width: 1,
            points: mine.map(|x| (x.1 as f64, x.3)).collect(),
            markers: false,
        });
    }
    Panel {
        title: "tinytrain-sim: training speedup vs 1 thread (same run)".into(),
        x_name: "threads",
        y_name: "speedup",
        x: (0.5, max_t + 0.5),
        y: (0.0, max_s * 1.05),
        integer_x: true,
        series,
        legend: Corner::UpperLeft,
    }
}

/// About `target` round tick values (1, 2 or 5 × 10^k apart) within
/// `lo..=hi`, and the decimals that print them.
fn ticks(lo: f64, hi: f64, target: f64, integer: bool) -> (Vec<f64>, usize) {
    let raw = (hi - lo).max(1e-12) / target;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let mut step = mag
        * if norm <= 1.0 {
            1.0
        } else if norm <= 2.0 {
            2.0
        } else if norm <= 5.0 {
            5.0
        } else {
            10.0
        };
    if integer {
        step = step.max(1.0).round();
    }
    let decimals = (-step.log10().floor()).clamp(0.0, 9.0) as usize;
    let mut values = Vec::new();
    let mut k = (lo / step).ceil();
    while k * step <= hi + step * 1e-9 && values.len() < 50 {
        // `+ 0.0` turns -0 into 0, so no tick reads "-0.0".
        values.push(k * step + 0.0);
        k += 1.0;
    }
    (values, decimals)
}

fn tick_text(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Draws `panels` side by side into an RGB8 buffer of `size`: shapes with
/// plotters, then the labels (returned too) with the built-in font.
fn render(size: (u32, u32), panels: &[Panel]) -> Result<(Vec<u8>, Vec<Label>), String> {
    let (w, h) = size;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    let mut labels = Vec::new();
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (p, area) in panels.iter().zip(&areas) {
            draw_panel(&root, area, p, &mut labels)?;
        }
        root.present().map_err(err)?;
    }
    let mut canvas = font::Canvas::new(&mut rgb, w, h);
    for l in &labels {
        match l.align {
            Some(a) => canvas.text(&l.text, l.x, l.y, l.scale, a, INK),
            None => canvas.text_up(&l.text, l.x, l.y, l.scale, INK),
        }
    }
    Ok((rgb, labels))
}

fn draw_panel(root: &Area, area: &Area, p: &Panel, labels: &mut Vec<Label>) -> Result<(), String> {
    let th = font::cap_height(SCALE);
    // Room below the baseline for the tails of g, j, p, q and y.
    let tail = font::cap_height(SCALE) * 2 / 7;
    let mut label = |text: &str, x, y, scale, align| {
        labels.push(Label {
            text: text.to_string(),
            x,
            y,
            scale,
            align,
        })
    };
    let (x_ticks, x_decimals) = ticks(p.x.0, p.x.1, 8.0, p.integer_x);
    let (y_ticks, y_decimals) = ticks(p.y.0, p.y.1, 6.0, false);
    let y_texts: Vec<String> = y_ticks.iter().map(|&v| tick_text(v, y_decimals)).collect();
    let y_text_w = y_texts
        .iter()
        .map(|t| font::text_width(t, SCALE))
        .max()
        .unwrap_or(0);

    // Margins around the frame: title above; tick labels and axis names
    // below and to the left.
    let top = 2 * GAP + th + 2 * GAP;
    let bottom = TICK + GAP + th + GAP + th + 2 * GAP;
    let left = 2 * GAP + th + tail + GAP + y_text_w + GAP + TICK;
    let right = 3 * GAP;
    let (ax, ay) = area.get_base_pixel();
    let (aw, _) = area.dim_in_pixel();
    let aw = aw as i32;
    let title_scale = if font::text_width(&p.title, SCALE) <= aw - 2 * GAP {
        SCALE
    } else {
        1
    };

    let plot = area.margin(top, bottom, left, right);
    let mut chart = ChartBuilder::on(&plot)
        .build_cartesian_2d(p.x.0..p.x.1, p.y.0..p.y.1)
        .map_err(err)?;
    let (x0, y0) = plot.get_base_pixel();
    let (pw, ph) = plot.dim_in_pixel();
    let (x1, y1) = (x0 + pw as i32 - 1, y0 + ph as i32 - 1);

    // The title, centred over the frame as far as the panel allows.
    let half = font::text_width(&p.title, title_scale) / 2;
    let (lo, hi) = (ax + GAP + half, ax + aw - GAP - half);
    let title_x = if lo <= hi {
        ((x0 + x1) / 2).clamp(lo, hi)
    } else {
        ax + aw / 2
    };
    let title_y = ay + 2 * GAP + (th - font::cap_height(title_scale)) / 2;
    label(
        &p.title,
        title_x,
        title_y,
        title_scale,
        Some(font::Align::Centre),
    );

    // Grid, tick marks and tick labels.
    chart
        .draw_series(
            x_ticks
                .iter()
                .map(|&x| PathElement::new(vec![(x, p.y.0), (x, p.y.1)], GRID)),
        )
        .map_err(err)?;
    chart
        .draw_series(
            y_ticks
                .iter()
                .map(|&y| PathElement::new(vec![(p.x.0, y), (p.x.1, y)], GRID)),
        )
        .map_err(err)?;
    for &x in &x_ticks {
        let px = chart.backend_coord(&(x, p.y.0)).0;
        root.draw(&PathElement::new(vec![(px, y1), (px, y1 + TICK)], BLACK))
            .map_err(err)?;
        let text = tick_text(x, x_decimals);
        label(&text, px, y1 + TICK + GAP, SCALE, Some(font::Align::Centre));
    }
    for (&y, text) in y_ticks.iter().zip(&y_texts) {
        let py = chart.backend_coord(&(p.x.0, y)).1;
        root.draw(&PathElement::new(vec![(x0 - TICK, py), (x0, py)], BLACK))
            .map_err(err)?;
        let right_end = x0 - TICK - GAP;
        label(
            text,
            right_end,
            py - th / 2,
            SCALE,
            Some(font::Align::Right),
        );
    }
    label(
        p.x_name,
        (x0 + x1) / 2,
        y1 + TICK + GAP + th + GAP,
        SCALE,
        Some(font::Align::Centre),
    );
    label(p.y_name, ax + 2 * GAP, (y0 + y1) / 2, SCALE, None);

    // The series, then the frame over their ends.
    for s in &p.series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(
                pts.iter().copied(),
                s.color.stroke_width(s.width),
            ))
            .map_err(err)?;
        if s.markers {
            chart
                .draw_series(pts.iter().map(|&q| Circle::new(q, 4, s.color.filled())))
                .map_err(err)?;
        }
    }
    root.draw(&Rectangle::new([(x0, y0), (x1, y1)], BLACK))
        .map_err(err)?;

    // Legend: a white box with a sample of each line and its name.
    let text_w = p
        .series
        .iter()
        .map(|s| font::text_width(s.label, SCALE))
        .max()
        .unwrap_or(0);
    let row = th + GAP + 2;
    let (bw, bh) = (
        GAP + 24 + GAP + text_w + GAP,
        p.series.len() as i32 * row + GAP,
    );
    let (bx, by) = match p.legend {
        Corner::UpperLeft => (x0 + 2 * GAP, y0 + 2 * GAP),
        Corner::UpperRight => (x1 - 2 * GAP - bw, y0 + 2 * GAP),
        Corner::LowerRight => (x1 - 2 * GAP - bw, y1 - 2 * GAP - bh),
    };
    root.draw(&Rectangle::new(
        [(bx, by), (bx + bw, by + bh)],
        WHITE.filled(),
    ))
    .map_err(err)?;
    root.draw(&Rectangle::new([(bx, by), (bx + bw, by + bh)], BLACK))
        .map_err(err)?;
    for (k, s) in p.series.iter().enumerate() {
        let cy = by + GAP / 2 + k as i32 * row + row / 2;
        let (lx0, lx1) = (bx + GAP, bx + GAP + 24);
        root.draw(&PathElement::new(
            vec![(lx0, cy), (lx1, cy)],
            s.color.stroke_width(s.width),
        ))
        .map_err(err)?;
        if s.markers {
            root.draw(&Circle::new(((lx0 + lx1) / 2, cy), 4, s.color.filled()))
                .map_err(err)?;
        }
        label(
            s.label,
            lx1 + GAP,
            cy - th / 2,
            SCALE,
            Some(font::Align::Left),
        );
    }
    Ok(())
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG into (width, height, RGB8 pixels).
    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut rgb).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        rgb.truncate(info.buffer_size());
        (info.width, info.height, rgb)
    }

    fn count(rgb: &[u8], c: RGBColor) -> usize {
        rgb.chunks(3).filter(|p| *p == [c.0, c.1, c.2]).count()
    }

    fn curves(epochs: u32, scale: f32, classifier: bool) -> Curves {
        let e = |k: u32, off: f32| scale * (off + 1.0 / k as f32);
        let mut c = Curves::default();
        for k in 1..=epochs {
            c.epoch.push(k);
            c.train_loss.push(e(k, 0.0));
            c.test_loss.push(e(k, 0.1));
            if classifier {
                c.train_acc.push(1.0 - 0.5 / k as f32);
                c.test_acc.push(0.9 - 0.5 / k as f32);
            }
        }
        c
    }

    #[test]
    fn png_curves_decode_to_their_size_and_show_both_curves_and_labels() {
        for classifier in [true, false] {
            let png = curves_png(&curves(20, 2.0, classifier), "digits on digits").unwrap();
            let (w, h, rgb) = decode(&png);
            assert_eq!((w, h), curves_png_size(classifier));
            assert!(count(&rgb, BLUE) > 200, "train curve");
            assert!(count(&rgb, RED) > 200, "held-out curve");
            assert!(count(&rgb, BLACK) > 2000, "frame and labels");
            assert!(count(&rgb, WHITE) > rgb.len() / 3 / 2, "mostly background");
        }
    }

    #[test]
    fn png_speedup_chart_decodes_with_its_series() {
        let rows = [
            ("W1", 1, 1.0, 1.0),
            ("W1", 2, 1.8, 1.9),
            ("W2", 1, 1.0, 1.0),
            ("W2", 2, 1.5, 1.6),
        ];
        let (rgb, labels) = render(SPEEDUP_PNG_SIZE, &[speedup_panel(rows.into_iter())]).unwrap();
        let png = encode_png(&rgb, SPEEDUP_PNG_SIZE).unwrap();
        let (w, h, decoded) = decode(&png);
        assert_eq!((w, h), SPEEDUP_PNG_SIZE);
        assert_eq!(decoded, rgb);
        let (r, g, b) = Palette99::pick(0).rgb();
        assert!(count(&rgb, RGBColor(r, g, b)) > 100, "W1 line");
        let n = count(&rgb, light((r, g, b)));
        assert!(n > 30, "W1 separate-runs line: {n} pixels");
        for want in ["threads", "speedup", "ideal", "W3", "W2 separate runs", "2"] {
            assert!(labels.iter().any(|l| l.text == want), "{want}");
        }
    }

    /// Every text the PNG charts print, for every network, built-in data
    /// set and a CSV file name, over losses of several magnitudes, has a
    /// glyph in the font and lies inside the image.
    #[test]
    fn png_labels_are_all_in_the_font_and_inside_the_image() {
        let splits = ["xor", "sine", "spiral", "moons", "digits", "mnist-shape"];
        let splits = splits.iter().copied().chain(["data/My_Table (v2).csv"]);
        let mut checked = 0;
        let mut check = |size: (u32, u32), panels: &[Panel]| {
            let (_, labels) = render(size, panels).unwrap();
            for l in &labels {
                assert!(!l.text.is_empty());
                assert_eq!(font::missing(&l.text), Vec::<char>::new(), "{l:?}");
                let len = font::text_width(&l.text, l.scale);
                let (x0, y0, x1, y1) = match l.align {
                    Some(font::Align::Left) => (l.x, l.y, l.x + len, l.y + 9 * l.scale),
                    Some(font::Align::Centre) => {
                        (l.x - len / 2, l.y, l.x + len / 2, l.y + 9 * l.scale)
                    }
                    Some(font::Align::Right) => (l.x - len, l.y, l.x, l.y + 9 * l.scale),
                    None => (l.x, l.y - len / 2, l.x + 9 * l.scale, l.y + len / 2),
                };
                assert!(
                    x0 >= 0 && y0 >= 0 && x1 <= size.0 as i32 && y1 <= size.1 as i32,
                    "{l:?} outside {size:?}"
                );
                checked += 1;
            }
        };
        // Every title, on the narrower (two-panel) layout.
        let c = curves(3, 1.0, true);
        for split in splits {
            for net in crate::nets::NETS {
                let title = format!("{} on {split}", net.name);
                check(curves_png_size(true), &curves_panels(&c, &title));
            }
        }
        // Tick labels over epochs and losses of several magnitudes.
        for (epochs, scale) in [(1, 1.0), (7, 1e-4), (300, 1234.5)] {
            for classifier in [true, false] {
                let c = curves(epochs, scale, classifier);
                check(curves_png_size(classifier), &curves_panels(&c, "t"));
            }
        }
        let rows = (1..=16)
            .flat_map(|t| ["W1", "W2", "W3"].map(|w| (w, t, t as f64 * 0.9, t as f64 * 0.95)));
        check(SPEEDUP_PNG_SIZE, &[speedup_panel(rows)]);
        check(SPEEDUP_PNG_SIZE, &[speedup_panel(std::iter::empty())]);
        assert!(checked > 500, "{checked}");
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let texts = |lo, hi, target, integer| {
            let (t, d) = ticks(lo, hi, target, integer);
            t.iter().map(|&v| tick_text(v, d)).collect::<Vec<_>>()
        };
        assert_eq!(
            texts(0.0, 1.0, 5.0, false),
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        // No "-0.0" when the range starts just below zero.
        assert_eq!(texts(-0.01, 0.5, 5.0, false)[0], "0.0");
        assert_eq!(
            texts(1.0, 30.0, 8.0, true),
            ["5", "10", "15", "20", "25", "30"]
        );
        assert_eq!(texts(1.0, 2.0, 8.0, true), ["1", "2"]);
        assert_eq!(
            texts(0.0, 0.00021, 6.0, false),
            ["0.00000", "0.00005", "0.00010", "0.00015", "0.00020"]
        );
        assert_eq!(texts(0.0, 1500.0, 6.0, false)[1..3], ["500", "1000"]);
    }

    #[test]
    fn plot_files_are_chosen_by_extension_and_written_atomically() {
        for ok in ["a.svg", "b.PNG", "dir/c.Svg"] {
            assert!(validate_path(Path::new(ok)).is_ok(), "{ok}");
        }
        for bad in ["a.gif", "b.jpg", "c", "d.svg.txt"] {
            let e = validate_path(Path::new(bad)).unwrap_err();
            assert!(e.contains("must end in .svg or .png"), "{e}");
        }
        let dir = std::env::temp_dir().join(format!("tinytrain-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = curves(5, 1.0, true);
        let png = dir.join("c.png");
        write_curves(&png, &c, "t").unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
        let svg = dir.join("c.svg");
        write_curves(&svg, &c, "t").unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
        assert!(!dir.join("c.png.tmp").exists() && !dir.join("c.svg.tmp").exists());
        assert!(write_png(&svg, b"x").unwrap_err().contains("not a .png"));
        assert!(write_svg(&png, "x").unwrap_err().contains("not an .svg"));
        assert!(write_curves(&dir.join("c.gif"), &c, "t").is_err());
        assert!(!dir.join("c.gif").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
