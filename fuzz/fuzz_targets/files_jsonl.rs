//! JSON Lines: schema inference (key order, big integers), reading.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::read_file("t.jsonl", data);
});
