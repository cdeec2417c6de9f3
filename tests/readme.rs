//! What the README owes its reader, checked against the files it describes:
//! how a consumer finds an installed copy, the static link, where the demo
//! writes its pictures, which C tests valgrind skips, what the benchmark's
//! smoke mode checks. (Its C examples are compiled and run by ctest's
//! `readme_snippets`, c-tests/readme/run-readme-snippets.sh.)

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The section of `text` under the heading line `heading`, up to the next
/// heading of the same level.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no section \"{heading}\""));
    let body = &text[start + heading.len() + 2..];
    let level = heading.split(' ').next().unwrap();
    match body.find(&format!("\n{level} ")) {
        Some(end) => &body[..end],
        None => body,
    }
}

/// `text` with every run of white space made one space.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn missing_from(text: &str, phrases: &[&str]) -> Vec<String> {
    let text = flat(text);
    phrases
        .iter()
        .filter(|p| !text.contains(&flat(p)))
        .map(|p| p.to_string())
        .collect()
}

/// A consumer of a non-system prefix is told how its build finds the
/// library (CMake, pkg-config) and how the program finds it at run time.
#[test]
fn install_says_how_a_consumer_finds_a_prefix() {
    let readme = read("README.md");
    let install = section(&readme, "## Install and use from another project");
    let missing = missing_from(
        install,
        &[
            "-DCMAKE_PREFIX_PATH=",
            "PKG_CONFIG_PATH=",
            "-Wl,-rpath,",
            "LD_LIBRARY_PATH=",
            "cc -static app.c $(pkg-config --cflags --static --libs traceref)",
        ],
    );
    assert!(
        missing.is_empty(),
        "the README's install section lacks: {missing:?}"
    );
}

/// The system libraries of the static library: what install.sh writes into
/// traceref.pc's Libs.private (and the CMake link interface) by default is
/// what the README lists, and does not break a fully static link.
#[test]
fn static_link_libraries_are_the_ones_the_readme_lists() {
    let install = read("scripts/install.sh");
    let line = install
        .lines()
        .find(|l| l.starts_with("native_libs=${TRACEREF_NATIVE_STATIC_LIBS:-"))
        .expect("scripts/install.sh: no default native_libs line");
    let libs = line
        .trim_start_matches("native_libs=${TRACEREF_NATIVE_STATIC_LIBS:-")
        .trim_end_matches('}');
    assert!(
        !libs.split(' ').any(|l| l == "-lgcc_s"),
        "scripts/install.sh lists -lgcc_s in Libs.private: `cc -static` then fails \
         with `cannot find -lgcc_s` (the compiler driver links the unwinder itself)"
    );
    let readme = read("README.md");
    let install_section = section(&readme, "## Install and use from another project");
    let listed = format!("`Libs.private`: `{libs}`");
    assert!(
        flat(install_section).contains(&listed),
        "the README's install section does not say {listed}"
    );
    let pc = read("cmake/traceref.pc.in");
    assert!(
        pc.lines()
            .any(|l| l == "Libs.private: @TRACEREF_PC_STATIC_LIBS@"),
        "cmake/traceref.pc.in: Libs.private is not the list install.sh fills in"
    );
}

/// Every picture path that scripts/demo.sh announces is named by the README.
#[test]
fn the_readme_says_where_the_demo_writes_its_pictures() {
    let demo = read("scripts/demo.sh");
    let paths: Vec<&str> = demo
        .split(|c: char| c.is_whitespace() || c == '"' || c == '(')
        .filter(|w| w.starts_with("build/pictures/step-"))
        .collect();
    assert!(
        !paths.is_empty(),
        "scripts/demo.sh announces no picture path"
    );
    let readme = read("README.md");
    let pictures = section(&readme, "## The walkthrough, in pictures");
    let missing = missing_from(pictures, &paths);
    assert!(
        missing.is_empty(),
        "the README's walkthrough section does not name {missing:?}, where \
         scripts/demo.sh writes the pictures"
    );
}

/// The C tests that do not run under valgrind: marked NO_VALGRIND, or
/// registered only when TRACEREF_TEST_VALGRIND is off.
fn tests_valgrind_skips() -> Vec<String> {
    let mut names = Vec::new();
    for file in ["c-tests/CMakeLists.txt", "c-tests/relay-tests.cmake"] {
        let text = read(file);
        let mut outside_valgrind = 0;
        for line in text.lines().map(str::trim) {
            if line.starts_with("if(") && line.contains("NOT TRACEREF_TEST_VALGRIND") {
                outside_valgrind += 1;
            } else if outside_valgrind > 0 && line.starts_with("if(") {
                outside_valgrind += 1;
            } else if outside_valgrind > 0 && line.starts_with("endif(") {
                outside_valgrind -= 1;
            }
            let name = if let Some(rest) = line.strip_prefix("traceref_add_c_test(") {
                (line.contains("NO_VALGRIND") || outside_valgrind > 0)
                    .then(|| rest.split_whitespace().next().unwrap_or(""))
            } else if let Some(rest) = line.strip_prefix("add_test(NAME ") {
                (outside_valgrind > 0).then(|| rest.split_whitespace().next().unwrap_or(""))
            } else {
                None
            };
            if let Some(n) = name {
                names.push(n.to_string());
            }
        }
    }
    names
}

/// The README's valgrind step names every C test that valgrind skips.
#[test]
fn the_readme_names_the_tests_valgrind_skips() {
    let skipped = tests_valgrind_skips();
    assert!(
        skipped.len() >= 3,
        "found only {skipped:?} skipped under valgrind: is the CMake parsing stale?"
    );
    let readme = read("README.md");
    let testing = section(&readme, "## Testing");
    let start = testing
        .find("\n4. valgrind")
        .expect("the README's testing section has no \"4. valgrind\" step");
    let step = &testing[start..];
    let step = &step[..step.find("\n5. ").unwrap_or(step.len())];
    let missing: Vec<&String> = skipped
        .iter()
        .filter(|n| !step.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "the README's valgrind step does not name {missing:?} (not run under valgrind)"
    );
}

/// The smoke mode's tables print "NO" in their "met" column: the README
/// says that the smoke mode checks that the benchmark runs, not its targets.
#[test]
fn the_readme_says_what_the_benchmark_smoke_mode_checks() {
    let bench = read("bench/bench.c");
    assert!(
        bench.contains("\"NO\"") && bench.contains("bench: %d passed, %d failed"),
        "bench/bench.c no longer prints NO rows or its tally: update this test"
    );
    let readme = read("README.md");
    let benchmarks = section(&readme, "## Benchmarks");
    let missing = missing_from(
        benchmarks,
        &[
            "bench/run.sh --smoke",
            "`bench: N passed, 0 failed`",
            "does not check the performance targets",
            "`NO`",
        ],
    );
    assert!(
        missing.is_empty(),
        "the README's benchmarks section lacks: {missing:?}"
    );
}
