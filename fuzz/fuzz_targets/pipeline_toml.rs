//! Pipeline files (`etl-pipeline`): reading every section, every problem at
//! a line and column inside the text, and errors that never quote a secret
//! written where a `${ENV}` reference belongs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A literal token the file may hold: a problem must never show it.
    const SECRET: &str = "fuzz-secret-token-7f3a";
    let text = text.replace("SECRET", SECRET);
    if let Err(problems) = etl_pipeline::Pipeline::parse(&text, "fuzz.toml") {
        let lines = text.split('\n').count();
        for p in &problems.problems {
            assert!(p.line >= 1 && p.line <= lines, "line {} of {lines}", p.line);
            assert!(p.column >= 1, "column {}", p.column);
            assert!(!p.message.contains(SECRET), "a problem shows the secret: {}", p.message);
        }
    }
});
