//! How client commands print what the server answered: a readable table by default, or the
//! server's JSON unchanged (`--output json`) for scripts.
use serde_json::Value;
use std::fmt;
use std::io::Write as _;

/// `--output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The API's JSON, pretty-printed, one document per command.
    Json,
}

/// Rows under headers, printed with aligned columns.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_uppercase()).collect(),
            rows: vec![],
        }
    }

    /// Adds a row; each value is shown with [`cell`].
    pub fn row(&mut self, values: &[&Value]) {
        self.rows.push(values.iter().map(|v| cell(v)).collect());
    }

    /// Adds a row of text.
    pub fn text_row(&mut self, values: Vec<String>) {
        self.rows.push(values);
    }

    /// One row per field of a JSON object (nested objects flattened to dotted keys).
    pub fn fields(v: &Value) -> Self {
        let mut t = Self::new(&["field", "value"]);
        let mut flat = vec![];
        flatten("", v, &mut flat);
        for (k, v) in flat {
            t.text_row(vec![k, v]);
        }
        t
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cols = self.headers.len();
        let mut width: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            let mut out = String::new();
            for (i, c) in cells.iter().enumerate().take(cols) {
                if i + 1 == cols {
                    out.push_str(c);
                } else {
                    out.push_str(&format!("{c:<w$}  ", w = width[i]));
                }
            }
            writeln!(f, "{}", out.trim_end())
        };
        line(f, &self.headers)?;
        for r in &self.rows {
            line(f, r)?;
        }
        Ok(())
    }
}

/// The array at `v[key]`, or nothing.
pub fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(|a| a.as_array())
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A JSON value as a table cell: strings bare, `null` as `-`, the rest as compact JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        other => out.push((
            if prefix.is_empty() {
                "value".into()
            } else {
                prefix.into()
            },
            cell(other),
        )),
    }
}

/// Writes `text` to stdout. A reader that went away (`custos … | head`) ends the command
/// quietly, as it would a C program, instead of a panic from `println!`.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`out`].
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::client::render::out(&format!("{}\n", format_args!($($t)*)))
    };
}
pub(crate) use outln;

/// Prints `v` as JSON or, for people, as the table `table` makes of it.
pub fn show(output: Output, v: &Value, table: impl FnOnce(&Value) -> Table) {
    match output {
        Output::Json => outln!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        ),
        Output::Table => out(&table(v).to_string()),
    }
}

/// `ms` since the epoch as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn time(ms: &Value) -> String {
    match ms.as_i64() {
        Some(ms) => custos_core::clock::rfc3339(ms.div_euclid(1000))
            .replacen('T', " ", 1)
            .trim_end_matches('Z')
            .to_owned(),
        None => cell(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_align_and_cells_read_plainly() {
        let mut t = Table::new(&["id", "name"]);
        t.row(&[&json!(1), &json!("alpha")]);
        t.row(&[&json!(1234), &Value::Null]);
        assert_eq!(t.to_string(), "ID    NAME\n1     alpha\n1234  -\n");
        assert_eq!(cell(&json!(["a", "b"])), "a, b");
        let f = Table::fields(&json!({"a": {"b": true}, "c": "x"})).to_string();
        assert!(f.contains("a.b    true") && f.contains("c      x"), "{f}");
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(time(&json!(0)), "1970-01-01 00:00:00");
        assert_eq!(time(&json!(951_782_400_000_i64)), "2000-02-29 00:00:00");
        assert_eq!(time(&json!(1_796_558_432_123_i64)), "2026-12-06 12:00:32");
    }
}
