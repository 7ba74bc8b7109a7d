use etl_macros::step;

struct W;

impl W {
    #[step]
    async fn a(&self) -> etl::Result<u64> { Ok(1) }
}

fn main() {}
