//! Moving weights in and out: the core's weight blob, PyTorch-compatible
//! `safetensors`, and Rust source for firmware.
//!
//! safetensors files use the names and layout of an `nn.Sequential` of
//! `nn.Linear` layers with an activation module after each hidden layer:
//! layer k is `"{2k}.weight"` (shape `[out, in]`, row-major, F32) and
//! `"{2k}.bias"` (`[out]`). On import any `<prefix>.weight`/`<prefix>.bias`
//! pairs are accepted, ordered by their prefix in natural order (`0 < 2 <
//! 10`, `fc1 < fc2`), so `state_dict()`s of common PyTorch MLPs load as is.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use tinytrain::Model;

use crate::nets::NetInfo;

/// Metadata key naming the compiled-in network that wrote a file.
pub const NET_KEY: &str = "tinytrain_net";

/// Metadata key holding a classifier's class labels, output by output, as
/// a JSON array of strings (only when they are not simply `"0"`, `"1"`, …).
pub const CLASSES_KEY: &str = "tinytrain_classes";

/// Metadata key holding the names of the CSV columns a model reads, input
/// by input, as a JSON array of strings.
pub const INPUTS_KEY: &str = "tinytrain_inputs";

/// What a safetensors file records about its model besides the weights
/// and the network's name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorded {
    /// The class label of each output of a classifier.
    pub classes: Option<Vec<String>>,
    /// The CSV column each input was read from.
    pub inputs: Option<Vec<String>>,
}

/// The model as a safetensors file (F32, PyTorch `nn.Linear` layout),
/// recording the network's name and what `recorded` holds.
pub fn to_safetensors<N: Model>(
    net: &N,
    name: &str,
    recorded: &Recorded,
) -> Result<Vec<u8>, String> {
    let mut tensors: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
    for l in 0..N::LAYERS {
        let Some(v) = net.layer(l) else { continue };
        let bytes = |s: &[f32]| s.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        tensors.push((
            format!("{}.weight", 2 * l),
            bytes(v.w),
            vec![v.outputs, v.inputs],
        ));
        tensors.push((format!("{}.bias", 2 * l), bytes(v.b), vec![v.outputs]));
    }
    let views = tensors
        .iter()
        .map(|(n, b, s)| {
            TensorView::new(Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut meta = HashMap::from([
        (NET_KEY.to_string(), name.to_string()),
        ("format".to_string(), "pt".to_string()),
    ]);
    for (key, names) in [
        (CLASSES_KEY, &recorded.classes),
        (INPUTS_KEY, &recorded.inputs),
    ] {
        if let Some(names) = names {
            let json = serde_json::to_string(names).map_err(|e| format!("{key}: {e}"))?;
            meta.insert(key.to_string(), json);
        }
    }
    safetensors::tensor::serialize(views, &Some(meta)).map_err(|e| format!("safetensors: {e}"))
}

/// Orders names like a person would: digit runs compare as numbers.
fn natural_key(s: &str) -> Vec<(u8, u64, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut n = 0u64;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = n.saturating_mul(10).saturating_add(u64::from(d));
                chars.next();
            }
            out.push((0, n, String::new()));
        } else {
            let mut t = String::new();
            while let Some(&c) = chars.peek().filter(|c| !c.is_ascii_digit()) {
                t.push(c);
                chars.next();
            }
            out.push((1, 0, t));
        }
    }
    out
}

/// The network name stored in a safetensors file's metadata, if any; an
/// error if the bytes are not a safetensors file.
pub fn safetensors_net_name(bytes: &[u8]) -> Result<Option<String>, String> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    Ok(meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(NET_KEY).cloned()))
}

/// What a safetensors file's metadata records (see [`Recorded`]); an error
/// if the bytes are not a safetensors file or a record is not a JSON array
/// of distinct strings.
pub fn safetensors_recorded(bytes: &[u8]) -> Result<Recorded, String> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let names = |key: &str, what: &str| -> Result<Option<Vec<String>>, String> {
        let Some(json) = meta.metadata().as_ref().and_then(|m| m.get(key)) else {
            return Ok(None);
        };
        let bad = |why: String| format!("metadata {key} is not a list of {what} ({why})");
        let names: Vec<String> = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        for (k, n) in names.iter().enumerate() {
            if names[..k].contains(n) {
                return Err(bad(format!("{n:?} is there twice")));
            }
        }
        if names.is_empty() {
            return Err(bad("it is empty".into()));
        }
        Ok(Some(names))
    };
    Ok(Recorded {
        classes: names(CLASSES_KEY, "class labels")?,
        inputs: names(INPUTS_KEY, "column names")?,
    })
}

