//! A page of JSON records to Arrow, as the HTTP extractor (and, for the
//! conversion of values, the Airtable extractor) does it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = etl_extractors::__fuzz::json_records(data);
});
