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
    let tests: String = ["bt_bad_input.c", "relay_bad_input.c", "c_kinds_bad_input.c"]
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

/// The header's opening comment: everything before the include guard.
fn preamble(header: &str) -> &str {
    let end = header.find("#ifndef TRACEREF_H").expect("no include guard");
    &header[..end]
}

/// Lower case, with comment markers gone and every run of white space made
/// one space: phrases are found whatever the line breaks.
fn flatten(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("/**").unwrap_or(l);
            let l = l.strip_prefix("*/").unwrap_or(l);
            l.strip_prefix('*').unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The name a declaration line declares: a function, a function pointer
/// type, a structure or a macro.
fn declared_name(line: &str) -> Option<String> {
    let ident = |s: &str| {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    if let Some(rest) = line.strip_prefix("#define ") {
        return Some(ident(rest));
    }
    if let Some(rest) = line.strip_prefix("struct ") {
        if line.ends_with(';') && !line.contains('(') || line.ends_with('{') {
            return Some(ident(rest));
        }
    }
    if line.starts_with("typedef") {
        let at = line.find("(*")?;
        return Some(ident(&line[at + 2..]));
    }
    let open = line.find('(')?;
    Some(line[..open].rsplit([' ', '*']).next()?.to_string())
}

/// Every documented declaration of the header, as (name, flattened doc).
fn docs(header: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let mut lines = header.lines();
    while let Some(line) = lines.next() {
        if line != "/**" {
            continue;
        }
        let mut block = String::new();
        for l in lines.by_ref() {
            if l.trim() == "*/" {
                break;
            }
            block.push_str(l);
            block.push('\n');
        }
        let decl = lines.by_ref().find(|l| !l.trim().is_empty()).unwrap_or("");
        if let Some(name) = declared_name(decl) {
            out.insert(name, flatten(&block));
        }
    }
    out
}

fn header_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/traceref.h"))
        .expect("include/traceref.h is missing")
}

/// The opening comment says that every function may be called from any
/// thread, and defines the terms the functions' comments rely on.
#[test]
fn preamble_states_the_thread_rule_and_defines_the_terms() {
    let header = header_text();
    let pre = flatten(preamble(&header));
    let mut missing = Vec::new();
    for phrase in [
        "every function may be called from any thread",
        "owner's reference:",
        "borrowed pointer:",
        "read-side section:",
        "grace period:",
        "count 0:",
    ] {
        if !pre.contains(phrase) {
            missing.push(phrase);
        }
    }
    assert!(
        missing.is_empty(),
        "the header's opening comment (cbindgen.toml `header`) lacks: {missing:?}"
    );
}

/// Every function says what its caller must hold (a reference, a lock) or
/// give up, or that it may be called from any thread holding nothing.
#[test]
fn every_function_says_what_its_caller_must_hold() {
    let header = header_text();
    let docs = docs(&header);
    const CONTEXT: [&str; 3] = ["any thread", "caller must hold", "caller gives up"];
    let mut missing = Vec::new();
    for (name, _) in prototypes(&header) {
        match docs.get(&name) {
            None => missing.push(format!("{name}: no comment")),
            Some(d) if !CONTEXT.iter().any(|p| d.contains(p)) => missing.push(name),
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "these functions' comments say none of {CONTEXT:?}:\n{}",
        missing.join("\n")
    );
}

/// The contracts a C programmer found missing or unclear, one line each:
/// the comment of `name` must contain every phrase.
#[test]
fn the_contracts_readers_asked_for_are_stated() {
    const CONTRACTS: &[(&str, &[&str])] = &[
        // May it put other objects? Which thread runs it?
        (
            "bt_object_release_func",
            &[
                "on the thread whose",
                "objects of other trees",
                "objects of its own tree",
            ],
        ),
        // May its result be cast to the CTF-IR type?
        ("bt_object_get_parent", &["cast"]),
        // Relay objects stay counted until their grace period ends.
        (
            "traceref_live_objects",
            &["grace period", "traceref_reclaim_barrier()"],
        ),
        // Calling context, concurrency, snapshot or not.
        (
            "traceref_dump_dot",
            &["any thread", "not a snapshot", "while it draws"],
        ),
        // What the caller holds; when NULL.
        (
            "relay_ctf_trace_get_viewer_metadata_stream",
            &["caller must hold a reference on `trace`", "null when"],
        ),
        // May the caller hold the stream's lock?
        (
            "relay_stream_close",
            &[
                "this thread holds it",
                "may be called holding any relay lock",
            ],
        ),
        // After a pending result: who holds the owner's reference, may the
        // caller keep using the pointer?
        (
            "relay_stream_try_close",
            &[
                "caller gives up the owner's reference",
                "the stream keeps it",
                "only if it holds a reference of its own",
            ],
        ),
        // Does the library take the lock when the caller holds only a
        // reference?
        (
            "relay_index_try_flush",
            &["takes the stream's lock", "waits for it"],
        ),
        (
            "relay_viewer_stream_close",
            &["caller gives up the owner's reference"],
        ),
        (
            "relay_connection_close",
            &["caller gives up the owner's reference"],
        ),
        (
            "relay_viewer_session_destroy",
            &["read-side section", "owned by a connection"],
        ),
        (
            "relay_connection_set_viewer_session",
            &["owned by another connection"],
        ),
        // Units of live_timer, meaning of major and minor.
        (
            "relay_session_create",
            &["microseconds", "protocol version"],
        ),
        // May it be called holding the session's lock? What does it take?
        (
            "relay_viewer_session_close_one_session",
            &[
                "caller must hold `vs`",
                "takes none of the relay locks",
                "the lock of `session` included",
                "nothing closed",
            ],
        ),
        // The walks: what each visits, when it checks, what the caller holds.
        (
            "relay_session_for_each_ctf_trace",
            &[
                "get succeeds when its turn comes",
                "caller must hold a reference on `session`",
            ],
        ),
        (
            "relay_ctf_trace_for_each_stream",
            &[
                "not closed when its turn comes",
                "caller must hold a reference on `trace`",
            ],
        ),
        (
            "relay_session_for_each_viewer_stream",
            &[
                "whether that stream is closed or not",
                "caller must hold a reference on `session`",
            ],
        ),
        (
            "relay_connection_table_for_each",
            &["reads `table` only when it starts", "read-side section"],
        ),
        (
            "relay_viewer_session_for_each_session",
            &[
                "attached to `vs` when the walk starts",
                "caller must hold `vs`",
            ],
        ),
        // Every lookup by id states its calling context, not one of them.
        ("relay_session_get_by_id", &["takes no lock", "any thread"]),
        ("relay_stream_get_by_id", &["takes no lock", "any thread"]),
        (
            "relay_viewer_stream_get_by_id",
            &["takes no lock", "any thread"],
        ),
    ];
    let header = header_text();
    let docs = docs(&header);
    let mut missing = Vec::new();
    for (name, phrases) in CONTRACTS {
        let Some(doc) = docs.get(*name) else {
            missing.push(format!("{name}: no comment"));
            continue;
        };
        for p in *phrases {
            if !doc.contains(p) {
                missing.push(format!("{name}: \"{p}\""));
            }
        }
    }
    // A term no comment defines.
    for (name, doc) in &docs {
        if doc.contains("owned elsewhere") || doc.contains("any calling context") {
            missing.push(format!(
                "{name}: undefined \"owned elsewhere\" or \"any calling context\""
            ));
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "missing from the header:\n{}",
        missing.join("\n")
    );
}
