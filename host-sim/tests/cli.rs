//! The `tinytrain-sim` binary end to end: training, saving and loading,
//! bad input, PyTorch exchange, Rust export and the bench JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tinytrain::{Model, Network};
use tinytrain_sim::nets::{Digits, LossKind};

const BIN: &str = env!("CARGO_BIN_EXE_tinytrain-sim");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a command that must fail; returns its stderr, checked to be one
/// `error:` line (after any `warning:` lines) and no panic.
fn fails(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} should fail with 1; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // One error line, after any warnings.
    let lines: Vec<&str> = stderr
        .trim_end()
        .lines()
        .filter(|l| !l.starts_with("warning: "))
        .collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    stderr
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tinytrain-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// "final: train loss L acc A% | held-out loss L acc A%" → held-out (loss,
/// acc%); a regression's "loss L (rms error E)" has accuracy 0.
fn held_out(stdout: &str) -> (f32, f32) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("final:"))
        .expect("a final line");
    let held = line.split("held-out").nth(1).unwrap();
    let words: Vec<&str> = held.split_whitespace().collect();
    let loss = words[1].parse().unwrap();
    let acc = match words.get(2) {
        Some(&"acc") => words[3].trim_end_matches('%').parse().unwrap(),
        _ => 0.0,
    };
    (loss, acc)
}

/// The held-out rms error of a regression's line "… held-out[:] … (rms error E)".
fn rms_error(line: &str) -> f32 {
    let held = line.split("held-out").nth(1).unwrap();
    let e = held.split("rms error ").nth(1).unwrap();
    e.split(')').next().unwrap().parse().unwrap()
}

#[test]
fn xor_trains_to_convergence() {
    let out = ok(&[
        "train",
        "--data",
        "xor",
        "--epochs",
        "3000",
        "--threads",
        "2",
    ]);
    let (loss, acc) = held_out(&out);
    assert!(loss < 0.01, "{out}");
    assert_eq!(acc, 100.0, "{out}");
}

#[test]
fn train_plots_png_curves_without_system_fonts() {
    let dir = temp_dir("png");
    let path = dir.join("curves.png");
    let out = ok(&[
        "train",
        "--data",
        "xor",
        "--epochs",
        "30",
        "--threads",
        "1",
        "--plot",
        s(&path),
    ]);
    assert!(out.contains("plotted"), "{out}");
    assert!(!dir.join("curves.png.tmp").exists());
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
    // IHDR is the first chunk: width and height, big-endian, at 16..24.
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    let size = tinytrain_sim::plot::curves_png_size(true);
    assert_eq!((be(16), be(20)), size);

    let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes[..]))
        .read_info()
        .unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!((info.width, info.height), size);
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels = |c: [u8; 3]| {
        rgb[..info.buffer_size()]
            .chunks(3)
            .filter(|p| *p == c)
            .count()
    };
    assert!(pixels([0, 0, 255]) > 100, "the blue training curve");
    assert!(pixels([255, 0, 0]) > 100, "the red held-out curve");
    assert!(pixels([0, 0, 0]) > 1000, "frame and labels");

    // Other extensions are refused before training.
    let e = fails(&["train", "--data", "xor", "--plot", s(&dir.join("c.jpg"))]);
    assert!(e.contains("must end in .svg or .png"), "{e}");
    assert!(!dir.join("c.jpg").exists());
}

