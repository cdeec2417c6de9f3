//! The checked-in header must be exactly what cbindgen generates.

#[test]
fn checked_in_header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/traceref.h"));
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/traceref.h"))
            .expect("include/traceref.h is missing");
    assert!(
        generated == checked_in,
        "include/traceref.h differs from what cbindgen generates; \
         regenerate it with `TRACEREF_WRITE_HEADER=1 cargo build` and commit it"
    );
}

/// The header's functions, each as (name, parameter list).
fn prototypes(header: &str) -> Vec<(String, String)> {
    header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with("typedef"))
        .filter(|l| l.ends_with(");"))
        .filter_map(|l| {
            let open = l.find('(')?;
            let name = l[..open].rsplit([' ', '*']).next()?.to_string();
            Some((name, l[open + 1..l.len() - 2].to_string()))
        })
        .collect()
}

/// The arguments (split at top-level commas, trimmed) of every call of
/// `name` in `text`.
fn calls(text: &str, name: &str) -> Vec<Vec<String>> {
    let pat = format!("{name}(");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(&pat) {
        let start = from + at;
        from = start + pat.len();
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let mut depth = 1;
        let mut args = vec![String::new()];
        for c in text[from..].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 1 => {
                    args.push(String::new());
                    continue;
                }
                _ => {}
            }
            if depth == 0 {
                out.push(args.iter().map(|a| a.trim().to_string()).collect());
                break;
            }
            args.last_mut().unwrap().push(c);
        }
    }
    out
}

/// Every pointer parameter of every exported function is passed NULL, one
/// at a time, by the bad-input tests: a new function cannot skip them.
#[test]
fn every_pointer_parameter_is_tested_with_null() {
    let root = env!("CARGO_MANIFEST_DIR");
    let header = std::fs::read_to_string(format!("{root}/include/traceref.h")).unwrap();
    let tests: String = ["bt_bad_input.c", "relay_bad_input.c"]
        .iter()
        .map(|f| std::fs::read_to_string(format!("{root}/c-tests/unit/{f}")).unwrap())
        .collect();
    let mut missing = Vec::new();
    let protos = prototypes(&header);
    assert!(
        protos.len() > 100,
        "only {} prototypes parsed",
        protos.len()
    );
    for (name, params) in protos {
        let calls = calls(&tests, &name);
        for (i, p) in params.split(',').map(str::trim).enumerate() {
            if !(p.contains('*') || p.contains("_func ")) {
                continue;
            }
            if !calls
                .iter()
                .any(|args| args.get(i).is_some_and(|a| a == "NULL"))
            {
                missing.push(format!("{name}: parameter {} ({p})", i + 1));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "never called with NULL by c-tests/unit/*_bad_input.c:\n{}",
        missing.join("\n")
    );
}
