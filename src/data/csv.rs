//! Bring your own data: a CSV of numeric feature columns and one label column.
//!
//! The label column is the one named `label`, `class`, `target` or `y` (any case), else the
//! last. Labels may be numbers or words; classes are their distinct values in sorted order.
//! A header row is recognised by a non-numeric feature cell; without one the columns are
//! named `x0, x1, …`. Quoted fields (`"a, b"`) are read; `,` `;` and tab separate fields.
//! Every problem is reported with its line (and column name) and nothing is kept.

use ndarray::Array2;

use super::{DataShape, DataSplits, Dataset};

pub const MAX_BYTES: usize = 50 << 20;
pub const MAX_ROWS: usize = 200_000;
pub const MAX_FEATURES: usize = 2_000;
pub const MAX_CLASSES: usize = 100;
pub const MIN_ROWS: usize = 40;

/// A parsed CSV: all rows, before the seeded split.
#[derive(Clone, Debug)]
pub struct ImportedData {
    /// The file name it came from.
    pub name: String,
    /// A hash of the file's bytes: a link or a record names its data by it.
    pub fingerprint: String,
    pub feature_names: Vec<String>,
    pub class_names: Vec<String>,
    pub all: Dataset,
    /// The file's text, so that a saved experiment can bring its data back after a reload.
    pub source: std::sync::Arc<str>,
}

impl ImportedData {
    /// 70 / 15 / 15 % seeded split, standardised on the training part, like the built-ins.
    /// Binary data whose rarer class is under 20 % is scored by ROC AUC of that class.
    pub fn splits(&self, seed: u64) -> DataSplits {
        let classes = self.class_names.len();
        let mut counts = vec![0usize; classes];
        for &l in &self.all.labels {
            counts[l as usize] += 1;
        }
        let positive_class = (classes == 2)
            .then(|| if counts[1] <= counts[0] { 1u8 } else { 0u8 })
            .filter(|&p| (counts[p as usize] as f64) < 0.2 * self.all.len() as f64);
        super::three_way(
            self.name.clone(),
            DataShape::Tabular {
                feature_names: self.feature_names.clone(),
            },
            classes,
            positive_class,
            &self.all,
            seed,
        )
    }
}

/// FNV-1a, 64 bit, as 16 hex digits: stable across builds and platforms.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// What is wrong with an imported file: each names its line (and column) where it has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CsvError {
    #[error("the file is {mb} MB; CSV data up to {} MB is read", MAX_BYTES >> 20)]
    TooLarge { mb: usize },
    #[error("the file has no rows")]
    Empty,
    #[error("line {line}: one column only; a label and at least one feature are needed")]
    OneColumn { line: u64 },
    #[error("line {line}: {features} feature columns; at most {MAX_FEATURES} are read")]
    TooManyFeatures { line: u64, features: usize },
    #[error("line {line}: a quote is not closed")]
    OpenQuote { line: u64 },
    #[error("line {line}: {message}")]
    Unreadable { line: u64, message: String },
    #[error("line {line}: more than {MAX_ROWS} rows")]
    TooManyRows { line: u64 },
    #[error("line {line}: {got} fields where the first row has {expected}")]
    FieldCount {
        line: u64,
        got: usize,
        expected: usize,
    },
    #[error("line {line}, column '{column}': the label is empty")]
    EmptyLabel { line: u64, column: String },
    #[error("line {line}, column '{column}': '{cell}' is not a finite number")]
    NotANumber {
        line: u64,
        column: String,
        cell: String,
    },
    #[error("{rows} rows; at least {MIN_ROWS} are needed to split and train")]
    TooFewRows { rows: usize },
    #[error("the label column has only one class: nothing to learn")]
    OneClass,
    #[error(
        "the label column has {classes} different values; at most {MAX_CLASSES} classes (is the label column right? it is the one named label/class/target/y, else the last)"
    )]
    TooManyClasses { classes: usize },
}

/// The line of a quote that is never closed, if there is one. The csv crate reads such a
/// quote to the end of the file as one field; the user should hear where it opened.
fn open_quote(text: &str) -> Option<u64> {
    let mut open_since = None;
    for (no, line) in text.lines().enumerate() {
        if line.matches('"').count() % 2 == 1 {
            open_since = match open_since {
                None => Some(no as u64 + 1),
                Some(_) => None,
            };
        }
    }
    open_since
}