#[test]
fn profile_prints_the_time_of_each_part_of_a_step_per_thread() {
    let out = ok(&["train", "--epochs", "2", "--threads", "2", "--profile"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("profile: "))
        .unwrap_or_else(|| panic!("no profile line:\n{out}"));
    // Two epochs of 44 batches of 32.
    assert!(line.starts_with("profile: 88 steps, "), "{line}");
    let threads: Vec<&str> = out.lines().filter(|l| l.starts_with("  thread ")).collect();
    assert_eq!(threads.len(), 2, "{out}");
    // Each figure is a number of microseconds; some thread ran forward passes.
    let figure = |l: &str, what: &str| -> f64 {
        let at = l.find(what).unwrap_or_else(|| panic!("{what} in {l}")) + what.len();
        l[at..].split(' ').next().unwrap().parse().unwrap()
    };
    let samples: f64 = threads.iter().map(|l| figure(l, "samples ")).sum();
    assert!(samples > 0.0, "{out}");
    for l in &threads {
        for what in ["rows ", "waiting for samples ", "refresh ", "early copies "] {
            assert!(figure(l, what) >= 0.0);
        }
    }
    // Without the flag there is no profile.
    let plain = ok(&["train", "--epochs", "1", "--threads", "2"]);
    assert!(!plain.contains("profile:"), "{plain}");
}

#[test]
fn digits_reaches_94_percent_and_round_trips_through_save_and_load() {
    let dir = temp_dir("digits");
    let model = dir.join("digits.bin");
    let out = ok(&[
        "train",
        "--epochs",
        "8",
        "--momentum",
        "0.9",
        "--threads",
        "3",
        "--save",
        s(&model),
        "--plot",
        s(&dir.join("curves.svg")),
    ]);
    let (_, acc) = held_out(&out);
    assert!(acc >= 94.0, "held-out accuracy {acc}%:\n{out}");
    assert!(std::fs::read_to_string(dir.join("curves.svg"))
        .unwrap()
        .contains("<svg"));
    assert!(!dir.join("digits.bin.tmp").exists());

    // eval finds the network from the blob and reports the same accuracy.
    let eval = ok(&["eval", "--load", s(&model)]);
    let line = eval
        .lines()
        .find(|l| l.trim_start().starts_with("held-out:"))
        .unwrap();
    assert!(line.contains(&format!("{acc:5.1}%")), "{line} vs {acc}");
    assert!(eval.contains("confusion matrix"));

    // No epochs: the final figures are the loaded model's own, as eval's.
    let none = ok(&["train", "--load", s(&model), "--epochs", "0"]);
    let (loss, same) = held_out(&none);
    assert_eq!(same, acc, "{none}");
    assert!(loss > 0.0, "{none}");
    assert!(none.contains("0 epochs: nothing trained"), "{none}");

    // Continue training from it.
    let more = ok(&[
        "train",
        "--load",
        s(&model),
        "--epochs",
        "1",
        "--threads",
        "1",
    ]);
    assert!(more.contains("continuing from the loaded model"), "{more}");

    // A blob for another network is a clear error.
    let e = fails(&["eval", "--load", s(&model), "--net", "digits-small"]);
    assert!(
        e.contains("does not match") || e.contains("different network"),
        "{e}"
    );
    let e = fails(&["train", "--load", s(&model), "--net", "mnist"]);
    assert!(e.contains("does not match"), "{e}");

    // A failed run leaves the saved model alone.
    let before = std::fs::read(&model).unwrap();
    fails(&["train", "--lr", "100", "--save", s(&model)]);
    let e = fails(&[
        "train",
        "--plot",
        s(&dir.join("c.gif")),
        "--save",
        s(&model),
    ]);
    assert!(e.contains("must end in .svg or .png"), "{e}");
    assert_eq!(std::fs::read(&model).unwrap(), before);

    // A corrupted blob is refused.
    let mut bad = before.clone();
    bad[20] ^= 1;
    std::fs::write(dir.join("bad.bin"), bad).unwrap();
    let e = fails(&["eval", "--load", s(&dir.join("bad.bin"))]);
    assert!(e.contains("CRC"), "{e}");

    // A file that is no model at all says why, on each command that reads
    // one (not that the network is unknown).
    let st = dir.join("digits.safetensors");
    ok(&["export", "--load", s(&model), "--safetensors", s(&st)]);
    let st_bytes = std::fs::read(&st).unwrap();
    let unknown = safetensors::serialize(
        [(
            "0.weight",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0; 4])
                .unwrap(),
        )],
        &Some(
            [(
                tinytrain_sim::exchange::NET_KEY.to_string(),
                "resnet50".to_string(),
            )]
            .into(),
        ),
    )
    .unwrap();
    for (name, bytes, why) in [
        (
            "short.bin",
            &before[..10],
            "weight blob truncated: needs 20 bytes, has 10",
        ),
        (
            "junk.bin",
            &[7u8; 64][..],
            "not a tinytrain weight blob (bad magic)",
        ),
        (
            "short.safetensors",
            &st_bytes[..100],
            "not a safetensors file",
        ),
        (
            "other.safetensors",
            &unknown[..],
            "saved from network resnet50, which this build does not have",
        ),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        for cmd in [
            &["eval", "--load", s(&p)][..],
            &["train", "--epochs", "1", "--load", s(&p)],
            &["export", "--load", s(&p), "--blob", s(&dir.join("x.bin"))],
        ] {
            let e = fails(cmd);
            assert!(
                e.contains(&format!("{}: {why}", p.display())),
                "{cmd:?}: {e}"
            );
        }
    }

    // A model is read as what its bytes are, whatever its name says: the
    // safetensors export under a .bin name, the blob under a .safetensors one.
    let model_bytes = std::fs::read(&model).unwrap();
    for (name, bytes) in [
        ("digits-st.bin", &st_bytes),
        ("digits-blob.safetensors", &model_bytes),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = ok(&["eval", "--load", s(&p)]);
        assert_eq!(out.replace(name, "digits.bin"), eval, "{name}");
    }
}

