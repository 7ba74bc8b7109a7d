use etl_macros::workflow;

struct W;

#[workflow]
impl W {
    #[step(timeout = "2 minutes")]
    async fn a(&self) -> etl::Result<u64> { Ok(1) }

    #[step(timeout = "0s", backoff = "exponential soon")]
    async fn b(&self) -> etl::Result<u64> { Ok(1) }
}

fn main() {}
