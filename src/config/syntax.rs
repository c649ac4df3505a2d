//! YAML syntax errors, reported as such and first: a document that does not
//! parse gets no semantic check (which would blame a key the parser never
//! reached), and its message names the line and column of the YAML error,
//! in the project's words, with a hint for the usual causes: a line
//! indented off by a space, a tab, an unclosed `{` or `[`, a stray `}`.

/// `Some(message)` when `text` is not well-formed YAML, with the error's
/// line and column.
pub fn check(text: &str) -> Option<(String, Option<(usize, usize)>)> {
    let e = serde_yaml::from_str::<serde_yaml::Value>(text).err()?;
    let at = e.location().map(|l| (l.line(), l.column()));
    let raw = e.to_string();
    // serde_yaml says "... at line L column C, while parsing a X at line ...":
    // the position goes in front; what it was parsing stays, briefly.
    let (what, context) = match raw.split_once(", while ") {
        Some((w, c)) => (strip_position(w), Some(c)),
        None => (strip_position(&raw), None),
    };
    let mut message = format!("YAML syntax error: {what}");
    if let Some(c) = context {
        message.push_str(&format!(" (while {c})"));
    }
    message.push_str("; ");
    message.push_str(hint(&what, context, at.and_then(|a| char_at(text, a))));
    Some((message, at))
}

fn strip_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// The character at a 1-based line and column.
fn char_at(text: &str, (line, column): (usize, usize)) -> Option<char> {
    text.lines()
        .nth(line.checked_sub(1)?)?
        .chars()
        .nth(column.checked_sub(1)?)
}

fn hint(what: &str, context: Option<&str>, found: Option<char>) -> &'static str {
    let context = context.unwrap_or("");
    if found == Some('\t') || what.contains("tab") {
        return "a tab: YAML indents with spaces only; replace the tab with spaces";
    }
    if context.contains("flow mapping") || context.contains("flow sequence") {
        return "a `{` or `[` is not closed: close it on the line where it opened, or write the entries as indented lines";
    }
    if (what.contains("did not find expected key") && found == Some('}')) || found == Some(']') {
        return "a stray `}` or `]`: remove it, or open its pair";
    }
    if what.contains("mapping values are not allowed")
        || what.contains("did not find expected key")
        || what.contains("block")
    {
        return "check the indentation of this line: a key lines up with the other keys of its mapping, and a list item's keys line up under its first one";
    }
    "check this line and the one before it"
}

#[cfg(test)]
mod tests {
    use super::check;

    fn at(text: &str) -> (String, (usize, usize)) {
        let (m, at) = check(text).expect("a syntax error");
        (m, at.expect("a position"))
    }

    #[test]
    fn the_usual_mistakes_point_at_their_line_with_a_hint() {
        let (m, pos) =
            at("routes:\n  - name: r\n    match: { path_prefix: / }\n     upstream: a\n");
        assert_eq!(pos.0, 4, "{m}");
        assert!(m.starts_with("YAML syntax error: "), "{m}");
        assert!(m.contains("indentation"), "{m}");
        let (m, pos) = at("upstreams:\n\ta: { url: http://x }\n");
        assert_eq!(pos, (2, 1), "{m}");
        assert!(m.contains("a tab"), "{m}");
        let (m, pos) = at("upstreams:\n  a: { url: http://x \nroutes: []\n");
        assert_eq!(pos.0, 3, "{m}");
        assert!(m.contains("is not closed"), "{m}");
        let (m, _) = at("upstreams:\n  a: { url: http://x }}\n");
        assert!(m.contains("stray"), "{m}");
        let (m, pos) = at("listen: 127.0.0.1:8080\n upstreams: {}\n");
        assert_eq!(pos.0, 2, "{m}");
        assert!(m.contains("indentation"), "{m}");
        assert!(check("listen: 1\nroutes: []\n").is_none());
    }
}
