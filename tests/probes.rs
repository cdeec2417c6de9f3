//! The built library carries the static probes (SystemTap SDT notes,
//! provider `traceref`): each of the seven, with its arguments and the
//! semaphore that keeps it off while no tracer is attached. The notes are
//! read from the ELF file by the small parser below, and checked again with
//! `readelf -n` when binutils is installed. That they fire is checked by
//! the C test `probes` (c-tests/probes/, bpftrace, as root).
#![cfg(all(
    target_os = "linux",
    target_pointer_width = "64",
    target_endian = "little"
))]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The probes and how many arguments each has (see src/core/probes.rs).
const PROBES: [(&str, usize); 7] = [
    ("get", 4),
    ("put", 4),
    ("release", 3),
    ("get_refused", 3),
    ("free", 2),
    ("misuse", 2),
    ("lock_order", 2),
];

/// The cdylib cargo built with this test: the library is compiled, every
/// crate type of it, into the deps/ directory this test binary is in
/// (target/<profile>/deps/, or target/<dir>/<triple>/<profile>/deps/ with
/// --target). Only `cargo build` copies it up to target/<profile>/, so the
/// copy there may be older than the sources tested.
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("the test binary is in <target>/<profile>/deps/");
    let lib = deps.join("libtraceref.so");
    assert!(
        lib.is_file(),
        "{} is missing: cargo builds the cdylib with the tests",
        lib.display()
    );
    lib
}

/// One SDT note.
#[derive(Debug)]
struct Note {
    provider: String,
    name: String,
    pc: u64,
    semaphore: u64,
    args: String,
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap()) as usize
}
fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn c_str_at(b: &[u8], at: usize) -> (String, usize) {
    let len = b[at..]
        .iter()
        .position(|&c| c == 0)
        .expect("NUL-terminated");
    (
        String::from_utf8(b[at..at + len].to_vec()).expect("UTF-8"),
        at + len + 1,
    )
}

/// The sections of an ELF64 little-endian file: name -> (address, file
/// offset, size).
fn sections(elf: &[u8]) -> BTreeMap<String, (u64, usize, usize)> {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not ELF64");
    assert_eq!(elf[5], 1, "not little-endian");
    let shoff = u64_at(elf, 0x28) as usize;
    let shentsize = u16_at(elf, 0x3A);
    let shnum = u16_at(elf, 0x3C);
    let shstrndx = u16_at(elf, 0x3E);
    let header = |i: usize| &elf[shoff + i * shentsize..shoff + (i + 1) * shentsize];
    let strtab = u64_at(header(shstrndx), 24) as usize;
    (0..shnum)
        .map(|i| {
            let h = header(i);
            let name = c_str_at(elf, strtab + u32_at(h, 0)).0;
            (
                name,
                (
                    u64_at(h, 16),
                    u64_at(h, 24) as usize,
                    u64_at(h, 32) as usize,
                ),
            )
        })
        .collect()
}

/// The SDT notes of `.note.stapsdt` (NT_STAPSDT = 3, owner "stapsdt"; the
/// descriptor is the probe's address, the base, the semaphore, then the
/// provider, name and argument strings).
fn sdt_notes(elf: &[u8], note: (u64, usize, usize)) -> Vec<Note> {
    let (_, off, size) = note;
    let b = &elf[off..off + size];
    let align4 = |n: usize| (n + 3) & !3;
    let mut notes = Vec::new();
    let mut at = 0;
    while at + 12 <= b.len() {
        let (namesz, descsz, kind) = (u32_at(b, at), u32_at(b, at + 4), u32_at(b, at + 8));
        let name_at = at + 12;
        let desc_at = name_at + align4(namesz);
        at = desc_at + align4(descsz);
        if kind != 3 || &b[name_at..name_at + namesz] != b"stapsdt\0" {
            continue;
        }
        let desc = &b[desc_at..desc_at + descsz];
        let (provider, next) = c_str_at(desc, 24);
        let (name, next) = c_str_at(desc, next);
        let (args, _) = c_str_at(desc, next);
        notes.push(Note {
            provider,
            name,
            pc: u64_at(desc, 0),
            semaphore: u64_at(desc, 16),
            args,
        });
    }
    notes
}

#[test]
fn library_has_the_probes() {
    let lib = library();
    let elf = std::fs::read(&lib).expect("read the library");
    let sections = sections(&elf);
    let note = *sections
        .get(".note.stapsdt")
        .unwrap_or_else(|| panic!("{}: no .note.stapsdt section", lib.display()));
    let (probes_addr, _, probes_size) = *sections
        .get(".probes")
        .expect("no .probes section (the semaphores)");
    let text = sections[".text"];
    let notes = sdt_notes(&elf, note);

    let mut by_name: BTreeMap<&str, Vec<&Note>> = BTreeMap::new();
    for n in &notes {
        assert_eq!(n.provider, "traceref", "a probe of another provider: {n:?}");
        by_name.entry(n.name.as_str()).or_default().push(n);
    }
    let names: Vec<&str> = by_name.keys().copied().collect();
    let mut expected: Vec<&str> = PROBES.iter().map(|p| p.0).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "the probes of provider traceref");

    for (name, nargs) in PROBES {
        let sites = &by_name[name];
        // The code may be inlined at several places: one note for each,
        // all with the probe's one semaphore.
        let sem = sites[0].semaphore;
        assert!(
            sem >= probes_addr && sem + 2 <= probes_addr + probes_size as u64,
            "{name}: semaphore {sem:#x} outside .probes: not the lazy form"
        );
        for n in sites {
            assert_eq!(n.semaphore, sem, "{name}: two semaphores");
            assert!(
                n.pc >= text.0 && n.pc < text.0 + text.2 as u64,
                "{name}: probe address {:#x} outside .text",
                n.pc
            );
            let args: Vec<&str> = n.args.split(' ').collect();
            assert_eq!(args.len(), nargs, "{name}: arguments {:?}", n.args);
            assert!(
                args.iter().all(|a| a.starts_with("-8@")),
                "{name}: arguments {:?} are not 64-bit",
                n.args
            );
        }
    }
}

/// What the README says: `readelf -n` lists them. Skipped (and said so)
/// where binutils is missing; the test above reads the notes itself.
#[test]
fn readelf_lists_the_probes() {
    let lib = library();
    let out = match Command::new("readelf").arg("-n").arg(&lib).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => panic!(
            "readelf -n {} failed: {}",
            lib.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!("SKIPPED readelf_lists_the_probes: no readelf ({e}); install binutils");
            return;
        }
    };
    let mut seen = Vec::new();
    let mut provider = None;
    for line in out.lines().map(str::trim) {
        if let Some(p) = line.strip_prefix("Provider: ") {
            provider = Some(p.to_string());
        } else if let Some(n) = line.strip_prefix("Name: ") {
            assert_eq!(provider.as_deref(), Some("traceref"), "probe {n}");
            seen.push(n.to_string());
        }
    }
    for (name, _) in PROBES {
        assert!(
            seen.iter().any(|s| s == name),
            "readelf -n does not list probe traceref:{name}"
        );
    }
}
