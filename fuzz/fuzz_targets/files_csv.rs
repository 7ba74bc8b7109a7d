//! CSV and TSV: schema inference, quoting, reading.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The first byte picks the format, the rest is the file.
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let name = if pick % 2 == 0 { "t.csv" } else { "t.tsv" };
    common::read_file(name, file);
});