#[test]
fn csv_training_and_errors() {
    let dir = temp_dir("csv");
    // y = 2a - b + 0.5, regression; and a classification copy.
    let mut text = String::from("a,b,y,cls\n");
    for k in 0..200 {
        let a = (k % 17) as f32 / 17.0;
        let b = (k % 7) as f32 / 7.0;
        text += &format!("{a},{b},{},{}\n", 2.0 * a - b + 0.5, u8::from(a > b));
    }
    let good = dir.join("good.csv");
    std::fs::write(&good, &text).unwrap();
    let out = ok(&[
        "train",
        "--csv",
        s(&good),
        "--target",
        "y",
        "--epochs",
        "60",
        "--threads",
        "2",
    ]);
    assert!(out.contains("csv8-reg"), "{out}");
    let (loss, _) = held_out(&out);
    assert!(loss < 0.05, "{out}");
    let out = ok(&[
        "train",
        "--csv",
        s(&good),
        "--target",
        "cls",
        "--epochs",
        "40",
    ]);
    assert!(out.contains("csv8-cls"), "{out}");

    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let bad = write("bad.csv", "a,b,y\n1,2,3\n4,abc,6\n");
    let e = fails(&["train", "--csv", s(&bad), "--target", "y"]);
    assert!(
        e.contains("line 3, column 2: \"abc\" is not a number"),
        "{e}"
    );
    let nan = write("nan.csv", "a,b,y\n1,2,3\n4,5,NaN\n");
    let e = fails(&["train", "--csv", s(&nan), "--target", "y"]);
    assert!(
        e.contains("line 3, column 3") && e.contains("not a finite number"),
        "{e}"
    );
    let short = write("short.csv", "a,b,y\n1,2,3\n4,5\n");
    let e = fails(&["train", "--csv", s(&short), "--target", "y"]);
    assert!(e.contains("line 3: expected 3 columns, found 2"), "{e}");
    let e = fails(&["train", "--csv", s(&good), "--target", "nope"]);
    assert!(e.contains("no column named \"nope\""), "{e}");
    let e = fails(&[
        "train",
        "--csv",
        s(&dir.join("missing.csv")),
        "--target",
        "y",
    ]);
    assert!(
        e.contains("cannot read") && e.contains("missing.csv"),
        "{e}"
    );
    let e = fails(&["eval", "--load", s(&dir.join("missing.bin"))]);
    assert!(e.contains("cannot read"), "{e}");
    let e = fails(&[
        "train",
        "--csv",
        s(&good),
        "--target",
        "y",
        "--test-fraction",
        "1",
    ]);
    assert!(
        e.contains("--test-fraction must be at least 0 and below 1, got 1"),
        "{e}"
    );
    // The last rows, for data in time order: the same count as drawn at random.
    for order in [&[][..], &["--holdout-last"][..]] {
        let args = ["train", "--csv", s(&good), "--target", "y", "--epochs", "1"];
        let out = ok(&[&args[..], order].concat());
        assert!(out.contains("160 training / 40 held-out"), "{out}");
    }
    let twice = write("twice.csv", "y,b,y\n1,2,3\n");
    let e = fails(&["train", "--csv", s(&twice), "--target", "y"]);
    assert!(e.contains("columns 1 and 3 are both named \"y\""), "{e}");
    // Two input columns of one name: the model's record of its inputs
    // would name one column twice (and could not be read back).
    let twice = write("inputs_twice.csv", "a,a,y\n1,2,0\n3,4,1\n");
    let e = fails(&["train", "--csv", s(&twice), "--target", "y"]);
    assert!(e.contains("columns 1 and 2 are both named \"a\""), "{e}");
    // A spreadsheet's legacy code page: "café" in Latin-1 on line 3.
    let latin1 = dir.join("latin1.csv");
    std::fs::write(&latin1, b"a,y\n1,tea\n2,caf\xe9\n").unwrap();
    let e = fails(&["train", "--csv", s(&latin1), "--target", "y"]);
    assert!(e.contains("latin1.csv: line 3 is not UTF-8 text"), "{e}");

    // A file with fewer training rows than the default batch (32) trains
    // on batches of all of them; a --batch that is larger is an error.
    let small = write(
        "small.csv",
        "a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n0.5,0.5,1\n",
    );
    let args = [
        "train",
        "--csv",
        s(&small),
        "--target",
        "y",
        "--epochs",
        "2",
    ];
    let (out, err) = ok_with_stderr(&[&args[..], &["--test-fraction", "0"]].concat());
    assert!(out.contains("5 training / 0 held-out"), "{out}");
    assert!(out.contains("batch 5,"), "{out}");
    assert!(
        err.contains("note: batch 5, all the training rows (the default, 32, is more)"),
        "{err}"
    );
    // Whole numbers with more distinct values than a classifier has
    // outputs are read as a regression, and a note says why.
    let mut twelve = String::from("a,y\n");
    for k in 0..48 {
        twelve += &format!("{},{}\n", k as f32 / 48.0, k % 12);
    }
    let twelve = write("twelve.csv", &twelve);
    let (out, err) = ok_with_stderr(&[
        "train",
        "--csv",
        s(&twelve),
        "--target",
        "y",
        "--epochs",
        "1",
    ]);
    assert!(out.contains("csv8-reg"), "{out}");
    assert!(
        err.contains("note: y holds 12 distinct whole numbers, more than the 10 classes a classifier has: read as a regression"),
        "{err}"
    );
    let e = fails(&[&args[..], &["--test-fraction", "0", "--batch", "6"]].concat());
    assert!(
        e.contains("--batch must be between 1 and the 5 training samples, got 6"),
        "{e}"
    );

    // A run that fails keeps the weights from before the failing step beside the
    // --save file, which it leaves alone: inputs near 1e18 overflow the loss.
    let mut huge = String::from("a,b,y\n");
    for k in 1..=40 {
        huge += &format!("{}e18,{},{}\n", k, k % 3, k % 5);
    }
    let huge = write("huge.csv", &huge);
    let kept = dir.join("kept.bin");
    std::fs::write(&kept, "the previous model").unwrap();
    let e = fails(&[
        "train",
        "--csv",
        s(&huge),
        "--target",
        "y",
        "--task",
        "regression",
        "--save",
        s(&kept),
    ]);
    let partial = dir.join("kept.partial.bin");
    assert!(
        e.contains("training failed at epoch 1: non-finite")
            && e.contains(&format!("saved to {}", partial.display())),
        "{e}"
    );
    assert_eq!(std::fs::read(&kept).unwrap(), b"the previous model");
    // A model of the network the run trained (csv8-reg), finite.
    let out = ok(&[
        "eval",
        "--load",
        s(&partial),
        "--csv",
        s(&good),
        "--target",
        "y",
    ]);
    assert!(out.contains("csv8-reg"), "{out}");

    // Nothing held out: no held-out figures, curve or confusion matrix.
    let (model, plot) = (dir.join("all.bin"), dir.join("all.svg"));
    let all = ["--csv", s(&good), "--target", "cls", "--test-fraction", "0"];
    let out = ok(&[
        &[
            "train",
            "--epochs",
            "2",
            "--save",
            s(&model),
            "--plot",
            s(&plot),
        ],
        &all[..],
    ]
    .concat());
    assert!(out.contains("held-out none (no rows held out)"), "{out}");
    assert!(!std::fs::read_to_string(&plot).unwrap().contains("held-out"));
    let out = ok(&[&["eval", "--load", s(&model)], &all[..]].concat());
    assert!(
        out.contains("held-out: 0 samples (no rows held out)"),
        "{out}"
    );
    // The confusion matrix is then of all rows.
    assert!(out.contains("confusion matrix of all rows"), "{out}");
}

/// The output (stdout, stderr) of a command that must succeed.
fn ok_with_stderr(args: &[&str]) -> (String, String) {
    let out = run(args);
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{args:?} failed:\n{o}\n{e}");
    (o, e)
}

