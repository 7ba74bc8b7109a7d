//! `SampleAirtable`: the sample shop base served on 127.0.0.1 by a local
//! server that speaks Airtable's API, so examples and tests run with no
//! credentials and nothing leaves the machine.

use etl_airtable_server::{AirtableServer, Base, ServerOptions};
use pyo3::prelude::*;

/// The built-in sample base (customers, products, orders), served until
/// `stop()` or the end of its `with` block.
#[pyclass(module = "etl")]
pub(crate) struct SampleAirtable {
    server: Option<AirtableServer>,
    url: String,
    base_id: String,
    token: String,
}

#[pymethods]
impl SampleAirtable {
    /// `rate_limit`: requests a second before the server answers 429, as
    /// Airtable does (5); `None` for none.
    #[new]
    #[pyo3(signature = (*, rate_limit = Some(5)))]
    fn new(py: Python<'_>, rate_limit: Option<u32>) -> PyResult<Self> {
        let options = ServerOptions::default().with_rate_limit(rate_limit);
        let server = crate::runtime::wait(py, async move {
            AirtableServer::start_with(Base::sample(), options).await
        })?
        .map_err(|e| {
            crate::errors::Error::new_err(format!("starting the sample base's server: {e}"))
        })?;
        Ok(SampleAirtable {
            url: server.url(),
            base_id: server.base_id(),
            token: server.token().to_owned(),
            server: Some(server),
        })
    }

    /// The server's address (`AIRTABLE_API_URL`).
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The base's id (`AIRTABLE_BASE_ID`).
    #[getter]
    fn base_id(&self) -> &str {
        &self.base_id
    }

    /// The token it accepts (`AIRTABLE_TOKEN`).
    #[getter]
    fn token(&self) -> &str {
        &self.token
    }

    /// An `AirtableExtractor` of the sample base.
    fn extractor(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let class = py.import("etl._etl")?.getattr("AirtableExtractor")?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("token", &self.token)?;
        kwargs.set_item("api_url", &self.url)?;
        Ok(class.call((&self.base_id,), Some(&kwargs))?.unbind())
    }

    /// Stops serving.
    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            // Dropped on the runtime: its shutdown is sent there.
            crate::runtime::runtime().spawn(async move { drop(server) });
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, pyo3::types::PyTuple>) {
        self.stop();
    }

    fn __repr__(&self) -> String {
        format!("<etl.SampleAirtable {} at {}>", self.base_id, self.url)
    }
}

/// Adds the class to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SampleAirtable>()?;
    Ok(())
}