/// Loads a safetensors file into `net`; all or nothing. Errors name the
/// tensor and what is wrong with it.
pub fn load_safetensors<N: Model>(net: &mut N, bytes: &[u8]) -> Result<(), String> {
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let mut prefixes: Vec<String> = st
        .names()
        .into_iter()
        .filter_map(|n| n.strip_suffix(".weight").map(str::to_string))
        .collect();
    prefixes.sort_by_key(|p| natural_key(p));
    if prefixes.len() != N::LAYERS {
        return Err(format!(
            "the file has {} weight tensors ({}) but the network has {} layers",
            prefixes.len(),
            prefixes.join(", "),
            N::LAYERS
        ));
    }
    let mut staged = tinytrain::host::boxed::<N>();
    for (l, p) in prefixes.iter().enumerate() {
        let Some(dst) = staged.layer_mut(l) else {
            continue;
        };
        let (out, inp) = (dst.outputs, dst.inputs);
        for (suffix, shape, slot) in [
            ("weight", vec![out, inp], dst.w),
            ("bias", vec![out], dst.b),
        ] {
            let name = format!("{p}.{suffix}");
            let t = st
                .tensor(&name)
                .map_err(|_| format!("tensor {name} is missing"))?;
            if t.dtype() != Dtype::F32 {
                return Err(format!(
                    "tensor {name} is {:?}; only F32 is supported",
                    t.dtype()
                ));
            }
            if t.shape() != shape.as_slice() {
                return Err(format!(
                    "tensor {name} has shape {:?}, layer {l} needs {shape:?}",
                    t.shape()
                ));
            }
            for (v, c) in slot.iter_mut().zip(t.data().chunks_exact(4)) {
                *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
    }
    if !staged.is_finite() {
        return Err("the file holds NaN or infinite weights".into());
    }
    net.copy_from(&staged);
    Ok(())
}

/// Formats an f32 so that it reads back as the same bits in Rust source.
fn lit(v: f32) -> String {
    // `{:?}` prints the shortest string that round-trips, always with a
    // decimal point or exponent, so it is a valid f32 literal.
    format!("{v:?}")
}

/// Rust source defining `pub static {ident}: {type} = …;` holding the
/// weights, for firmware to `include!`: the model then lives in flash and
/// needs no RAM for weights. With recorded input names and class labels,
/// also `pub static {ident}_INPUTS: [&str; N]` and `{ident}_CLASSES`.
pub fn to_rust<N: Model>(net: &N, info: &NetInfo, ident: &str, recorded: &Recorded) -> String {
    let mut types = Vec::new();
    let mut values = Vec::new();
    for l in 0..N::LAYERS {
        let Some(v) = net.layer(l) else { continue };
        let act = match v.activation {
            "identity" => "Identity",
            "relu" => "Relu",
            "leaky_relu" => "LeakyRelu",
            "sigmoid" => "Sigmoid",
            _ => "Tanh",
        };
        types.push(format!(
            "tinytrain::Dense<{}, {}, tinytrain::{act}>",
            v.inputs, v.outputs
        ));
        let mut s = String::from("tinytrain::Dense::from_parts(\n    [\n");
        for row in v.w.chunks_exact(v.inputs) {
            let cells: Vec<String> = row.iter().map(|&x| lit(x)).collect();
            let _ = writeln!(s, "        [{}],", cells.join(", "));
        }
        let cells: Vec<String> = v.b.iter().map(|&x| lit(x)).collect();
        let _ = write!(s, "    ],\n    [{}],\n)", cells.join(", "));
        values.push(s);
    }
    // Nest as the `mlp!` macro does: Seq<first, Seq<second, last>>.
    let mut ty = types.pop().unwrap_or_default();
    let mut value = values.pop().unwrap_or_default();
    while let (Some(t), Some(v)) = (types.pop(), values.pop()) {
        ty = format!("tinytrain::Seq<{t}, {ty}>");
        value = format!("tinytrain::Seq::from_parts(\n{v},\n{value},\n)");
    }
    format!(
        "// Weights of the tinytrain network `{name}` ({shape}), {params} parameters.\n\
         // Written by `tinytrain-sim export --rust`; include it with `include!`.\n\
         // Shape hash {hash:#010x} (the same as `<{type_name} as tinytrain::Model>::SHAPE_HASH`).\n\
         #[rustfmt::skip]\n\
         #[allow(clippy::excessive_precision, clippy::approx_constant, non_upper_case_globals)]\n\
         pub static {ident}: {ty} = {value};\n{labels}",
        name = info.name,
        shape = info.shape,
        params = N::PARAMS,
        hash = N::SHAPE_HASH,
        type_name = info.type_name,
        labels = [
            (&recorded.inputs, "INPUTS", "The CSV column each input of"),
            (&recorded.classes, "CLASSES", "The class label of each output of"),
        ]
        .iter()
        .filter_map(|(names, suffix, doc)| {
            names
                .as_deref()
                .map(|n| names_static(ident, suffix, doc, n))
        })
        .collect::<String>(),
    )
}

/// `pub static {ident}_{suffix}: [&str; K]` holding `names` (Rust string
/// literals: `{:?}` escapes what needs it), documented as `{doc} {ident}`.
fn names_static(ident: &str, suffix: &str, doc: &str, names: &[String]) -> String {
    let cells: Vec<String> = names.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "/// {doc} `{ident}`.\n\
         #[allow(non_upper_case_globals)]\n\
         pub static {ident}_{suffix}: [&str; {}] = [{}];\n",
        names.len(),
        cells.join(", ")
    )
}

/// Writes `bytes` to `path` through `path.tmp` and a rename, so that a
/// failed or interrupted run never leaves a half-written file in place of a
/// previous one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Rust's keywords, strict and reserved (2024 edition): not usable as the
/// name of a `static`.
const RUST_KEYWORDS: [&str; 52] = [
    "Self", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Checks that `name` can name the `static` of [`to_rust`]: an ASCII
/// identifier (a letter or `_` first, then letters, digits and `_`; not `_`
/// alone) that is not a keyword. The error says what is wrong.
pub fn check_rust_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first || name == "_" || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("is not a Rust identifier");
    }
    if RUST_KEYWORDS.contains(&name) {
        return Err("is a Rust keyword");
    }
    Ok(())
}

