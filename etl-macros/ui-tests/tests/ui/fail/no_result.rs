use etl_macros::workflow;

struct W;

#[workflow]
impl W {
    #[step]
    async fn a(&self) -> u64 { 1 }

    #[step]
    async fn b(&self) {}

    #[step]
    async fn c(&self, a: u64) -> etl::Result<u64> { Ok(a) }
}

fn main() {}
