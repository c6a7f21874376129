//! Every input the fuzzers ever kept (`fuzz/corpus/<target>/`, grown by
//! `scripts/fuzz`), replayed through the parser its target fuzzes, on stable
//! Rust: an input that once crashed a parser stays fixed.

use std::path::Path;
use tencentcloud_partner_exporter::fuzzing::{TARGETS, remove_scratch};

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"))
}

#[test]
fn every_fuzz_target_has_a_parser_to_replay() {
    let mut targets: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter_map(|name| name.strip_suffix(".rs").map(str::to_owned))
        .collect();
    targets.sort();
    let mut replayed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    replayed.sort();
    assert_eq!(targets, replayed);
}

#[test]
fn every_corpus_input_parses_without_a_panic() {
    for (target, parse) in TARGETS {
        let corpus = fuzz_dir().join("corpus").join(target);
        let inputs: Vec<_> = std::fs::read_dir(&corpus)
            .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        assert!(!inputs.is_empty(), "the corpus of {target} is empty");
        for input in inputs {
            let data = std::fs::read(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
            if std::panic::catch_unwind(|| parse(&data)).is_err() {
                panic!("{target} panics on {}", input.display());
            }
        }
    }
    remove_scratch();
}