/// `path` with `.tmp` added: where [`write_atomically`] writes first.
fn tmp_path(path: &Path) -> std::path::PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    tmp.into()
}

/// Checks, before a long run, that [`write_atomically`] will be able to
/// write `path` at its end: `path` is not a directory, and its directory
/// exists and takes a new file (`path.tmp`, made and removed again).
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory",
        ));
    }
    let tmp = tmp_path(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    std::fs::remove_file(&tmp)
}

/// True if `path` names a safetensors file (by extension).
pub fn is_safetensors(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// Whether a saved model's `bytes` are to be read as safetensors: by their
/// content (a blob starts with [`tinytrain::blob::MAGIC`], a safetensors
/// file with its header's length and then `{`), whatever the file is
/// called; by `path`'s extension when the content is neither (to say what
/// is wrong with it).
pub fn reads_as_safetensors(path: &Path, bytes: &[u8]) -> bool {
    if bytes.starts_with(&tinytrain::blob::MAGIC) {
        false
    } else if bytes.get(8) == Some(&b'{') {
        true
    } else {
        is_safetensors(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::{self, Digits};
    use tinytrain::{init_seeded, Init};

    #[test]
    fn a_model_is_read_by_its_content_before_its_name() {
        let mut net = tinytrain::host::boxed::<Digits>();
        init_seeded(&mut *net, Init::PyTorchDefault, 1);
        let blob = tinytrain::host::to_blob(&*net).unwrap();
        let st = to_safetensors(&*net, "digits", &Recorded::default()).unwrap();
        let (bin, sft) = (Path::new("m.bin"), Path::new("m.safetensors"));
        assert!(!reads_as_safetensors(sft, &blob));
        assert!(reads_as_safetensors(bin, &st));
        // Neither: the name says which error to give.
        assert!(reads_as_safetensors(sft, &[7; 32]));
        assert!(!reads_as_safetensors(bin, &[7; 32]));
    }

    #[test]
    fn safetensors_round_trip_is_bit_exact() {
        let mut a = tinytrain::host::boxed::<Digits>();
        init_seeded(&mut *a, Init::PyTorchDefault, 3);
        let bytes = to_safetensors(&*a, "digits", &Recorded::default()).unwrap();
        assert_eq!(
            safetensors_net_name(&bytes).unwrap().as_deref(),
            Some("digits")
        );
        for cut in [100, bytes.len() - 4] {
            let e = safetensors_net_name(&bytes[..cut]).unwrap_err();
            assert!(e.starts_with("not a safetensors file"), "{e}");
        }
        let mut b = tinytrain::host::boxed::<Digits>();
        load_safetensors(&mut *b, &bytes).unwrap();
        assert_eq!(a, b);
        let mut wrong = tinytrain::host::boxed::<nets::DigitsLarge>();
        let e = load_safetensors(&mut *wrong, &bytes).unwrap_err();
        assert!(e.contains("2 weight tensors"), "{e}");
        let mut small = tinytrain::host::boxed::<nets::DigitsSmall>();
        let e = load_safetensors(&mut *small, &bytes).unwrap_err();
        assert!(e.contains("0.weight has shape [32, 64]"), "{e}");
    }

    #[test]
    fn class_labels_and_column_names_travel_in_the_metadata() {
        let net = tinytrain::host::boxed::<Digits>();
        let plain = to_safetensors(&*net, "digits", &Recorded::default()).unwrap();
        assert_eq!(safetensors_recorded(&plain).unwrap(), Recorded::default());
        let names: Vec<String> = ["setosa", "b, \"quoted\"", "ünï"].map(String::from).into();
        let recorded = Recorded {
            classes: Some(names),
            inputs: Some(vec!["a".into(), "b".into()]),
        };
        let bytes = to_safetensors(&*net, "digits", &recorded).unwrap();
        assert_eq!(safetensors_recorded(&bytes).unwrap(), recorded);
        // A file whose metadata holds `json` under `key`.
        let with = |key: &str, json: &str| {
            let meta = HashMap::from([(key.to_string(), json.to_string())]);
            let bias = TensorView::new(Dtype::F32, vec![1], &[0; 4]).unwrap();
            safetensors::tensor::serialize([("0.bias", bias)], &Some(meta)).unwrap()
        };
        for (key, json, why) in [
            (
                CLASSES_KEY,
                "[\"a\", \"a\"]",
                "class labels (\"a\" is there twice)",
            ),
            (CLASSES_KEY, "[]", "class labels (it is empty)"),
            (CLASSES_KEY, "{\"a\": 1}", "class labels (invalid type"),
            (INPUTS_KEY, "[1]", "column names (invalid type"),
        ] {
            let e = safetensors_recorded(&with(key, json)).unwrap_err();
            assert!(
                e.starts_with(&format!("metadata {key} is not a list of {why}")),
                "{e}"
            );
        }
        assert!(safetensors_recorded(b"junk").is_err());
    }

    #[test]
    fn rust_names_are_identifiers_and_not_keywords() {
        for ok in [
            "DIGITS",
            "_w2",
            "model_1",
            "r#x"[2..].as_ref(),
            "Fn",
            "selfish",
        ] {
            assert_eq!(check_rust_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "_", "1abc", "a-b", "a b", "é", "r#fn"] {
            assert_eq!(
                check_rust_name(bad),
                Err("is not a Rust identifier"),
                "{bad}"
            );
        }
        for kw in [
            "fn", "static", "Self", "self", "async", "gen", "yield", "true",
        ] {
            assert_eq!(check_rust_name(kw), Err("is a Rust keyword"), "{kw}");
        }
    }

    #[test]
    fn rust_source_names_the_classes_when_asked() {
        let net = tinytrain::host::boxed::<Digits>();
        let info = nets::find("digits").unwrap();
        let plain = to_rust(&*net, info, "M", &Recorded::default());
        assert!(!plain.contains("CLASSES") && !plain.contains("INPUTS"));
        let names: Vec<String> = ["cat", "say \"hi\"\\"].map(String::from).into();
        let recorded = Recorded {
            classes: Some(names),
            inputs: Some(vec!["x".into()]),
        };
        let src = to_rust(&*net, info, "M", &recorded);
        assert!(src.starts_with(&plain), "the names come after the model");
        assert_eq!(
            &src[plain.len()..],
            "/// The CSV column each input of `M`.\n\
             #[allow(non_upper_case_globals)]\n\
             pub static M_INPUTS: [&str; 1] = [\"x\"];\n\
             /// The class label of each output of `M`.\n\
             #[allow(non_upper_case_globals)]\n\
             pub static M_CLASSES: [&str; 2] = [\"cat\", \"say \\\"hi\\\"\\\\\"];\n"
        );
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["10", "2", "0", "fc2", "fc10", "fc1"];
        v.sort_by_key(|p| natural_key(p));
        assert_eq!(v, ["0", "2", "10", "fc1", "fc2", "fc10"]);
    }

    #[test]
    fn float_literals_round_trip() {
        for v in [
            0.1f32,
            -0.0,
            1.0,
            1e-7,
            3.402_823_5e38,
            -1.175_494_4e-38,
            0.333_333_34,
        ] {
            assert_eq!(lit(v).parse::<f32>().unwrap().to_bits(), v.to_bits());
        }
    }
}