#[test]
fn text_class_labels_are_recorded_by_safetensors_and_exported() {
    let dir = temp_dir("labels");
    // Three flowers told apart by their second measure; 1 in 5 rows held out.
    let species = ["virginica", "setosa", "versicolor"];
    let mut text = String::from("length,width,species,split\n");
    for k in 0..150 {
        let c = k % 3;
        let jitter = (k * 7 % 11) as f32 / 11.0;
        text += &format!(
            "{jitter},{},{},{}\n",
            c as f32 + jitter * 0.5,
            species[c],
            u8::from(k % 5 == 0)
        );
    }
    let all = dir.join("flowers.csv");
    std::fs::write(&all, &text).unwrap();
    // Only two of the three species, in a file of their own.
    let mut two = String::from("length,width,species\n");
    for line in text
        .lines()
        .skip(1)
        .filter(|l| !l.contains("setosa"))
        .take(20)
    {
        two += &line[..line.rfind(',').unwrap()];
        two += "\n";
    }
    let two_file = dir.join("two.csv");
    std::fs::write(&two_file, &two).unwrap();
    let csv = |file: &Path| ["--csv", s(file), "--target", "species"].map(String::from);

    let st = dir.join("m.safetensors");
    let bin = dir.join("m.bin");
    let train = |save: &Path| {
        let mut args = vec!["train", "--epochs", "60", "--lr", "0.05", "--save", s(save)];
        let c = csv(&all);
        args.extend(c.iter().map(String::as_str));
        ok_with_stderr(&args)
    };
    let (out, _) = train(&st);
    assert!(
        out.contains("classes by output: 0 setosa, 1 versicolor, 2 virginica"),
        "{out}"
    );
    let (_, acc) = held_out(&out);
    assert!(acc >= 90.0, "{out}");
    let (_, note) = train(&bin);
    assert!(
        note.contains("a weight blob records no class labels"),
        "{note}"
    );

    // The safetensors model numbers the two-species file as it was trained.
    let c = csv(&two_file);
    let eval = |model: &Path| {
        let mut args = vec!["eval", "--load", s(model), "--test-fraction", "0"];
        args.extend(c.iter().map(String::as_str));
        ok_with_stderr(&args)
    };
    let (out, warn) = eval(&st);
    assert!(
        out.contains("train: 20 samples") && out.contains("acc 100.0%"),
        "{out}"
    );
    assert!(out.contains("confusion matrix of all rows"), "{out}");
    assert!(
        !out.contains("setosa"),
        "no row or column for a class not there: {out}"
    );
    assert!(warn.is_empty(), "{warn}");
    // The blob cannot know: the file's own numbering, with a warning.
    let (_, warn) = eval(&bin);
    assert!(
        warn.contains("records no class labels, so those of")
            && warn.contains("(by output: 0 versicolor, 1 virginica)"),
        "{warn}"
    );
    // Nor which column is which: they are read by position.
    assert!(
        warn.contains("records no input columns, so")
            && warn.contains("input columns (length, width) are read by position, unchecked"),
        "{warn}"
    );
    // A label the model never saw is an error naming it.
    let rose = dir.join("rose.csv");
    std::fs::write(&rose, "length,width,species\n0.5,1,rose\n").unwrap();
    let e = fails(&[
        "eval",
        "--load",
        s(&st),
        "--csv",
        s(&rose),
        "--target",
        "species",
    ]);
    assert!(
        e.contains("line 2, column 3: \"rose\" is not one of the model's classes (setosa, versicolor, virginica)"),
        "{e}"
    );

    // Export: the labels go with the model into Rust source and safetensors.
    let rs = dir.join("m.rs");
    let copy = dir.join("copy.safetensors");
    ok(&[
        "export",
        "--load",
        s(&st),
        "--rust",
        s(&rs),
        "--name",
        "FLOWERS",
        "--safetensors",
        s(&copy),
    ]);
    let src = std::fs::read_to_string(&rs).unwrap();
    assert!(
        src.contains(
            "pub static FLOWERS_CLASSES: [&str; 3] = [\"setosa\", \"versicolor\", \"virginica\"];"
        ),
        "{src}"
    );
    let (out, warn) = eval(&copy);
    assert!(out.contains("acc 100.0%") && warn.is_empty(), "{out}{warn}");

    // Predictions: the known answer beside the predicted class and the
    // probabilities, under the recorded labels.
    let answered = ok(&[
        "predict",
        "--load",
        s(&st),
        "--csv",
        s(&two_file),
        "--target",
        "species",
    ]);
    let mut lines = answered.lines();
    assert_eq!(
        lines.next(),
        Some("species,prediction,p_setosa,p_versicolor,p_virginica")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 20);
    for r in &rows {
        assert_eq!(r[0], r[1], "eval measured 100 %: {answered}");
        let p: Vec<f32> = r[2..].iter().map(|v| v.parse().unwrap()).collect();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{r:?}");
        let best = ["setosa", "versicolor", "virginica"][tinytrain::argmax(&p)];
        assert_eq!(r[1], best, "{r:?}");
    }
    // Without the answers, into a file; the blob knows output indices only.
    let inputs = dir.join("inputs.csv");
    std::fs::write(&inputs, "length,width\n0.5,1.2\n0.1,0.1\n").unwrap();
    let predicted = dir.join("p.csv");
    let (out, note) = ok_with_stderr(&[
        "predict",
        "--load",
        s(&bin),
        "--csv",
        s(&inputs),
        "--out",
        s(&predicted),
    ]);
    assert!(
        out.is_empty() && note.contains("wrote 2 predictions"),
        "{out}{note}"
    );
    assert!(
        note.contains("inputs.csv's input columns (length, width) are read by position"),
        "{note}"
    );
    let text = std::fs::read_to_string(&predicted).unwrap();
    assert!(text.starts_with("prediction,p_0,p_1,"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    // The safetensors model records its input columns: it reads them by
    // name and leaves the others out; the blob reads every column.
    let bare = ok(&["predict", "--load", s(&st), "--csv", s(&two_file)]);
    let with_answers: Vec<&str> = answered
        .lines()
        .map(|l| l.split_once(',').unwrap().1)
        .collect();
    assert_eq!(bare.lines().collect::<Vec<_>>(), with_answers);
    let e = fails(&["predict", "--load", s(&bin), "--csv", s(&two_file)]);
    assert!(
        e.contains("\"virginica\" is not a number"),
        "the species is no input: {e}"
    );
    let swapped = dir.join("swapped.csv");
    std::fs::write(&swapped, "width,length,species\n1,0.5,setosa\n").unwrap();
    let e = fails(&[
        "eval",
        "--load",
        s(&st),
        "--csv",
        s(&swapped),
        "--target",
        "species",
    ]);
    assert!(
        e.contains("swapped.csv's input columns (width, length) are not those")
            && e.ends_with("was trained on (length, width)\n"),
        "{e}"
    );
    let renamed = dir.join("renamed.csv");
    std::fs::write(&renamed, "length,size\n1,2\n").unwrap();
    let e = fails(&["predict", "--load", s(&st), "--csv", s(&renamed)]);
    assert!(
        e.contains("renamed.csv: no column named \"width\", which the model reads (its inputs: length, width)"),
        "{e}"
    );
}

#[test]
fn ctrl_c_or_sigterm_stops_after_the_epoch_and_keeps_its_weights_beside_the_saved_model() {
    for signal in ["INT", "TERM"] {
        interrupt_keeps_the_epochs_weights(signal);
    }
}

/// A training run that `signal` stops after its first reported epoch.
fn interrupt_keeps_the_epochs_weights(signal: &str) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let dir = temp_dir(&format!("interrupt-{signal}"));
    let model = dir.join("m.bin");
    std::fs::write(&model, "the previous model").unwrap();
    let mut child = Command::new(BIN)
        .args(["train", "--epochs", "1000000", "--save", s(&model)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first epoch has been reported, as a user would press Ctrl-C.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // ("epoch     1/…", not the "epochs 1000000, …" of the banner.)
    while !line.starts_with("epoch ") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "no epoch line");
    }
    // The shell's own `kill`: no separate program needed.
    let kill = Command::new("sh")
        .args(["-c", &format!("kill -{signal} {}", child.id())])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{signal}: {err}");
    let partial = dir.join("m.partial.bin");
    assert!(
        err.contains("error: interrupted after epoch")
            && err.contains("of 1000000")
            && err.contains(&format!("saved to {}", partial.display())),
        "{err}"
    );
    assert_eq!(std::fs::read(&model).unwrap(), b"the previous model");
    // The weights of the epochs done, bit for bit: those of a run asked for
    // that many epochs.
    let done = err
        .split("interrupted after epoch ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap();
    let full = dir.join("full.bin");
    ok(&["train", "--epochs", done, "--save", s(&full)]);
    assert_eq!(
        std::fs::read(&partial).unwrap(),
        std::fs::read(&full).unwrap()
    );
}

#[test]
fn options_that_do_not_apply_and_negative_values_are_named() {
    // CSV options with built-in data would be ignored: each is an error.
    for (option, value) in [
        ("--target", Some("y")),
        ("--task", Some("regression")),
        ("--test-fraction", Some("0.3")),
        ("--holdout-last", None),
    ] {
        let mut args = vec!["train", "--data", "xor", "--epochs", "1", option];
        args.extend(value);
        let e = fails(&args);
        assert!(
            e.contains(&format!("{option} applies to a CSV file (--csv FILE)")),
            "{e}"
        );
    }
    // A negative number is a value out of range, not an unknown option.
    for (option, error) in [
        ("--lr", "lr must be finite and in (0, 10]"),
        ("--clip", "clip_norm must be finite and > 0"),
        ("--momentum", "momentum must be in [0, 1)"),
        ("--weight-decay", "weight_decay must be in [0, 1]"),
    ] {
        let e = fails(&["train", "--data", "xor", "--epochs", "1", option, "-1"]);
        assert!(e.contains(error), "{option}: {e}");
    }
    for option in ["--epochs", "--batch", "--seed", "--threads"] {
        let out = run(&["train", "--data", "xor", option, "-1"]);
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{e}");
        assert!(
            e.contains(&format!("invalid value '-1' for '{option}")),
            "{e}"
        );
    }
    let e = fails(&["bench", "--quick", "--peak-gflops", "-1"]);
    assert!(e.contains("--peak-gflops must be a positive number"), "{e}");
}

#[test]
fn a_network_given_more_inputs_than_the_data_has_says_they_are_zeros() {
    let (_, e) = ok_with_stderr(&["train", "--data", "xor", "--net", "digits", "--epochs", "1"]);
    assert!(
        e.contains(
            "note: network digits reads 64 inputs and xor has 2 inputs: the other 62 are zeros"
        ),
        "{e}"
    );
    let (_, e) = ok_with_stderr(&["train", "--data", "sine", "--net", "xor", "--epochs", "1"]);
    assert!(
        e.contains("note: network xor reads 2 inputs and sine has 1 input: the other is zero"),
        "{e}"
    );
    let dir = temp_dir("padding");
    let csv = dir.join("seven.csv");
    std::fs::write(&csv, "a,b,c,d,e,f,g,y\n1,2,3,4,5,6,7,0\n2,3,4,5,6,7,8,1\n").unwrap();
    let (_, e) = ok_with_stderr(&[
        "train",
        "--csv",
        s(&csv),
        "--target",
        "y",
        "--net",
        "csv8-cls",
        "--epochs",
        "1",
    ]);
    assert!(
        e.contains("seven.csv has 7 inputs: the other is zero"),
        "{e}"
    );
    // Not when the network was chosen for the data (padding CSV columns up
    // to a compiled width is the design), nor when the widths agree.
    for args in [
        &["train", "--csv", s(&csv), "--target", "y", "--epochs", "1"][..],
        &[
            "train", "--data", "xor", "--net", "xor-tanh", "--epochs", "1",
        ],
    ] {
        let (_, e) = ok_with_stderr(args);
        assert!(!e.contains("are zeros") && !e.contains("is zero"), "{e}");
    }
}

#[test]
fn unwritable_outputs_and_thread_counts_fail_before_any_work() {
    let dir = temp_dir("early");
    let missing = dir.join("no-such-dir");
    let model = missing.join("m.bin");
    // Each a one-line error (`fails`) with nothing on stdout: neither the
    // training banner nor the bench's progress (on stderr) came first.
    for args in [
        vec!["train", "--save", s(&model)],
        vec!["train", "--plot", s(&missing.join("c.svg"))],
        vec!["train", "--save", s(&dir)],
        vec!["bench", "--quick", "--json", s(&missing.join("b.json"))],
        vec!["bench", "--quick", "--svg", s(&missing.join("b.svg"))],
    ] {
        let e = fails(&args);
        assert!(e.contains("cannot write"), "{args:?}: {e}");
        assert!(run(&args).stdout.is_empty(), "{args:?} did some work");
    }
    assert!(!missing.exists());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let e = fails(&["train", "--threads", "5000"]);
    assert!(e.contains("between 1 and 1024, got 5000"), "{e}");
    // A chart of no epochs would be empty.
    let chart = dir.join("c.svg");
    let e = fails(&["train", "--epochs", "0", "--plot", s(&chart)]);
    assert!(e.contains("--plot needs at least one epoch"), "{e}");
    assert!(!chart.exists());
    for list in ["0", "1,2,99999"] {
        let e = fails(&["bench", "--quick", "--threads", list]);
        assert!(e.contains("between 1 and 1024"), "{e}");
    }
    let e = fails(&["bench", "--quick", "--rounds", "0"]);
    assert!(e.contains("--rounds must be at least 1"), "{e}");
}

#[derive(serde::Deserialize)]
struct TorchRef {
    held_out_correct: u32,
    held_out_rows: u32,
    first_inputs: Vec<Vec<f32>>,
    first_logits: Vec<Vec<f32>>,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn safetensors_written_by_pytorch_load_and_compute_the_same_logits() {
    let r: TorchRef =
        serde_json::from_str(&std::fs::read_to_string(fixture("digits_torch.json")).unwrap())
            .unwrap();
    let bytes = std::fs::read(fixture("digits_torch.safetensors")).unwrap();
    let mut net = tinytrain::host::boxed::<Digits>();
    tinytrain_sim::exchange::load_safetensors(&mut *net, &bytes).unwrap();
    let mut scratch = <Digits as Model>::SCRATCH;
    for (x, want) in r.first_inputs.iter().zip(&r.first_logits) {
        let x: [f32; 64] = x.as_slice().try_into().unwrap();
        let got = net.forward(&x, &mut scratch);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
        }
    }
    let mut test = tinytrain_sim::data::digits()
        .test
        .to_train_set::<64, 10>(LossKind::SoftmaxCe)
        .unwrap();
    let stats = tinytrain::evaluate(
        &*net,
        &mut scratch,
        &mut test,
        &tinytrain::SoftmaxCrossEntropy,
    )
    .unwrap();
    assert_eq!(
        (stats.correct, stats.samples),
        (r.held_out_correct, r.held_out_rows)
    );

    // Through the command line: recognised without --net, fine-tuned, and
    // written back as safetensors with the same names and shapes.
    let dir = temp_dir("torch");
    let out_file = dir.join("tuned.safetensors");
    ok(&["eval", "--load", s(&fixture("digits_torch.safetensors"))]);
    ok(&[
        "train",
        "--load",
        s(&fixture("digits_torch.safetensors")),
        "--epochs",
        "1",
        "--save",
        s(&out_file),
    ]);
    let tuned = std::fs::read(&out_file).unwrap();
    let st = safetensors::SafeTensors::deserialize(&tuned).unwrap();
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
    assert_eq!(st.tensor("0.weight").unwrap().shape(), [32, 64]);
    assert_eq!(st.tensor("2.weight").unwrap().shape(), [10, 32]);
}

#[test]
fn exported_rust_source_compiles_and_computes_the_same_outputs() {
    let dir = temp_dir("export");
    let model = dir.join("m.bin");
    ok(&[
        "train",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--save",
        s(&model),
    ]);
    let crate_dir = dir.join("fw");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    // The same weights with class labels and input columns recorded, which
    // the source names too.
    let mut net = tinytrain::host::boxed::<Digits>();
    tinytrain::blob::load(&mut *net, &std::fs::read(&model).unwrap()).unwrap();
    let labels: Vec<String> = (0..10).map(|d| format!("digit \"{d}\"")).collect();
    let labelled = dir.join("labelled.safetensors");
    let recorded = tinytrain_sim::exchange::Recorded {
        classes: Some(labels.clone()),
        inputs: Some((0..64).map(|k| format!("pixel {k}")).collect()),
    };
    let bytes = tinytrain_sim::exchange::to_safetensors(&*net, "digits", &recorded).unwrap();
    std::fs::write(&labelled, bytes).unwrap();
    ok(&[
        "export",
        "--load",
        s(&labelled),
        "--rust",
        s(&crate_dir.join("src/model.rs")),
        "--name",
        "DIGITS",
    ]);
    // A name in lower case is the user's choice, and compiles without a
    // warning (the crate below denies them).
    ok(&[
        "export",
        "--load",
        s(&labelled),
        "--rust",
        s(&crate_dir.join("src/lower.rs")),
        "--name",
        "digits_model",
    ]);
    // A name the source could not compile with is refused before writing.
    let bad = crate_dir.join("src/bad.rs");
    for (name, why) in [
        ("fn", "is a Rust keyword"),
        ("9lives", "is not a Rust identifier"),
    ] {
        let e = fails(&[
            "export",
            "--load",
            s(&model),
            "--rust",
            s(&bad),
            "--name",
            name,
        ]);
        assert!(e.contains(&format!("--name \"{name}\" {why}")), "{e}");
    }
    assert!(!bad.exists());

    // What the simulator computes for a few held-out rows, and their labels.
    let test = tinytrain_sim::data::digits().test;
    let mut scratch = <Digits as Model>::SCRATCH;
    let mut rows = String::new();
    let mut expected = String::new();
    for r in 0..5 {
        let x: [f32; 64] = test.x[r * 64..(r + 1) * 64].try_into().unwrap();
        let y = net.forward(&x, &mut scratch);
        rows += &format!("{x:?},\n");
        expected += &format!(
            "{} {}\n",
            y.iter()
                .map(|v| v.to_bits().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            labels[tinytrain::argmax(y)]
        );
    }
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core");
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fw\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\n\
             tinytrain = {{ path = {:?} }}\n\n[workspace]\n",
            core.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        crate_dir.join("src/main.rs"),
        format!(
            "use tinytrain::{{Model, Network}};\ninclude!(\"model.rs\");\ninclude!(\"lower.rs\");\n\
             const ROWS: [[f32; 64]; 5] = [{rows}];\n\
             fn main() {{\n    let mut s = <tinytrain::Seq<tinytrain::Dense<64, 32, tinytrain::Relu>, tinytrain::Dense<32, 10, tinytrain::Identity>> as Model>::SCRATCH;\n\
             for x in &ROWS {{\n        let y = DIGITS.forward(x, &mut s);\n\
             println!(\"{{}} {{}}\", y.iter().map(|v| v.to_bits().to_string()).collect::<Vec<_>>().join(\" \"), DIGITS_CLASSES[tinytrain::argmax(y)]);\n    }}\n    println!(\"{{}}\", DIGITS_INPUTS[63]);\n\
             assert!(digits_model == DIGITS && digits_model_CLASSES == DIGITS_CLASSES && digits_model_INPUTS == DIGITS_INPUTS);\n}}\n"
        ),
    )
    .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["run", "--quiet", "--offline", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("RUSTFLAGS", "-D warnings")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expected += "pixel 63\n";
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

/// `bench --quick` at 1 and 2 threads with `extra` arguments, its JSON
/// written into `dir`: the table it prints and the JSON.
fn quick_bench(dir: &Path, extra: &[&str]) -> (String, serde_json::Value) {
    let json = dir.join("bench.json");
    let args = ["bench", "--quick", "--threads", "2", "--peak-gflops", "100"];
    let out = ok(&[&args[..], &["--json", s(&json)], extra].concat());
    let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (out, v)
}

#[test]
fn bench_writes_well_formed_json_and_svg() {
    let dir = temp_dir("bench");
    let svg = dir.join("bench.svg");
    let (out, v) = quick_bench(&dir, &["--svg", s(&svg)]);
    assert!(out.contains("| W3 | 2"), "{out}");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "W1..W3 at 1 and 2 threads");
    for (row, (w, t)) in rows.iter().zip([
        ("W1", 1),
        ("W1", 2),
        ("W2", 1),
        ("W2", 2),
        ("W3", 1),
        ("W3", 2),
    ]) {
        assert_eq!(row["workload"], w);
        assert_eq!(row["threads"], t);
        let sps = row["samples_per_s"].as_f64().unwrap();
        assert!(sps > 0.0 && sps.is_finite());
        let speedup = row["speedup"].as_f64().unwrap();
        if t == 1 {
            assert_eq!(speedup, 1.0);
        }
        assert!((row["efficiency"].as_f64().unwrap() - speedup / t as f64).abs() < 1e-9);
        let independent = row["independent_speedup"].as_f64().unwrap();
        if t == 1 {
            assert_eq!(independent, 1.0);
        } else {
            // Two runs at once do at least some work each.
            assert!(
                independent > 0.0 && independent.is_finite(),
                "{independent}"
            );
        }
        assert!(row["percent_of_peak"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(v["peak_gflops"][1][1], 200.0);
    assert_eq!(v["pacing"], "adaptive");
    let trips = v["round_trip_ns"].as_array().unwrap();
    assert_eq!(
        trips.len(),
        1,
        "one round, measured before its 2-thread runs"
    );
    assert!(trips[0].as_f64().unwrap() > 0.0);
    for row in rows {
        let alone = row["percent_steps_alone"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&alone), "{alone}");
    }
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let e = fails(&["bench", "--quick", "--threads", "0"]);
    assert!(e.contains("threads"), "{e}");
}

#[test]
fn fixed_team_trains_the_same_weights_and_bench_reports_it() {
    let dir = temp_dir("fixed-team");
    let (a, b) = (dir.join("a.bin"), dir.join("b.bin"));
    let common = ["train", "--epochs", "40", "--threads", "2", "--save"];
    let paced = ok(&[&common[..], &[s(&a)]].concat());
    let fixed = ok(&[&common[..], &[s(&b), "--fixed-team"]].concat());
    assert!(!fixed.contains("on one"), "{fixed}");
    // 40 epochs of W2 are about 20 ms: the pacing tries one thread at least once.
    assert!(paced.contains("of the steps on one"), "{paced}");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let (_, v) = quick_bench(&dir, &["--fixed-team"]);
    assert_eq!(v["pacing"], "team");
    for row in v["rows"].as_array().unwrap() {
        assert_eq!(row["percent_steps_alone"], 0.0);
    }
}

#[test]
fn help_lists_the_networks_and_explains_fixed_shapes() {
    let out = ok(&["train", "--help"]);
    assert!(
        out.contains("const generics") && out.contains("--csv"),
        "{out}"
    );
    assert!(
        out.contains("digits-large") && out.contains("784-128-64-10"),
        "{out}"
    );
    let nets = ok(&["nets"]);
    for n in tinytrain_sim::nets::NETS {
        assert!(nets.contains(n.name), "{n:?}");
    }
    // Each network's device RAM, from the core's constants: W2's row.
    let digits: Vec<&str> = nets
        .lines()
        .find(|l| l.starts_with("digits "))
        .unwrap()
        .split_whitespace()
        .collect();
    let bytes = [
        Digits::SCRATCH_BYTES,
        Digits::TRAIN_PER_SAMPLE_BYTES,
        Digits::TRAIN_BYTES - Digits::OPTIMIZER_BYTES,
    ]
    .map(|b| b.to_string());
    assert_eq!(digits[digits.len() - 3..], bytes, "{nets}");
    assert_eq!(bytes, ["336", "9976", "19620"]);
    assert!(
        nets.contains("weights (4 B per parameter) in flash"),
        "{nets}"
    );
}

#[test]
fn standardize_trains_on_large_columns_and_saves_a_model_for_raw_values() {
    let dir = temp_dir("standardize");
    // A price near 400,000 from a floor area near 2,000 and a room count.
    let mut text = String::from("area,rooms,price\n");
    for k in 0..300 {
        let area = 500 + (k * 37) % 3500;
        let rooms = 1 + (k * 7) % 6;
        let noise = ((k * 53) % 41) as f32 * 500.0 - 10_000.0;
        let price = 50_000.0 + 150.0 * area as f32 + 10_000.0 * rooms as f32 + noise;
        text += &format!("{area},{rooms},{price}\n");
    }
    let csv = dir.join("houses.csv");
    std::fs::write(&csv, &text).unwrap();
    let data = ["--csv", s(&csv), "--target", "price"];
    // Unscaled: a warning that says what to do (the run itself may diverge).
    let out = run(&[&["train", "--epochs", "1"], &data[..]].concat());
    let warn = String::from_utf8_lossy(&out.stderr);
    assert!(
        warn.contains("houses.csv's targets reach") && warn.contains("--standardize"),
        "{warn}"
    );
    let model = dir.join("m.bin");
    let args = [
        "train",
        "--epochs",
        "100",
        "--standardize",
        "--save",
        s(&model),
    ];
    let (out, warn) = ok_with_stderr(&[&args[..], &data[..]].concat());
    assert!(!warn.contains("warning"), "{warn}");
    assert!(
        out.contains("standardised 2 input columns") && out.contains("and the target"),
        "{out}"
    );
    // Losses are in the price's units: the noise alone is ±10,000.
    let rms = |out: &str| rms_error(out.lines().find(|l| l.starts_with("final:")).unwrap());
    let trained = rms(&out);
    assert!((3_000.0..40_000.0).contains(&trained), "{out}");
    // The saved model takes raw values: eval, and a run that continues from
    // it (unscaled, then scaled again by the same columns), report the same error.
    let eval = ok(&[&["eval", "--load", s(&model)], &data[..]].concat());
    let evaluated = rms_error(eval.lines().find(|l| l.contains("held-out:")).unwrap());
    assert!(
        (evaluated / trained - 1.0).abs() < 1e-3,
        "{trained} vs {eval}"
    );
    // predict gives the same errors, row by row, on all rows.
    let out = ok(&[
        "predict",
        "--load",
        s(&model),
        "--csv",
        s(&csv),
        "--target",
        "price",
    ]);
    let squares: Vec<f64> = out
        .lines()
        .skip(1)
        .map(|l| {
            let (t, p) = l.split_once(',').unwrap();
            (t.parse::<f64>().unwrap() - p.parse::<f64>().unwrap()).powi(2)
        })
        .collect();
    assert_eq!(squares.len(), 300);
    // eval's line "   train: 240 samples, loss L (rms error E)", read as held-out's.
    let train_line = eval.lines().find(|l| l.contains("train:")).unwrap();
    let (train_rms, held_rms) = (
        rms_error(&train_line.replace("train:", "held-out:")),
        evaluated,
    );
    let expected = ((240.0 * f64::from(train_rms).powi(2) + 60.0 * f64::from(held_rms).powi(2))
        / 300.0)
        .sqrt();
    let rms_all = (squares.iter().sum::<f64>() / 300.0).sqrt();
    assert!(
        (rms_all / expected - 1.0).abs() < 1e-3,
        "{rms_all} vs {expected}"
    );
    let again = ok(&[
        &[
            "train",
            "--load",
            s(&model),
            "--epochs",
            "0",
            "--standardize",
        ],
        &data[..],
    ]
    .concat());
    assert!(
        (rms(&again) / trained - 1.0).abs() < 1e-3,
        "{trained} vs {again}"
    );
}

#[test]
fn a_pytorch_file_whose_shapes_fit_two_networks_needs_net() {
    use safetensors::tensor::{Dtype, TensorView};
    let dir = temp_dir("two-fit");
    // A 2-8-1 state_dict as PyTorch writes it: no tinytrain metadata. Both
    // `xor` (sigmoid) and `xor-tanh` (tanh) have these shapes.
    let values: Vec<u8> = (0..33)
        .flat_map(|k| (0.1 * k as f32 - 1.6).to_le_bytes())
        .collect();
    let (w1, rest) = values.split_at(64);
    let (b1, rest) = rest.split_at(32);
    let (w2, b2) = rest.split_at(32);
    let tensors = [
        ("0.weight", vec![8, 2], w1),
        ("0.bias", vec![8], b1),
        ("2.weight", vec![1, 8], w2),
        ("2.bias", vec![1], b2),
    ]
    .map(|(name, shape, bytes)| (name, TensorView::new(Dtype::F32, shape, bytes).unwrap()));
    let file = dir.join("torch.safetensors");
    std::fs::write(
        &file,
        safetensors::tensor::serialize(tensors, &None).unwrap(),
    )
    .unwrap();

    let e = fails(&["eval", "--load", s(&file)]);
    assert!(
        e.contains("its layer shapes fit networks xor, xor-tanh, which differ in their activations: give --net NAME"),
        "{e}"
    );
    let tanh = ok(&["eval", "--load", s(&file), "--net", "xor-tanh"]);
    assert!(tanh.contains("model xor-tanh"), "{tanh}");
    let sigmoid = ok(&["eval", "--load", s(&file), "--net", "xor"]);
    assert!(sigmoid.contains("model xor "), "{sigmoid}");
    // Exported as a blob, the file names its network from then on.
    let blob = dir.join("m.bin");
    ok(&[
        "export",
        "--load",
        s(&file),
        "--net",
        "xor-tanh",
        "--blob",
        s(&blob),
    ]);
    let again = ok(&["eval", "--load", s(&blob)]);
    assert_eq!(
        again.lines().skip(1).collect::<Vec<_>>(),
        tanh.lines().skip(1).collect::<Vec<_>>()
    );
    let e = fails(&["eval", "--load", s(&blob), "--net", "xor"]);
    assert!(
        e.contains("--net xor does not match the saved model's network xor-tanh"),
        "{e}"
    );
    let e = fails(&[
        "export",
        "--load",
        s(&file),
        "--net",
        "nope",
        "--blob",
        s(&blob),
    ]);
    assert!(e.contains("nope"), "{e}");
}
