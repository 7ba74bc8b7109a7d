//! The HTTP extractor's TOML config: parsing, validation, and errors that
//! never quote a secret.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A token the config may hold: an error must never show it.
    const SECRET: &str = "fuzz-secret-token-7f3a";
    let text = text.replace("SECRET", SECRET);
    if let Err(e) = etl_extractors::HttpConfig::from_toml(&text) {
        let message = e.to_string();
        assert!(!message.contains(SECRET), "a config error shows the secret: {message}");
    }
});
