use etl_macros::workflow;

struct W;

#[workflow]
impl W {
    #[step]
    fn a(&self) -> etl::Result<u64> { Ok(1) }

    #[step]
    async fn b(self) -> etl::Result<u64> { Ok(1) }
}

fn main() {}
