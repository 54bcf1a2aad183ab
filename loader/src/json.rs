//! The `hopboot probe --json` format, written by hand (a few lines do not
//! justify a serde dependency in a PID 1 binary).

use crate::discover::Discovery;
use std::fmt::Write;

/// Escapes a string as a JSON string literal.
pub fn string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Renders a discovery as `{"entries": [...], "errors": [...]}`, one entry per line.
pub fn discovery(d: &Discovery) -> String {
    let mut o = String::from("{\"entries\": [");
    for (i, e) in d.entries.iter().enumerate() {
        let initrds: Vec<String> = e.initrds.iter().map(|s| string(s)).collect();
        let _ = write!(
            o,
            "{}\n  {{\"title\": {}, \"source\": {}, \"kernel\": {}, \"initrds\": [{}], \"cmdline\": {}, \"default\": {}, \"device\": {}, \"id\": {}}}",
            if i == 0 { "" } else { "," },
            string(&e.title),
            string(e.format.as_str()),
            string(&e.kernel),
            initrds.join(", "),
            string(&e.cmdline),
            e.default,
            string(&e.device),
            string(&e.id)
        );
    }
    o.push_str(if d.entries.is_empty() {
        "],\n \"errors\": ["
    } else {
        "\n ],\n \"errors\": ["
    });
    for (i, e) in d.errors.iter().enumerate() {
        let _ = write!(
            o,
            "{}\n  {{\"path\": {}, \"message\": {}}}",
            if i == 0 { "" } else { "," },
            string(&e.path),
            string(&e.message())
        );
    }
    o.push_str(if d.errors.is_empty() { "]}\n" } else { "\n ]}\n" });
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