/// One record's fields, trimmed, with the line it starts on; blank records are skipped.
fn records(text: &str, sep: u8) -> impl Iterator<Item = Result<(u64, Vec<String>), CsvError>> + '_ {
    ::csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes())
        .into_records()
        .filter_map(|record| match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                let fields: Vec<String> = r.iter().map(str::to_string).collect();
                let blank = fields.iter().all(String::is_empty) && fields.len() <= 1;
                (!blank).then_some(Ok((line, fields)))
            }
            Err(e) => Some(Err(CsvError::Unreadable {
                line: e.position().map_or(0, |p| p.line()),
                message: e.to_string(),
            })),
        })
}

pub fn parse(name: &str, text: &str) -> Result<ImportedData, CsvError> {
    if text.len() > MAX_BYTES {
        return Err(CsvError::TooLarge {
            mb: text.len() >> 20,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(line) = open_quote(text) {
        return Err(CsvError::OpenQuote { line });
    }
    // The separator: whichever of , ; tab the first row has most of.
    let (first_no, first) = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l))
        .find(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .ok_or(CsvError::Empty)?;
    let sep = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|&s| first.bytes().filter(|&b| b == s).count())
        .filter(|&s| first.as_bytes().contains(&s))
        .ok_or(CsvError::OneColumn { line: first_no })?;
    let mut rows_in = records(text, sep);
    let (first_no, first_fields) = rows_in.next().ok_or(CsvError::Empty)??;
    let columns = first_fields.len();
    if columns < 2 {
        return Err(CsvError::OneColumn { line: first_no });
    }
    if columns - 1 > MAX_FEATURES {
        return Err(CsvError::TooManyFeatures {
            line: first_no,
            features: columns - 1,
        });
    }
    // In order of preference: a column called `y` beside one called `label` is a feature.
    let label_col = ["label", "class", "target", "y"]
        .iter()
        .find_map(|n| first_fields.iter().position(|f| f.eq_ignore_ascii_case(n)))
        .unwrap_or(columns - 1);
    let is_header = first_fields
        .iter()
        .enumerate()
        .any(|(i, f)| i != label_col && f.parse::<f32>().is_err());
    let names: Vec<String> = if is_header {
        first_fields.clone()
    } else {
        (0..columns)
            .map(|i| {
                if i == label_col {
                    "label".into()
                } else {
                    format!("x{}", i - usize::from(i > label_col))
                }
            })
            .collect()
    };
    let feature_names: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != label_col)
        .map(|(_, n)| n.clone())
        .collect();

    let mut values: Vec<f32> = Vec::new();
    let mut raw_labels: Vec<String> = Vec::new();
    let first_row = (!is_header).then_some(Ok((first_no, first_fields.clone())));
    for record in first_row.into_iter().chain(rows_in) {
        let (line, row) = record?;
        if raw_labels.len() >= MAX_ROWS {
            return Err(CsvError::TooManyRows { line });
        }
        if row.len() != columns {
            return Err(CsvError::FieldCount {
                line,
                got: row.len(),
                expected: columns,
            });
        }
        for (i, cell) in row.into_iter().enumerate() {
            if i == label_col {
                if cell.is_empty() {
                    return Err(CsvError::EmptyLabel {
                        line,
                        column: names[i].clone(),
                    });
                }
                raw_labels.push(cell);
            } else {
                match cell.parse::<f32>() {
                    Ok(v) if v.is_finite() => values.push(v),
                    _ => {
                        return Err(CsvError::NotANumber {
                            line,
                            column: names[i].clone(),
                            cell: cell.chars().take(30).collect(),
                        });
                    }
                }
            }
        }
    }
    let rows = raw_labels.len();
    if rows < MIN_ROWS {
        return Err(CsvError::TooFewRows { rows });
    }
    // Classes: the distinct labels, numerically sorted when they are all numbers.
    let mut class_names: Vec<String> = raw_labels.clone();
    class_names.sort();
    class_names.dedup();
    if class_names.iter().all(|c| c.parse::<f64>().is_ok()) {
        class_names.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        });
    }
    if class_names.len() < 2 {
        return Err(CsvError::OneClass);
    }
    if class_names.len() > MAX_CLASSES {
        return Err(CsvError::TooManyClasses {
            classes: class_names.len(),
        });
    }
    let index: std::collections::HashMap<&str, u8> = class_names
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u8))
        .collect();
    let labels = raw_labels.iter().map(|l| index[l.as_str()]).collect();
    // Every row pushed `columns - 1` values (checked above), so the shape fits.
    let features =
        Array2::from_shape_vec((rows, columns - 1), values).expect("rows × features values");
    Ok(ImportedData {
        name: name.chars().take(80).collect(),
        fingerprint: fingerprint(text.as_bytes()),
        feature_names,
        class_names,
        all: Dataset::new(features, labels),
        source: text.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng as _, SeedableRng as _};

    fn sample(rows: usize) -> String {
        let mut text = String::from("age,\"income, k€\",label\n");
        for i in 0..rows {
            let class = if i % 3 == 0 { "yes" } else { "no" };
            text += &format!("{},{}.5,{class}\n", 20 + i % 50, i % 7);
        }
        text
    }

    #[test]
    fn a_csv_with_header_and_word_labels_becomes_a_dataset() {
        let data = parse("people.csv", &sample(100)).unwrap();
        let y_feature = parse("p.csv", &sample(60).replacen("age,", "y,", 1)).unwrap();
        assert_eq!(
            y_feature.feature_names,
            ["y", "income, k€"],
            "label wins over y"
        );
        assert_eq!(data.feature_names, ["age", "income, k€"]);
        assert_eq!(data.class_names, ["no", "yes"]);
        assert_eq!(data.all.len(), 100);
        assert_eq!(data.all.features[[1, 0]], 21.0);
        assert_eq!(data.all.features[[1, 1]], 1.5);
        assert_eq!(data.all.labels[0], 1, "yes");
        let splits = data.splits(3);
        assert_eq!(
            splits.train.len() + splits.val.len() + splits.test.len(),
            100
        );
        assert_eq!(splits.n_classes, 2);
        // Seeded: the same split again.
        assert_eq!(data.splits(3).test.labels, splits.test.labels);
    }

    #[test]
    fn without_header_the_last_column_is_the_label() {
        let text: String = (0..60)
            .map(|i| format!("{};{};{}\n", i, i * 2, i % 4))
            .collect();
        let data = parse("n.csv", &text).unwrap();
        assert_eq!(data.feature_names, ["x0", "x1"]);
        assert_eq!(data.class_names, ["0", "1", "2", "3"]);
        assert_eq!(data.all.len(), 60);
    }

    #[test]
    fn problems_are_named_by_line_and_column() {
        let mut text = sample(60);
        text = text.replacen("25,5.5", "25,abc", 1);
        let err = parse("x.csv", &text).unwrap_err().to_string();
        assert!(err.contains("line 7, column 'income, k€': 'abc'"), "{err}");
        let err = parse("x.csv", &sample(60).replacen("21,1.5,no", "21,no", 1))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("line 3: 2 fields"), "{err}");
        assert!(parse("x.csv", "").is_err());
        assert!(
            parse("x.csv", &sample(10))
                .unwrap_err()
                .to_string()
                .contains("at least")
        );
        let one_class: String = (0..50).map(|i| format!("{i},1\n")).collect();
        assert!(
            parse("x.csv", &one_class)
                .unwrap_err()
                .to_string()
                .contains("one class")
        );
        let too_many: String = (0..500).map(|i| format!("{i},{i}\n")).collect();
        assert!(
            parse("x.csv", &too_many)
                .unwrap_err()
                .to_string()
                .contains("classes")
        );
        assert!(
            parse("x.csv", "a,\"b\n")
                .unwrap_err()
                .to_string()
                .contains("quote")
        );
        assert!(parse("x.csv", &sample(60).replacen("20,0.5", "NaN,0.5", 1)).is_err());
    }

    #[test]
    fn fuzzed_files_never_panic() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
        let base = sample(60).into_bytes();
        for case in 0..3_000 {
            let mut bytes = base.clone();
            for _ in 0..rng.random_range(1..6) {
                let at = rng.random_range(0..bytes.len());
                match case % 3 {
                    0 => bytes[at] = b",;\t\"\n\r0123456789.-eyesno"[rng.random_range(0..24)],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, b",\"\n"[rng.random_range(0..3)]),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(data) = parse("f.csv", &text) {
                let splits = data.splits(1);
                assert!(splits.train.features.iter().all(|v| v.is_finite()));
                assert_eq!(splits.n_classes, data.class_names.len());
            }
        }
    }
}
